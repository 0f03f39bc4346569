"""Procedural aortic arches (types I, II, III and bovine) with their supra-aortic branches.

Frame: patient LPS (+x left, +y posterior, +z superior), millimetres; the centerline apex of the
arch is at z ≈ 0 and the mid-sagittal plane at x = 0.

Layout. The root branch ``aorta`` starts at the access end, 200 mm below the arch apex in the
descending aorta (where a wire from a femoral access arrives), runs up the descending aorta
(posterior, left of the spine), over the arch (apex superior; the arch runs from
anterior-right to posterior-left, bowed to the left of the trachea) and down the ascending aorta
to the aortic root (anterior, right of the midline). Branches: ``BCT`` (→ ``RCCA`` → ``RICA``,
``RECA``; → ``RSA``), ``LCCA`` (→ ``LICA``, ``LECA``), ``LSA`` (→ ``LVA``). In a bovine arch the
``LCCA`` arises from the ``BCT``. Curves are interpolating cubic splines through anatomical
control points, sampled every ~1 mm, radii tapering along each branch.

Arch type. The depth of the BCT origin below the arch apex, in multiples of the LCCA diameter
(< 1 type I, 1–2 type II, > 2 type III; Madhwal et al., J Invasive Cardiol 20 (2008) 687; the
diameter-multiple form as in Demertzis et al., Eur J Cardiothorac Surg 38 (2010) 452). The depth
is measured by :func:`classify_arch` from the geometry: the top of the arch's outer wall
(max over aortic points of z + r) minus the z where the BCT centerline leaves the aortic lumen.

Drawn diameters (normal, truncated at ±2 SD; CTA series, Tapia et al., *Three-dimensional
analysis of the aortic arch*, and the DESIGN reference values): ascending aorta 34.6 ± 4.7 mm,
BCT 12.5 ± 2.0, LCCA 8.3 ± 1.5, LSA 10.4 ± 2.2 mm; RCCA = LCCA × N(1, 0.05); ICA 0.72 and ECA
0.60 × CCA (Schulz & Rothwell, Stroke 32 (2001) 2522: ICA 5–6 mm, ECA 4–5 mm, CCA 7–8 mm);
vertebral artery 3.6 ± 0.5 mm; descending thoracic aorta 0.76 and at the access 0.66 × the
ascending diameter (Hager et al., J Thorac Cardiovasc Surg 123 (2002) 1060). Prevalence of the
variants (not drawn here, chosen by ``arch_type``): three-vessel arch 77–87 %, bovine 7–16 %,
types I/II/III about 61/34/5 %.

Lumen labels: ``aorta`` (label 1) is every voxel inside the aorta tube; ``arteries`` (label 2)
the supra-aortic branches outside it. Both have the material ``blood``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._anatomy import Anatomy
from ._sdf import SDFGrid, tube_sdf
from ._structures import label_of
from ._thorax import (
    ThoraxLayout,
    capsule_sdf_on_grid,
    smooth_curve,
    synthesize_thorax_ct,
)
from ._vessel_tree import VesselBranch, VesselTree

__all__ = ["generate_aortic_arch", "classify_arch", "ARCH_TYPES", "GENERATOR_VERSION"]

#: Accepted values of ``arch_type``.
ARCH_TYPES = ("I", "II", "III", "bovine")
#: Bumped whenever generated geometry or images change (the built-in cache keys on it).
GENERATOR_VERSION = "1"

# (min, max) depth of the BCT origin below the apex, in LCCA diameters, per type
_DEPTH_RANGE = {"I": (0.25, 0.75), "II": (1.25, 1.75), "III": (2.3, 2.9), "bovine": (0.3, 1.6)}
# arch height (centerline, from the ascending/descending top points to the apex): mean, sd
_HEIGHT = {"I": (30.0, 3.0), "II": (36.0, 3.0), "III": (46.0, 3.0), "bovine": (34.0, 3.0)}


def _tn(rng, mean, sd, k=2.0):
    """Normal draw truncated at ±k SD (by clipping)."""
    return float(np.clip(rng.normal(mean, sd), mean - k * sd, mean + k * sd))


def generate_aortic_arch(
    arch_type: str = "I",
    *,
    seed: int,
    voxel_size: float = 1.25,
    sdf_spacing: float = 0.5,
    with_ct: bool = True,
) -> Anatomy:
    """Generate an aortic arch anatomy (vessel tree, lumen SDF, thorax CT and labels).

    Parameters
    ----------
    arch_type : {"I", "II", "III", "bovine"}, default: "I"
        Arch type by the BCT origin depth below the apex (< 1, 1–2, > 2 LCCA diameters); a
        ``"bovine"`` arch has its LCCA arising from the BCT (depth drawn in 0.3–1.6 diameters).
    seed : int
        Seed of every drawn parameter; the result is identical for the same arguments.
    voxel_size : float, default: 1.25
        CT and label voxel size (mm, isotropic).
    sdf_spacing : float, default: 0.5
        Lumen SDF grid spacing (mm); the SDF is exact within 5 mm of the wall.
    with_ct : bool, default: True
        Build the thorax CT and label map (the slow part). Without it the CT is a 1-voxel air
        placeholder, for geometry-only uses.

    Returns
    -------
    Anatomy
        Named ``f"arch-{arch_type}"``; ``vessel_tree`` rooted at ``aorta`` (access end first),
        ``sdf`` the exact lumen SDF, ``landmarks`` (``access``, ``arch_apex``, ``aortic_root``,
        ``BCT_origin`` ...), ``targets`` (the distal end of every branch, and
        ``<branch>_origin`` for every branch), ``meta`` with the generator name, version,
        ``arch_type``, ``seed`` and all drawn parameters (mm).

    Raises
    ------
    ValueError
        For an unknown ``arch_type`` or non-positive sizes.

    Examples
    --------
    >>> a = generate_aortic_arch("II", seed=1, with_ct=False)
    >>> classify_arch(a.vessel_tree)["type"]
    'II'
    """
    if arch_type not in ARCH_TYPES:
        import difflib

        close = difflib.get_close_matches(str(arch_type), ARCH_TYPES, n=2)
        raise ValueError(
            f"unknown arch_type {arch_type!r}; expected one of {list(ARCH_TYPES)}"
            + (f". Did you mean {close}?" if close else "")
        )
    if not (voxel_size > 0 and sdf_spacing > 0):
        raise ValueError(
            f"`voxel_size` and `sdf_spacing` must be > 0 mm, got {voxel_size}, {sdf_spacing}"
        )
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")
    rng = np.random.default_rng([int(seed), ARCH_TYPES.index(arch_type)])
    tree, params = _build_tree(arch_type, rng)

    # lumen SDF (exact within margin of the wall)
    lines = [b.points for b in tree]
    radii = [b.radii for b in tree]
    sdf = _lumen_sdf(lines, radii, spacing=sdf_spacing)

    landmarks, targets = _landmarks_targets(tree)
    meta = {
        "generator": "igtwin.anatomies.generate_aortic_arch",
        "generator_version": GENERATOR_VERSION,
        "arch_type": arch_type,
        "seed": int(seed),
        "voxel_size_mm": float(voxel_size),
        "sdf_spacing_mm": float(sdf_spacing),
        "params": params,
        "classification": classify_arch(tree),
        "lumen_labels": {"aorta": label_of("aorta"), "arteries": label_of("arteries")},
    }
    layout = ThoraxLayout.random(np.random.default_rng([int(seed), 99]))
    layout = _layout_for_arch(layout, tree)
    meta["thorax_layout"] = layout.to_dict()

    if with_ct:
        ct, labels, structures, affine = _arch_volumes(tree, layout, voxel_size, int(seed))
    else:
        ct = np.full((1, 1, 1), -1000, np.int16)
        labels = np.zeros((1, 1, 1), np.uint8)
        structures = {}
        affine = np.diag([voxel_size, voxel_size, voxel_size, 1.0])
    return Anatomy(
        name=f"arch-{arch_type}",
        ct_hu=ct,
        labels=labels,
        affine=affine,
        structures=structures,
        vessel_tree=tree,
        sdf=sdf,
        landmarks=landmarks,
        targets=targets,
        meta=meta,
    )


# ----------------------------------------------------------------------------- geometry
def _build_tree(arch_type: str, rng: np.random.Generator) -> tuple[VesselTree, dict]:
    d_asc = _tn(rng, 34.6, 4.7)
    d_bct = _tn(rng, 12.5, 2.0)
    d_lcca = _tn(rng, 8.3, 1.5)
    d_lsa = _tn(rng, 10.4, 2.2)
    d_rcca = d_lcca * _tn(rng, 1.0, 0.05)
    d_rsa = float(np.clip(0.9 * d_lsa, 7.0, 12.5))
    d_lva = _tn(rng, 3.6, 0.5)
    width = _tn(rng, 72.0, 5.0)
    height = _tn(rng, *_HEIGHT[arch_type])
    lo, hi = _DEPTH_RANGE[arch_type]
    depth_k = float(rng.uniform(lo, hi))
    theta = np.deg2rad(_tn(rng, 33.0, 5.0))
    bow = _tn(rng, 10.0, 2.0)
    desc_xy = np.array([28.0 + _tn(rng, 0, 2.0), 32.0 + _tn(rng, 0, 2.0)])
    gap1 = _tn(rng, 14.0, 2.0)  # BCT → LCCA origins along the centerline (mm)
    gap2 = _tn(rng, 13.0, 2.0)  # LCCA → LSA
    bct_len = _tn(rng, 30.0, 4.0)  # outside the aortic wall
    z_bif = _tn(rng, 104.0, 6.0)  # carotid bifurcation height above the apex
    z_bif_r = z_bif + _tn(rng, 0.0, 4.0)
    asc_drop = _tn(rng, 42.0, 4.0)
    access_depth = 200.0

    # arch plane: u from ascending to descending (left, posterior); n bows left-anterior
    u = np.array([np.sin(theta), np.cos(theta), 0.0])
    n = np.array([np.cos(theta), -np.sin(theta), 0.0])
    D = np.array([desc_xy[0], desc_xy[1], -height])
    A = D - width * u
    Mid = 0.5 * (A + D)
    phi = np.linspace(0.0, np.pi, 9)
    arch_pts = (
        Mid[None]
        + ((width / 2) * np.cos(phi))[:, None] * u[None]
        + (bow * np.sin(phi))[:, None] * n[None]
        + (height * np.sin(phi))[:, None] * np.array([0, 0, 1.0])[None]
    )
    access = np.array([D[0] - 22.0, D[1] - 16.0, -access_depth])
    desc = np.array(
        [
            access,
            [D[0] - 14.0, D[1] - 10.0, -access_depth + 70.0],
            [D[0] - 2.0, D[1] - 1.0, -height - 55.0],
        ]
    )
    root = A + np.array([10.0, 10.0, -asc_drop])
    asc = np.array([A + np.array([3.0, 2.0, -asc_drop * 0.5]), root])
    ctrl = np.vstack([desc, arch_pts, asc])
    r_asc = d_asc / 2
    rad_ctrl = np.concatenate(
        [
            [0.66 * r_asc, 0.71 * r_asc, 0.76 * r_asc],
            np.interp(phi, [0, np.pi / 2, np.pi], [0.78 * r_asc, 0.86 * r_asc, 0.97 * r_asc]),
            [r_asc, 1.02 * r_asc],
        ]
    )
    aorta, ar = smooth_curve(ctrl, step=1.0, values=rad_ctrl)
    i_apex = int(np.argmax(aorta[:, 2]))

    # BCT origin: on the ascending side, at the requested depth below the apex
    target_depth = depth_k * d_lcca
    outer_top = float(np.max(aorta[:, 2] + ar))

    center = np.array([Mid[0], Mid[1], -height])
    up_right = np.array([-0.55, 0.08, 0.83]) / np.linalg.norm([-0.55, 0.08, 0.83])

    def takeoff(i):
        """Point just outside the aortic wall at index i, along its outward normal (+ up)."""
        t = aorta[min(i + 1, len(aorta) - 1)] - aorta[max(i - 1, 0)]
        t /= np.linalg.norm(t)
        out = aorta[i] - center
        out -= (out @ t) * t
        out /= np.linalg.norm(out)
        d0 = out + 0.35 * np.array([0.0, 0.0, 1.0])
        d0 /= np.linalg.norm(d0)
        return aorta[i] + (ar[i] + 3.0) * d0

    def bct_from(i):
        p = aorta[i]
        q = takeoff(i)
        c = np.array([p, q, q + 0.4 * bct_len * up_right, q + bct_len * up_right])
        pts, _ = smooth_curve(c, step=1.0)
        return pts

    best, best_err = None, np.inf
    for i in range(i_apex, len(aorta)):
        if aorta[i, 2] < -height - 5:
            break
        pts = bct_from(i)
        z_exit = _exit_z(pts, aorta, ar)
        err = abs((outer_top - z_exit) - target_depth)
        if err < best_err:
            best, best_err = i, err
    i_bct = int(best)
    bct = bct_from(i_bct)
    r_bct = d_bct / 2
    bct_r = np.linspace(r_bct, 0.92 * r_bct, len(bct))
    E = bct[-1]

    branches = [VesselBranch("aorta", aorta, ar)]
    branches.append(VesselBranch("BCT", bct, bct_r, parent="aorta", parent_index=i_bct))

    def vessel(name, ctrl_pts, r0, r1, parent, pidx):
        pts, _ = smooth_curve(np.asarray(ctrl_pts, float), step=1.0)
        rr = np.linspace(r0, r1, len(pts))
        branches.append(VesselBranch(name, pts, rr, parent=parent, parent_index=pidx))
        return pts

    jitter = lambda s: rng.normal(0.0, s, 3)  # noqa: E731

    # right carotid and subclavian from the BCT end
    z_bif_r = max(z_bif_r, float(E[2]) + 82.0)  # RCCA at least ~80 mm long
    rbif = np.array([-26.0, 22.0, z_bif_r]) + jitter(2.0) * [1, 1, 0]
    rcca = vessel(
        "RCCA",
        [E, E + [-2.0, 2.0, 16.0], 0.5 * (E + rbif) + [-2.0, 0.0, 0.0], rbif],
        d_rcca / 2,
        0.95 * d_rcca / 2,
        "BCT",
        len(bct) - 1,
    )
    _carotid_pair(vessel, rcca[-1], -1.0, d_rcca, "RCCA", len(rcca) - 1, "R", rng)
    vessel(
        "RSA",
        [
            E,
            E + [-12.0, 4.0, 10.0],
            E + [-32.0, 10.0, 15.0] + jitter(2.0),
            E + [-54.0, 12.0, 7.0] + jitter(2.0),
            E + [-70.0, 10.0, -6.0] + jitter(2.0),
        ],
        d_rsa / 2,
        0.8 * d_rsa / 2,
        "BCT",
        len(bct) - 1,
    )

    # left common carotid: from the arch, or from the BCT in a bovine arch
    lbif = np.array([26.0, 22.0, z_bif]) + jitter(2.0) * [1, 1, 0]
    if arch_type == "bovine":
        d_out = _tube_distance(bct, aorta, ar)
        j_exit = int(np.argmax(d_out >= 0))
        j = int(np.clip(j_exit + round(_tn(rng, 6.0, 2.0)), 2, len(bct) - 10))
        p = bct[j]
        lcca_ctrl = [p, p + [8.0, 0.0, 12.0], 0.5 * (p + lbif) + [4.0, -2.0, 0.0], lbif]
        lcca = vessel("LCCA", lcca_ctrl, d_lcca / 2, 0.95 * d_lcca / 2, "BCT", j)
        i_lcca = None
        i_lsa = int(i_bct - round(gap1 + gap2))
    else:
        i_lcca = int(i_bct - round(gap1))
        p = aorta[i_lcca]
        q = takeoff(i_lcca)
        lcca_ctrl = [p, q, 0.5 * (q + lbif) + [2.0, -3.0, 0.0], lbif]
        lcca = vessel("LCCA", lcca_ctrl, d_lcca / 2, 0.95 * d_lcca / 2, "aorta", i_lcca)
        i_lsa = int(i_lcca - round(gap2))
    _carotid_pair(vessel, lcca[-1], 1.0, d_lcca, "LCCA", len(lcca) - 1, "L", rng)

    # left subclavian and its vertebral artery
    p = aorta[i_lsa]
    q = takeoff(i_lsa)
    lsa = vessel(
        "LSA",
        [
            p,
            q,
            q + [6.0, 3.0, 16.0] + jitter(1.5),
            q + [24.0, 8.0, 30.0] + jitter(2.0),
            q + [48.0, 10.0, 28.0] + jitter(2.0),
            q + [68.0, 9.0, 16.0] + jitter(2.0),
        ],
        d_lsa / 2,
        0.8 * d_lsa / 2,
        "aorta",
        i_lsa,
    )
    s_lva = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(lsa, axis=0), axis=1))])
    j = int(np.searchsorted(s_lva, float(s_lva[1]) + _tn(rng, 15.0, 3.0)))
    q = lsa[j]
    tgt = np.array([26.0, 40.0, q[2] + 80.0]) + jitter(1.5)
    vessel(
        "LVA",
        [q, q + [-1.0, 5.0, 16.0], tgt + [2.0, -4.0, -40.0], tgt],
        d_lva / 2,
        0.9 * d_lva / 2,
        "LSA",
        j,
    )

    tree = VesselTree(branches, access="femoral_right")
    params = {
        "ascending_diameter_mm": d_asc,
        "bct_diameter_mm": d_bct,
        "lcca_diameter_mm": d_lcca,
        "lsa_diameter_mm": d_lsa,
        "rcca_diameter_mm": d_rcca,
        "rsa_diameter_mm": d_rsa,
        "lva_diameter_mm": d_lva,
        "arch_width_mm": width,
        "arch_height_mm": height,
        "arch_angle_deg": float(np.rad2deg(theta)),
        "arch_bow_mm": bow,
        "bct_depth_target_lcca_diameters": depth_k,
        "bct_length_mm": bct_len,
        "origin_gap_bct_lcca_mm": gap1,
        "origin_gap_lcca_lsa_mm": gap2,
        "carotid_bifurcation_height_mm": z_bif,
        "ascending_drop_mm": asc_drop,
        "access_depth_mm": access_depth,
    }
    return tree, params


def _carotid_pair(vessel, bif, side, d_cca, parent, pidx, prefix, rng):
    """Internal (posterolateral) and external (anteromedial) carotid from the bifurcation."""
    j = rng.normal(0.0, 1.5, (3, 3))
    vessel(
        f"{prefix}ICA",
        [
            bif,
            bif + [side * 2.0, 5.0, 16.0] + j[0],
            bif + [side * 4.0, 10.0, 36.0] + j[1],
            bif + [side * 5.0, 12.0, 56.0] + j[2],
        ],
        0.72 * d_cca / 2,
        0.68 * d_cca / 2,
        parent,
        pidx,
    )
    vessel(
        f"{prefix}ECA",
        [
            bif,
            bif + [-side * 1.0, -5.0, 12.0],
            bif + [-side * 2.0, -10.0, 28.0] + j[0] * 0.5,
            bif + [-side * 1.0, -14.0, 42.0] + j[1] * 0.5,
        ],
        0.60 * d_cca / 2,
        0.52 * d_cca / 2,
        parent,
        pidx,
    )


def _tube_distance(points: NDArray, line: NDArray, radii: NDArray) -> NDArray:
    """Signed distance (mm) of ``points`` (M, 3) to one tapered-capsule polyline."""
    a, b = line[:-1], line[1:]
    ab = b - a
    ab2 = np.maximum((ab * ab).sum(1), 1e-12)
    t = np.clip(np.einsum("msk,sk->ms", points[:, None, :] - a[None], ab) / ab2, 0, 1)
    d = np.linalg.norm(points[:, None, :] - (a[None] + t[..., None] * ab[None]), axis=-1)
    d = d - (radii[:-1][None] + t * (radii[1:] - radii[:-1])[None])
    return d.min(1)


def _exit_z(branch_pts: NDArray, aorta: NDArray, ar: NDArray) -> float:
    """z (mm) where a branch centerline leaves the aortic lumen (linear between samples)."""
    d = _tube_distance(branch_pts, aorta, ar)
    k = int(np.argmax(d >= 0)) if (d >= 0).any() else len(d) - 1
    if k == 0:
        return float(branch_pts[0, 2])
    f = -d[k - 1] / max(d[k] - d[k - 1], 1e-9)
    return float(branch_pts[k - 1, 2] + f * (branch_pts[k, 2] - branch_pts[k - 1, 2]))


def classify_arch(tree: VesselTree) -> dict:
    """Arch type from the geometry: the BCT origin depth below the apex in LCCA diameters.

    depth = (top of the aortic outer wall: max over aortic centerline points of z + r) − (z
    where the BCT centerline leaves the aortic lumen); ratio = depth / LCCA diameter (the LCCA's
    proximal diameter). Type I if ratio < 1, II if 1 ≤ ratio ≤ 2, III if > 2 (Madhwal 2008).
    Bovine when the LCCA's parent is the BCT.

    Parameters
    ----------
    tree : VesselTree
        With branches ``aorta``, ``BCT`` and ``LCCA`` (LPS mm, +z superior).

    Returns
    -------
    dict
        ``depth_mm``, ``lcca_diameter_mm``, ``ratio``, ``type`` ("I", "II", "III"), ``bovine``.
    """
    ao, bct, lcca = tree["aorta"], tree["BCT"], tree["LCCA"]
    top = float(np.max(ao.points[:, 2] + ao.radii))
    depth = top - _exit_z(bct.points, ao.points, ao.radii)
    d_lcca = 2.0 * float(lcca.radii[0])
    ratio = depth / d_lcca
    t = "I" if ratio < 1.0 else ("II" if ratio <= 2.0 else "III")
    return {
        "depth_mm": depth,
        "lcca_diameter_mm": d_lcca,
        "ratio": ratio,
        "type": t,
        "bovine": lcca.parent == "BCT",
    }


def _landmarks_targets(tree: VesselTree):
    ao = tree["aorta"]
    landmarks = {
        "access": ao.points[0].copy(),
        "arch_apex": ao.points[int(np.argmax(ao.points[:, 2]))].copy(),
        "aortic_root": ao.points[-1].copy(),
    }
    targets = {}
    for b in tree:
        if b.parent is None:
            continue
        landmarks[f"{b.name}_origin"] = b.points[0].copy()
        targets[b.name] = b.points[-1].copy()
        targets[f"{b.name}_origin"] = b.points[0].copy()
    for side, cca in (("right", "RCCA"), ("left", "LCCA")):
        landmarks[f"carotid_bifurcation_{side}"] = tree[cca].points[-1].copy()
    return landmarks, targets


def _lumen_sdf(lines, radii, *, spacing: float, margin: float = 5.0) -> SDFGrid:
    return tube_sdf(lines, radii, spacing=spacing, margin=margin)


def _layout_for_arch(layout: ThoraxLayout, tree: VesselTree) -> ThoraxLayout:
    """Place the heart under the aortic root (base → apex pointing left, anterior, inferior)."""
    from dataclasses import replace

    root = tree["aorta"].points[-1]
    hc = root + np.array([22.0, -12.0, -52.0])
    return replace(layout, heart_center=tuple(float(v) for v in hc))


def _arch_volumes(tree: VesselTree, layout: ThoraxLayout, voxel: float, seed: int):
    """CT, labels, structures and affine of the thorax around the tree (FOV from the tree)."""
    pts = np.concatenate([b.points for b in tree])
    zlo = float(pts[:, 2].min()) - 15.0
    zhi = float(pts[:, 2].max()) + 12.0
    lo = np.array([layout.midline_x - 176.0, layout.body_center_y - layout.body_b - 10.0, zlo])
    hi = np.array([layout.midline_x + 176.0, layout.body_center_y + layout.body_b + 12.0, zhi])
    shape = tuple(int(s) for s in np.ceil((hi - lo) / voxel).astype(int))
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = lo
    lumen, vd = lumen_on_grid(tree, shape, affine)
    ct, labels, structures = synthesize_thorax_ct(
        shape, affine, lumen=lumen, layout=layout, seed=seed, vessel_distance=vd
    )
    return ct, labels, structures, affine


def lumen_on_grid(tree: VesselTree, shape, affine) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Lumen labels (``aorta`` 1 inside the aorta tube, ``arteries`` 2 elsewhere) and the signed
    distance (mm, exact within 8 mm of the wall) to all vessels, on an axis-aligned grid."""
    A = np.asarray(affine, np.float64)
    lo, step = A[:3, 3], np.diag(A[:3, :3])
    lines = [b.points for b in tree]
    radii = [b.radii for b in tree]
    vd = capsule_sdf_on_grid(lines, radii, origin=lo, step=step, shape=shape, margin=8.0)
    ao = tree[tree.root]
    aod = capsule_sdf_on_grid(
        [ao.points], [ao.radii], origin=lo, step=step, shape=shape, margin=1.0
    )
    lumen = np.zeros(shape, np.uint8)
    lumen[vd < 0] = label_of("arteries")
    lumen[aod < 0] = label_of("aorta")
    return lumen, vd
