"""Procedural upper-abdomen CT with a liver and hypodense lesions (ablation / biopsy targets).

Frame: patient LPS (+x left, +y posterior, +z superior), millimetres; ``z = 0`` is the level of
the aortic-arch apex of the same body layout (the liver dome lies ≈ 150 mm below it).

The body, lung bases, diaphragm, ribs, spine, kidneys, stomach gas and the liver come from
:func:`synthesize_thorax_ct` with a drawn layout; lesions are lobulated spheres (a smooth radial
perturbation of ±8 % of the radius) of 30 HU in a 60 HU liver (a hypodense metastasis or HCC in
an unenhanced or portal-venous CT), placed at least ``r + 5`` mm inside the liver surface and
``5`` mm apart. Lesion diameters are drawn log-normally with a median of 22 mm, clipped to
8–50 mm, matching percutaneous thermal-ablation series (targets of median 20–25 mm, range
8–50 mm; the DESIGN reference values).

Portal veins: a vessel tree (``portal_vein`` from below the hilum → ``RPV``, ``LPV`` → two
segmental branches each; radii 7 → 2 mm) inside the liver, labelled ``hepatic_vessels`` (blood,
45 HU: unenhanced), with its lumen SDF on a 1 mm grid. Lesions keep r + 5 mm from the vessels.
Targets: ``lesion_<k>`` (centres). Landmarks:
``entry_lesion_<k>``, a suggested skin entry: the shortest straight needle path from the lesion
centre to the skin that crosses no bone, lung, heart, airway, gas or vessel and does not enter
from the back (the patient is supine).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ._anatomy import Anatomy
from ._structures import NOMINAL_HU, label_of, standard_structures
from ._thorax import ThoraxLayout, synthesize_thorax_ct

__all__ = ["generate_liver", "GENERATOR_VERSION", "suggest_entry"]

GENERATOR_VERSION = "2"

#: Structures a straight needle must not cross on its way to a target.
NO_GO = (
    "spine",
    "ribs",
    "sternum",
    "clavicles",
    "costal_cartilage",
    "lungs",
    "airway",
    "heart",
    "aorta",
    "arteries",
    "hepatic_vessels",
    "stomach_gas",
    "kidneys",
    "spinal_canal",
)


def generate_liver(
    lesions: int = 2,
    *,
    seed: int,
    voxel_size: float = 1.25,
    lesion_diameters_mm: list[float] | None = None,
    with_sdf: bool = True,
) -> Anatomy:
    """Generate an upper-abdomen CT with a liver and ``lesions`` hypodense lesions.

    Parameters
    ----------
    lesions : int, default: 2
        Number of lesions (0–6).
    seed : int
        Seed of all drawn values (layout, lesion sizes and places, textures).
    voxel_size : float, default: 1.25
        Isotropic voxel size (mm).
    lesion_diameters_mm : list of float, optional
        Fixed lesion diameters (mm, each 5–60); default drawn (median 22, 8–50 mm).
    with_sdf : bool, default: True
        Compute the portal veins' lumen SDF (1 mm grid).

    Returns
    -------
    Anatomy
        ``name="liver"``; structures include ``liver`` and ``lesion``; ``targets``
        ``lesion_1`` ... (centres, LPS mm); ``landmarks`` ``entry_lesion_1`` ... (skin entry
        suggestions); ``meta`` with the drawn diameters (mm) and the generator version.

    Raises
    ------
    ValueError
        For a bad count, diameter or voxel size, or when a lesion does not fit in the liver.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")
    if not isinstance(lesions, (int, np.integer)) or not 0 <= lesions <= 6:
        raise ValueError(f"`lesions` must be an int in 0..6, got {lesions!r}")
    if not voxel_size > 0:
        raise ValueError(f"`voxel_size` must be > 0 mm, got {voxel_size}")
    rng = np.random.default_rng([int(seed), 2024])
    if lesion_diameters_mm is None:
        diam = np.clip(np.exp(rng.normal(np.log(22.0), 0.45, lesions)), 8.0, 50.0)
    else:
        diam = np.asarray(lesion_diameters_mm, float)
        if diam.shape != (lesions,) or (diam < 5).any() or (diam > 60).any():
            raise ValueError(
                f"`lesion_diameters_mm` must hold {lesions} values in 5–60 mm, got {diam.tolist()}"
            )
    layout = ThoraxLayout.random(rng)
    lo = np.array([layout.midline_x - 176.0, layout.body_center_y - layout.body_b - 10.0, -365.0])
    hi = np.array([layout.midline_x + 176.0, layout.body_center_y + layout.body_b + 12.0, -85.0])
    shape, affine = _grid(lo, hi, voxel_size)
    ct, labels, _ = synthesize_thorax_ct(shape, affine, layout=layout, seed=int(seed))

    liver = labels == label_of("liver")
    tree = portal_tree(liver, affine, rng)
    vd = _paint_vessels(ct, labels, affine, tree)
    liver = labels == label_of("liver")  # lesions keep r + 5 mm from the vessels too
    sdf = None
    if with_sdf:
        from ._arch import _lumen_sdf

        sdf = _lumen_sdf([b.points for b in tree], [b.radii for b in tree], spacing=1.0)
    del vd
    centres, radii = place_spheres(liver, affine, diam / 2.0, rng, margin=5.0)
    ct, labels = paint_lesions(ct, labels, affine, centres, radii, rng, label="lesion")
    targets = {f"lesion_{k + 1}": c for k, c in enumerate(centres)}
    landmarks = {}
    for k, c in enumerate(centres):
        e = suggest_entry(labels, affine, c, max_posterior=0.35)
        if e is not None:
            landmarks[f"entry_lesion_{k + 1}"] = e
    present = {v for v in np.unique(labels).tolist() if v}
    names = _names_of(present)
    return Anatomy(
        name="liver",
        ct_hu=ct,
        labels=labels,
        affine=affine,
        structures=standard_structures(names),
        vessel_tree=tree,
        sdf=sdf,
        landmarks=landmarks,
        targets=targets,
        meta={
            "generator": "igtwin.anatomies.generate_liver",
            "generator_version": GENERATOR_VERSION,
            "seed": int(seed),
            "lesions": int(lesions),
            "lesion_diameters_mm": [float(d) for d in diam],
            "voxel_size_mm": float(voxel_size),
            "thorax_layout": layout.to_dict(),
        },
    )


# ----------------------------------------------------------------------------- shared helpers
def _grid(lo: NDArray, hi: NDArray, voxel: float):
    shape = tuple(int(s) for s in np.ceil((hi - lo) / voxel).astype(int))
    affine = np.diag([voxel, voxel, voxel, 1.0])
    affine[:3, 3] = lo
    return shape, affine


def _names_of(values) -> list[str]:
    from ._structures import STANDARD_LABELS

    inv = {v[0]: n for n, v in STANDARD_LABELS.items()}
    return [inv[v] for v in sorted(values)]


def place_spheres(
    organ: NDArray[np.bool_],
    affine: NDArray,
    radii: NDArray,
    rng: np.random.Generator,
    *,
    margin: float = 5.0,
    gap: float = 5.0,
) -> tuple[list[NDArray], NDArray]:
    """Centres (LPS mm) of non-overlapping spheres at least ``r + margin`` mm inside ``organ``.

    Largest first; each centre is drawn uniformly among the voxels deep enough, then checked
    against the spheres already placed (``gap`` mm apart).

    Raises
    ------
    ValueError
        If a sphere does not fit.
    """
    radii = np.asarray(radii, float)
    if len(radii) == 0:
        return [], radii
    step = np.abs(np.diag(np.asarray(affine)[:3, :3]))
    idx = np.argwhere(organ)
    lo = np.maximum(idx.min(0) - 2, 0)
    hi = np.minimum(idx.max(0) + 3, organ.shape)
    sl = tuple(slice(lo[d], hi[d]) for d in range(3))
    depth = ndimage.distance_transform_edt(organ[sl], sampling=step)
    order = np.argsort(-radii)
    placed: list[NDArray] = [None] * len(radii)  # type: ignore[list-item]
    done = []
    for k in order:
        cand = np.argwhere(depth >= radii[k] + margin)
        if len(cand) == 0:
            raise ValueError(
                f"a lesion of diameter {2 * radii[k]:.1f} mm does not fit {margin} mm inside "
                "the organ"
            )
        for _ in range(200):
            ijk = cand[rng.integers(len(cand))] + lo
            c = np.asarray(affine)[:3, :3] @ ijk + np.asarray(affine)[:3, 3]
            if all(np.linalg.norm(c - placed[j]) >= radii[k] + radii[j] + gap for j in done):
                break
        else:
            raise ValueError(f"could not place {len(radii)} lesions {gap} mm apart")
        placed[k] = c.astype(np.float64)
        done.append(k)
    return placed, radii


def paint_lesions(ct, labels, affine, centres, radii, rng, *, label: str):
    """Paint lobulated spherical lesions (anti-aliased HU; label where ≥ half inside)."""
    A = np.asarray(affine)
    step = np.diag(A[:3, :3])
    voxel = float(np.abs(step).min())
    lab = label_of(label)
    hu_in = NOMINAL_HU[label]
    ctf = ct.astype(np.float32)
    for c, r in zip(centres, radii, strict=True):
        pad = r * 1.2 + 3 * voxel
        u0 = (c - pad - A[:3, 3]) / step
        u1 = (c + pad - A[:3, 3]) / step
        i0 = np.maximum(np.floor(np.minimum(u0, u1)).astype(int), 0)
        i1 = np.minimum(np.ceil(np.maximum(u0, u1)).astype(int) + 1, ct.shape)
        g = [A[d, 3] + step[d] * np.arange(i0[d], i1[d]) for d in range(3)]
        X, Y, Z = np.meshgrid(*g, indexing="ij")
        v = np.stack([X - c[0], Y - c[1], Z - c[2]], -1)
        rr = np.linalg.norm(v, axis=-1)
        # lobulation: a few low-order harmonics of the direction, ±8 % of r
        dirs = v / np.maximum(rr[..., None], 1e-6)
        w = rng.normal(0, 1, (4, 3))
        bump = sum(np.sin(3.0 * (dirs @ w[j]) + j) for j in range(4)) / 4.0
        sdf = rr - r * (1.0 + 0.08 * bump)
        frac = np.clip(0.5 - sdf / voxel, 0.0, 1.0).astype(np.float32)
        sl = tuple(slice(i0[d], i1[d]) for d in range(3))
        sub = ctf[sl]
        sub += frac * (hu_in - sub)
        labels[sl][frac >= 0.5] = lab
    return np.clip(np.rint(ctf), -1024, 3071).astype(np.int16), labels


def suggest_entry(
    labels: NDArray,
    affine: NDArray,
    target: NDArray,
    *,
    no_go: tuple[str, ...] = NO_GO,
    max_posterior: float = 1.0,
    lung_penalty: float = 0.0,
    n_dirs: int = 600,
    max_len: float = 250.0,
) -> NDArray[np.float64] | None:
    """Skin entry point (LPS mm) of the best straight needle path to ``target``.

    Rays from the target in ``n_dirs`` directions (a Fibonacci sphere) are marched at half a
    voxel to the first background voxel (the skin); a ray is allowed if it crosses no ``no_go``
    structure (the target's own lesion excepted) and its direction's posterior (+y) component
    is ≤ ``max_posterior``. The cost is the path length plus ``lung_penalty`` × the length in
    aerated lung; the entry of the cheapest allowed ray is returned (None if none is allowed).
    """
    A = np.asarray(affine, np.float64)
    inv = np.linalg.inv(A)
    voxel = float(np.abs(np.diag(A[:3, :3])).min())
    k = np.arange(n_dirs) + 0.5
    phi = np.arccos(1 - 2 * k / n_dirs)
    th = np.pi * (1 + 5**0.5) * k
    dirs = np.stack([np.cos(th) * np.sin(phi), np.sin(th) * np.sin(phi), np.cos(phi)], 1)
    dirs = dirs[dirs[:, 1] <= max_posterior]
    t = np.arange(0.0, max_len, voxel / 2)
    pts = target[None, None, :] + t[None, :, None] * dirs[:, None, :]  # (D, T, 3)
    ijk = np.rint(pts @ inv[:3, :3].T + inv[:3, 3]).astype(int)
    inside = np.all((ijk >= 0) & (ijk < np.array(labels.shape)), axis=-1)
    ijk = np.clip(ijk, 0, np.array(labels.shape) - 1)
    lab = labels[ijk[..., 0], ijk[..., 1], ijk[..., 2]]
    # the skin is the first background voxel inside the field of view; a ray that leaves
    # the field of view before reaching it is not allowed
    out = (lab == 0) | ~inside
    has_exit = out.any(1)
    first = np.argmax(out, axis=1)
    has_exit &= inside[np.arange(len(first)), first]
    bad_labels = np.array([label_of(n) for n in no_go if n != "lungs" or lung_penalty == 0])
    before = t[None, :] < t[first][:, None]
    crosses = (np.isin(lab, bad_labels) & before).any(1)
    lung_len = ((lab == label_of("lungs")) & before).sum(1) * (voxel / 2)
    ok = has_exit & ~crosses
    if not ok.any():
        return None
    cost = t[first] + lung_penalty * lung_len
    cost = np.where(ok, cost, np.inf)
    j = int(np.argmin(cost))
    return pts[j, first[j]].astype(np.float64)


def portal_tree(liver: NDArray[np.bool_], affine: NDArray, rng: np.random.Generator):
    """A portal venous tree (LPS mm) inside a liver mask: trunk, lobar and segmental branches."""
    from ._thorax import smooth_curve
    from ._vessel_tree import VesselBranch, VesselTree

    A = np.asarray(affine, np.float64)
    step = np.abs(np.diag(A[:3, :3]))
    idx = np.argwhere(liver)
    xyz = idx @ A[:3, :3].T + A[:3, 3]
    depth = ndimage.distance_transform_edt(liver, sampling=step)[tuple(idx.T)]
    c = xyz.mean(0)
    deep = xyz[depth > 12.0]

    def pick(sel):
        cand = deep[sel(deep)]
        if len(cand) == 0:
            cand = deep
        return cand[rng.integers(len(cand))]

    def nearest_deep(p):
        return deep[np.argmin(np.linalg.norm(deep - p, axis=1))]

    hilum = nearest_deep(c + np.array([25.0, 15.0, -25.0]))
    start = hilum + np.array([22.0, 8.0, -45.0])
    branches = []

    def add(name, ctrl, r0, r1, parent=None, pidx=0):
        pts, _ = smooth_curve(np.asarray(ctrl, float), step=1.0)
        branches.append(
            VesselBranch(name, pts, np.linspace(r0, r1, len(pts)), parent=parent, parent_index=pidx)
        )
        return pts

    trunk = add("portal_vein", [start, 0.5 * (start + hilum) + [0, 0, 5.0], hilum], 7.0, 6.5)
    n = len(trunk) - 1
    right_t = pick(lambda q: (q[:, 0] < c[0] - 35.0) & (np.abs(q[:, 2] - hilum[2]) < 30))
    left_t = pick(lambda q: (q[:, 0] > hilum[0] + 15.0) & (np.abs(q[:, 2] - hilum[2]) < 30))
    for name, tgt, subs in (
        ("RPV", right_t, (("anterior", -1.0), ("posterior", 1.0))),
        ("LPV", left_t, (("medial", -1.0), ("lateral", 1.0))),
    ):
        mid = 0.5 * (hilum + tgt) + rng.normal(0, 3.0, 3)
        lob = add(name, [hilum, mid, tgt], 5.0, 4.2, "portal_vein", n)
        for sub, sgn in subs:
            end = pick(
                lambda q, t=tgt, s=sgn: (
                    (np.linalg.norm(q - t, axis=1) > 25.0)
                    & (np.linalg.norm(q - t, axis=1) < 60.0)
                    & ((q[:, 1] - t[1]) * s > 5.0)
                )
            )
            mid = 0.5 * (tgt + end) + rng.normal(0, 3.0, 3)
            add(f"{name}_{sub}", [tgt, mid, end], 3.5, 2.0, name, len(lob) - 1)
    return VesselTree(branches, access="portal_vein")


def _paint_vessels(ct, labels, affine, tree):
    """Label and fill the vessels' lumen (blood, unenhanced 45 HU); returns their distance."""
    from ._thorax import capsule_sdf_on_grid

    A = np.asarray(affine, np.float64)
    d = capsule_sdf_on_grid(
        [b.points for b in tree],
        [b.radii for b in tree],
        origin=A[:3, 3],
        step=np.diag(A[:3, :3]),
        shape=labels.shape,
        margin=2.0,
    )
    m = (d < 0) & (labels != 0)
    ct[m] = NOMINAL_HU["hepatic_vessels"]
    labels[m] = label_of("hepatic_vessels")
    return d
