"""A procedural thorax CT (HU) and label map around given vessels, and shared geometry kernels.

Frame: patient LPS (+x left, +y posterior, +z superior), millimetres. The thorax is built on an
axis-aligned voxel grid (any voxel size; axes may be flipped) from simple solids whose sizes
follow adult anatomy: an elliptical body outline (≈ 320 × 225 mm) with skin, subcutaneous fat
and chest-wall muscle; two air-filled lungs (≈ −820 HU, textured) with diaphragm domes (right
higher); the heart (≈ 42 HU) with epicardial fat; the airway (trachea, carina, main bronchi);
the spine (vertebral bodies with a cortical shell, cancellous interior and intervertebral
discs, neural arch, transverse and spinous processes); twelve pairs of ribs (curved bone tubes)
with costal cartilage; the sternum and the clavicles; the neck above the shoulders; below the
diaphragm the liver, the kidneys and a gastric air bubble. Vessel lumen voxels are blood (40 HU).

HU values are the nominal values of :data:`NOMINAL_HU` (sources in ``_structures.py``). Bone
edges are anti-aliased: a voxel's HU is the bone/surrounding mix by the fraction of the voxel
inside the bone surface (from an exact signed distance), so that thin cortices and ribs project
sharply in synthetic fluoroscopy.

Sizes: body 300–340 × 210–240 mm (adult chest); vertebral body height ≈ 20 mm and disc ≈ 5 mm
(thoracic), 13 / 3.5 mm (cervical); rib cross-section radius ≈ 5 mm; heart ≈ 125 × 95 × 85 mm.
Sources: Gray's Anatomy 41st ed. (2016), ch. 53–57; Busscher et al., Eur Spine J 19 (2010)
1104 (vertebral dimensions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numba
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from scipy.interpolate import make_interp_spline

from ._anatomy import Structure
from ._structures import NOMINAL_HU, STANDARD_LABELS, label_of, standard_structures

__all__ = [
    "ThoraxLayout",
    "synthesize_thorax_ct",
    "capsule_sdf_on_grid",
    "smooth_curve",
]


# ----------------------------------------------------------------------------- kernels
@numba.njit(cache=True)
def _capsules_min_kernel(values, origin, step, a, b, ra, rb, margin):  # pragma: no cover - jit
    """In place: values[i,j,k] = min(values, signed distance to each tapered capsule).

    Grid point (i, j, k) sits at ``origin + step * (i, j, k)`` (step may be negative). Each
    capsule updates only the box within ``max(ra, rb) + margin`` of it.
    """
    ni, nj, nk = values.shape
    n = values.shape
    for s in range(a.shape[0]):
        reach = max(ra[s], rb[s]) + margin
        lo = np.empty(3, np.int64)
        hi = np.empty(3, np.int64)
        for d in range(3):
            p0 = min(a[s, d], b[s, d]) - reach
            p1 = max(a[s, d], b[s, d]) + reach
            u0 = (p0 - origin[d]) / step[d]
            u1 = (p1 - origin[d]) / step[d]
            lo[d] = max(int(np.floor(min(u0, u1))), 0)
            hi[d] = min(int(np.ceil(max(u0, u1))) + 1, n[d])
        abx = b[s, 0] - a[s, 0]
        aby = b[s, 1] - a[s, 1]
        abz = b[s, 2] - a[s, 2]
        ab2 = max(abx * abx + aby * aby + abz * abz, 1e-12)
        dr = rb[s] - ra[s]
        for i in range(lo[0], hi[0]):
            px = origin[0] + step[0] * i - a[s, 0]
            for j in range(lo[1], hi[1]):
                py = origin[1] + step[1] * j - a[s, 1]
                for k in range(lo[2], hi[2]):
                    pz = origin[2] + step[2] * k - a[s, 2]
                    t = (px * abx + py * aby + pz * abz) / ab2
                    if t < 0.0:
                        t = 0.0
                    elif t > 1.0:
                        t = 1.0
                    qx = px - t * abx
                    qy = py - t * aby
                    qz = pz - t * abz
                    d = np.sqrt(qx * qx + qy * qy + qz * qz) - (ra[s] + t * dr)
                    if d < values[i, j, k]:
                        values[i, j, k] = d
    return values


def capsule_sdf_on_grid(
    centerlines: list[NDArray],
    radii: list[NDArray],
    *,
    origin: NDArray,
    step: NDArray,
    shape: tuple[int, int, int],
    margin: float = 5.0,
    out: NDArray | None = None,
) -> NDArray[np.float32]:
    """Signed distance (mm) to a union of tapered capsules on an axis-aligned grid (numba).

    The same field as :func:`tube_sdf` (``|x − closest(x)| − r(closest)``, minimised over
    polyline segments), but each segment only visits the grid box within its own radius +
    ``margin``, so small vessels are cheap. The value is exact wherever it is ≤ ``margin``;
    elsewhere it is an upper bound clipped to ``max radius + margin``.

    Parameters
    ----------
    centerlines, radii : list of ndarray
        Polylines (N_b, 3) in LPS mm and their radii (N_b,) in mm.
    origin : array_like, shape (3,)
        LPS position (mm) of grid point (0, 0, 0).
    step : array_like, shape (3,)
        Signed spacing (mm) along i, j, k (the diagonal of an axis-aligned affine).
    shape : tuple of int
        Grid shape (I, J, K).
    margin : float, default: 5.0
        Band (mm) outside the tubes where the field is exact.
    out : ndarray, optional
        float32 array of ``shape`` to take the minimum into (in place).

    Returns
    -------
    ndarray, shape (I, J, K), float32
    """
    a, b, ra, rb = _segments(centerlines, radii)
    cap = float(max(ra.max(), rb.max()) + margin)
    if out is None:
        out = np.full(tuple(int(s) for s in shape), cap, dtype=np.float32)
    _capsules_min_kernel(
        out,
        np.asarray(origin, np.float64),
        np.asarray(step, np.float64),
        a,
        b,
        ra,
        rb,
        float(margin),
    )
    return out


def _segments(centerlines, radii):
    if len(centerlines) != len(radii) or not centerlines:
        raise ValueError("`centerlines` and `radii` must be non-empty lists of equal length")
    a, b, ra, rb = [], [], [], []
    for pts, rad in zip(centerlines, radii, strict=True):
        pts = np.asarray(pts, np.float64)
        rad = np.asarray(rad, np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2 or rad.shape != (len(pts),):
            raise ValueError(
                f"each centerline must be (N>=2, 3) with radii (N,), got {pts.shape}, {rad.shape}"
            )
        a.append(pts[:-1])
        b.append(pts[1:])
        ra.append(rad[:-1])
        rb.append(rad[1:])
    return (
        np.ascontiguousarray(np.concatenate(a)),
        np.ascontiguousarray(np.concatenate(b)),
        np.concatenate(ra),
        np.concatenate(rb),
    )


def smooth_curve(
    control: NDArray, *, step: float = 1.0, values: NDArray | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """An interpolating cubic spline through ``control`` points, resampled every ~``step`` mm.

    Parameterised by chord length; ends are kept exactly. ``values`` (one per control point,
    e.g. radii) are interpolated linearly in the same parameter.

    Returns
    -------
    points : ndarray, shape (N, 3)
        LPS mm, spaced ``step`` mm (±1 %) along the curve.
    values : ndarray, shape (N,) or None
    """
    c = np.asarray(control, np.float64)
    chord = np.linalg.norm(np.diff(c, axis=0), axis=1)
    if (chord < 1e-9).any():
        raise ValueError("control points must be distinct")
    u = np.concatenate([[0.0], np.cumsum(chord)])
    k = min(3, len(c) - 1)
    spl = make_interp_spline(u, c, k=k, bc_type="natural" if k == 3 else None)
    fine = np.linspace(0.0, u[-1], max(int(u[-1] / step * 20), 50))
    pf = spl(fine)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pf, axis=0), axis=1))])
    n = max(int(round(s[-1] / step)), 1) + 1
    st = np.linspace(0.0, s[-1], n)
    uu = np.interp(st, s, fine)
    pts = spl(uu)
    pts[0], pts[-1] = c[0], c[-1]
    vals = None if values is None else np.interp(uu, u, np.asarray(values, np.float64))
    return pts, vals


# ----------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class ThoraxLayout:
    """Where the thorax's parts sit (LPS mm). ``z_ref`` is the aortic-arch apex level (≈ T4).

    Attributes
    ----------
    midline_x : float
        x of the mid-sagittal plane (mm).
    body_center_y : float
        y of the body outline's centre in the chest (mm).
    body_a, body_b : float
        Chest semi-axes, left–right and antero-posterior (mm).
    neck_a, neck_b, neck_center_y : float
        Neck semi-axes and centre y (mm).
    spine_y : float
        y of the thoracic vertebral bodies' centre (mm); the cervical spine is 10 mm anterior.
    z_ref : float
        Arch apex level (mm); the other heights are offsets from it.
    fat_mm, wall_mm : float
        Subcutaneous fat thickness and chest-wall (muscle + ribs) thickness (mm).
    heart_center : tuple of float
        Heart ellipsoid centre (LPS mm).
    heart_axes : tuple of float
        Heart semi-axes (mm): long axis (base → apex), then the two short axes.
    trachea_xy : tuple of float
        Trachea centre (x, y) above the carina (mm).
    """

    midline_x: float = 0.0
    body_center_y: float = 10.0
    body_a: float = 160.0
    body_b: float = 113.0
    neck_a: float = 62.0
    neck_b: float = 58.0
    neck_center_y: float = 32.0
    spine_y: float = 52.0
    z_ref: float = 0.0
    fat_mm: float = 12.0
    wall_mm: float = 17.0
    heart_center: tuple[float, float, float] = (12.0, -25.0, -120.0)
    heart_axes: tuple[float, float, float] = (64.0, 48.0, 42.0)
    trachea_xy: tuple[float, float] = (-6.0, 8.0)

    # heights (mm) relative to z_ref
    @property
    def z_shoulder(self) -> float:
        return self.z_ref + 45.0

    @property
    def z_neck(self) -> float:
        return self.z_ref + 95.0

    @property
    def z_lung_top(self) -> float:
        return self.z_ref + 42.0

    @property
    def z_carina(self) -> float:
        return self.z_ref - 28.0

    @property
    def z_dome_right(self) -> float:
        return self.z_ref - 150.0

    @property
    def z_dome_left(self) -> float:
        return self.z_ref - 165.0

    @property
    def z_notch(self) -> float:
        """Jugular (sternal) notch."""
        return self.z_ref + 32.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def random(cls, rng: np.random.Generator, **fixed) -> ThoraxLayout:
        """A layout with adult sizes drawn around the defaults (``fixed`` overrides)."""
        base = cls()
        drawn = dict(
            body_a=float(np.clip(rng.normal(158.0, 7.0), 145, 172)),
            body_b=float(np.clip(rng.normal(112.0, 5.0), 102, 122)),
            fat_mm=float(np.clip(rng.normal(12.0, 3.0), 6, 20)),
            neck_a=float(np.clip(rng.normal(62.0, 3.0), 55, 70)),
        )
        drawn.update(fixed)
        return replace(base, **drawn)

    @classmethod
    def from_lumen(cls, lumen: NDArray[np.bool_], affine: NDArray, **fixed) -> ThoraxLayout:
        """A layout guessed from a vessel lumen mask (an aortic arch and its branches).

        Heuristics: the mid-sagittal plane at the lumen's x centroid; the arch apex level at the
        top of the axial slice with the most lumen voxels (the arch runs in-plane); the
        vertebral bodies 20 mm behind the lumen's most posterior extent below the apex; the
        heart below and left of the lowest lumen part ahead of the apex level.
        """
        lumen = np.asarray(lumen, bool)
        if lumen.ndim != 3 or not lumen.any():
            raise ValueError("`lumen` must be a non-empty 3-D boolean mask")
        ijk = np.argwhere(lumen)
        xyz = ijk @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]
        x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        zs = np.round(z / 2.0) * 2.0
        levels, counts = np.unique(zs, return_counts=True)
        z_ref = float(levels[np.argmax(counts)]) + 10.0
        below = z < z_ref - 40
        yb = y[below] if below.any() else y
        spine_y = float(np.percentile(yb, 98)) + 20.0
        mid = float(np.median(x))
        front = y < np.median(y)
        zl = float(z[front].min()) if front.any() else z_ref - 80
        kw = dict(
            midline_x=mid,
            spine_y=spine_y,
            body_center_y=spine_y - 42.0,
            neck_center_y=spine_y - 20.0,
            z_ref=z_ref,
            heart_center=(mid + 15.0, spine_y - 75.0, zl - 45.0),
            trachea_xy=(mid - 6.0, spine_y - 44.0),
        )
        kw.update(fixed)
        return cls(**kw)


# ----------------------------------------------------------------------------- helpers
def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _smooth_noise(shape, rng, *, cell: float, spacing: NDArray) -> NDArray[np.float32]:
    """Unit-variance smooth noise with a correlation length ~ ``cell`` mm (trilinear upsampling)."""
    coarse = [max(int(np.ceil(shape[d] * abs(spacing[d]) / cell)) + 2, 2) for d in range(3)]
    g = rng.standard_normal(coarse).astype(np.float32)
    zoom = [(shape[d] - 1) / (coarse[d] - 1) for d in range(3)]
    out = ndimage.zoom(g, zoom, order=1, grid_mode=False)
    out = out[: shape[0], : shape[1], : shape[2]]
    if out.shape != tuple(shape):
        out = np.pad(out, [(0, shape[d] - out.shape[d]) for d in range(3)], mode="edge")
    sd = float(out.std()) or 1.0
    return (out / sd).astype(np.float32)


def _paint_sdf(ct, labels, sdf, hu, label, voxel, *, where=None):
    """Paint a solid given by its SDF, mixing HU by the voxel's inside fraction (anti-aliased)."""
    frac = np.clip(0.5 - sdf / voxel, 0.0, 1.0)
    if where is not None:
        frac = frac * where
    hu_arr = hu if np.ndim(hu) == 0 else hu
    ct += frac * (hu_arr - ct)
    if label is not None:
        labels[frac >= 0.5] = label


# ----------------------------------------------------------------------------- thorax
def synthesize_thorax_ct(
    shape: tuple[int, int, int],
    affine: NDArray,
    *,
    lumen: NDArray | None = None,
    layout: ThoraxLayout | None = None,
    seed: int = 0,
    vessel_distance: NDArray | None = None,
) -> tuple[NDArray[np.int16], NDArray[np.uint8], dict[int, Structure]]:
    """Fill a voxel grid with a plausible adult thorax (and neck/upper abdomen) CT.

    Parameters
    ----------
    shape : tuple of int
        Grid shape (I, J, K).
    affine : ndarray, shape (4, 4)
        Voxel index → LPS mm; must be axis-aligned (diagonal 3 × 3 part, signs allowed).
    lumen : ndarray (I, J, K) of bool or uint8, optional
        Vessel lumen. A bool mask is labelled ``arteries``; a uint8 array keeps its non-zero
        standard labels (e.g. 1 ``aorta``, 2 ``arteries``). Lumen voxels are blood (40 HU) and
        other structures keep clear of them (a ≥ 3 mm soft-tissue sleeve).
    layout : ThoraxLayout, optional
        Placement of the parts; default :meth:`ThoraxLayout.from_lumen` when ``lumen`` is given,
        else the default layout.
    seed : int, default: 0
        Seed of the tissue textures (the result is deterministic for a seed).
    vessel_distance : ndarray (I, J, K), optional
        Distance (mm) to the lumen (negative or zero inside), if already known; otherwise it is
        computed with a Euclidean distance transform.

    Returns
    -------
    ct_hu : ndarray (I, J, K), int16
        CT in HU.
    labels : ndarray (I, J, K), uint8
        Standard labels (see ``STANDARD_LABELS``).
    structures : dict of int to Structure
        The structures present.

    Raises
    ------
    ValueError
        If the affine is oblique or the shapes disagree.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"`shape` must be 3 positive ints, got {shape}")
    A = np.asarray(affine, np.float64)
    M = A[:3, :3]
    if A.shape != (4, 4) or not np.allclose(M, np.diag(np.diag(M)), atol=1e-6 * np.abs(M).max()):
        raise ValueError(
            "`affine` must be an axis-aligned 4x4 (diagonal rotation part); resample oblique "
            f"volumes first. Got\n{A}"
        )
    step = np.diag(M).copy()
    origin = A[:3, 3].copy()
    voxel = float(np.abs(step).min())
    rng = np.random.default_rng(seed)

    lumen_lab = None
    if lumen is not None:
        lumen = np.asarray(lumen)
        if lumen.shape != shape:
            raise ValueError(f"`lumen` shape {lumen.shape} differs from `shape` {shape}")
        if lumen.dtype == bool:
            lumen_lab = np.where(lumen, label_of("arteries"), 0).astype(np.uint8)
        else:
            lumen_lab = lumen.astype(np.uint8)
        if layout is None:
            layout = ThoraxLayout.from_lumen(lumen_lab > 0, A)
    if layout is None:
        layout = ThoraxLayout()
    L = layout

    # coordinates, broadcastable
    X = (origin[0] + step[0] * np.arange(shape[0], dtype=np.float32))[:, None, None]
    Y = (origin[1] + step[1] * np.arange(shape[1], dtype=np.float32))[None, :, None]
    zc = origin[2] + step[2] * np.arange(shape[2], dtype=np.float64)
    Z = zc.astype(np.float32)[None, None, :]
    mx = L.midline_x

    # vessel distance (mm) for keeping structures clear of the lumen
    if lumen_lab is not None and lumen_lab.any():
        if vessel_distance is None:
            vessel_distance = _lumen_distance(lumen_lab > 0, step)
        vdist = vessel_distance.astype(np.float32, copy=False)
    else:
        vdist = None

    ct = np.full(shape, NOMINAL_HU["air"], dtype=np.float32)
    labels = np.zeros(shape, dtype=np.uint8)
    lab = {n: v[0] for n, v in STANDARD_LABELS.items()}

    # --- body outline: chest → shoulders → neck (per-slice semi-axes)
    w = _smoothstep((zc - L.z_shoulder) / (L.z_neck - L.z_shoulder))
    a_z = (L.body_a * (1 - w) + L.neck_a * w).astype(np.float32)[None, None, :]
    b_z = (L.body_b * (1 - w) + L.neck_b * w).astype(np.float32)[None, None, :]
    cy_z = (L.body_center_y * (1 - w) + L.neck_center_y * w).astype(np.float32)[None, None, :]
    # a gently narrowing abdomen below the diaphragm
    wa = _smoothstep((L.z_dome_left - zc) / 120.0)
    a_z = a_z * (1 - 0.06 * wa.astype(np.float32))[None, None, :]

    def ell_sdf(shrink):
        """Approximate signed distance (mm) to the body ellipse shrunk by ``shrink`` mm."""
        aa = np.maximum(a_z - shrink, 1.0)
        bb = np.maximum(b_z - shrink, 1.0)
        r = np.sqrt(((X - mx) / aa) ** 2 + ((Y - cy_z) / bb) ** 2)
        return (r - 1.0) * np.minimum(aa, bb)

    body_sdf = ell_sdf(0.0)
    # skin + subcutaneous fat
    _paint_sdf(ct, labels, body_sdf, NOMINAL_HU["fat"], lab["fat"], voxel)
    skin = (body_sdf > -2.0) & (body_sdf < 0)
    ct[skin] = NOMINAL_HU["skin"]
    labels[skin] = lab["body"]
    del body_sdf
    muscle_sdf = ell_sdf(L.fat_mm)
    _paint_sdf(ct, labels, muscle_sdf, NOMINAL_HU["muscle"], lab["body"], voxel)
    del muscle_sdf

    # --- thoracic cavity and the regions inside it
    cav_sdf = ell_sdf(L.fat_mm + L.wall_mm)
    below_neck = (Z < L.z_neck - 20).astype(np.float32)
    cavity = (cav_sdf < 0) & (below_neck > 0)
    del cav_sdf
    # diaphragm domes: z of the diaphragm under each point (x, y)
    dome = _diaphragm_z(X, Y, L)
    above_d = Z > dome
    # abdomen: soft tissue under the diaphragm
    abd = cavity & ~above_d
    ct[abd] = NOMINAL_HU["body"]
    labels[abd] = lab["body"]
    rel = (X - mx).astype(np.float32)

    def box(lo_w, hi_w):
        """Index slices of the grid points within the world box [lo_w, hi_w] (mm)."""
        u0 = (np.asarray(lo_w) - origin) / step
        u1 = (np.asarray(hi_w) - origin) / step
        i0 = np.clip(np.floor(np.minimum(u0, u1)).astype(int), 0, shape)
        i1 = np.clip(np.ceil(np.maximum(u0, u1)).astype(int) + 1, 0, shape)
        return tuple(slice(int(i0[d]), int(i1[d])) for d in range(3))

    def ellipsoid_paint(c, ax, hu, name, region, extra=None):
        """Paint the ellipsoid (centre c, semi-axes ax, mm) where ``region`` holds."""
        c, ax = np.asarray(c, float), np.asarray(ax, float)
        sl = box(c - ax, c + ax)
        xs, ys, zs = X[sl[0]], Y[:, sl[1]], Z[:, :, sl[2]]
        e = ((xs - c[0]) / ax[0]) ** 2 + ((ys - c[1]) / ax[1]) ** 2 + ((zs - c[2]) / ax[2]) ** 2
        m = region[sl] & (e < 1.0)
        if extra is not None:
            m &= extra(xs, ys, zs)
        ct[sl][m] = hu
        labels[sl][m] = lab[name]

    # liver: a large right lobe and a smaller left lobe under the domes (clipped by them)
    zr = L.z_dome_right
    cy0 = L.body_center_y

    def not_spine(xs, ys, zs):
        return (((xs - mx) / 34.0) ** 2 + ((ys - L.spine_y) / 30.0) ** 2) >= 1.0

    ellipsoid_paint(
        (mx - 50.0, cy0 - 5.0, zr - 70.0),
        (88, 82, 88),
        NOMINAL_HU["liver"],
        "liver",
        abd,
        not_spine,
    )
    ellipsoid_paint(
        (mx + 25.0, cy0 - 42.0, zr - 48.0),
        (68, 40, 40),
        NOMINAL_HU["liver"],
        "liver",
        abd,
        not_spine,
    )
    # kidneys: retroperitoneal, beside the spine, the right one lower
    for sgn, zk in ((-1.0, zr - 125.0), (1.0, L.z_dome_left - 100.0)):
        ellipsoid_paint(
            (mx + sgn * 62.0, L.spine_y - 2.0, zk),
            (28, 22, 55),
            NOMINAL_HU["kidneys"],
            "kidneys",
            abd,
        )
    # gastric air bubble under the left dome
    gc = np.array([mx + 62.0, L.body_center_y - 15.0, L.z_dome_left - 35.0])
    ellipsoid_paint(
        gc,
        (38, 30, 20),
        NOMINAL_HU["stomach_gas"],
        "stomach_gas",
        abd,
        lambda xs, ys, zs: zs > gc[2] - 4.0,
    )

    # mediastinal fat fills the chest cavity first; lungs and organs are carved into it
    thor = cavity & above_d
    ct[thor] = NOMINAL_HU["fat"] + 10.0
    labels[thor] = lab["fat"]

    # heart and epicardial fat (computed in the heart's bounding box)
    hc = np.asarray(L.heart_center)
    hax = np.asarray(L.heart_axes)
    R = _heart_frame()
    hb = box(hc - hax.max() - 6.0, hc + hax.max() + 6.0)
    dx, dy, dz = X[hb[0]] - hc[0], Y[:, hb[1]] - hc[1], Z[:, :, hb[2]] - hc[2]
    u = (dx * R[0, 0] + dy * R[0, 1] + dz * R[0, 2]) / hax[0]
    v = (dx * R[1, 0] + dy * R[1, 1] + dz * R[1, 2]) / hax[1]
    q = (dx * R[2, 0] + dy * R[2, 1] + dz * R[2, 2]) / hax[2]
    heart_sdf = np.full(shape, 1e3, np.float32)
    heart_sdf[hb] = (np.sqrt(u * u + v * v + q * q) - 1.0) * float(hax.min())
    del u, v, q, dx, dy, dz
    peri = (heart_sdf[hb] < 4.0) & cavity[hb]
    ct[hb][peri] = NOMINAL_HU["fat"]
    labels[hb][peri] = lab["fat"]
    heart = (heart_sdf[hb] < 0) & cavity[hb]
    ct[hb][heart] = NOMINAL_HU["heart"]
    labels[hb][heart] = lab["heart"]

    # lungs: the chest cavity minus mediastinum, heart, spine and the vessels' sleeve
    lung = thor & (heart_sdf > 5.0)
    del heart_sdf, peri, heart, hb
    zmed = (Z > L.z_carina).astype(np.float32)
    med_half = 20.0 + 6.0 * zmed  # upper mediastinum slightly wider
    lung &= np.abs(rel) > med_half
    sy = L.spine_y
    lung &= ((rel / 34.0) ** 2 + ((Y - sy) / 30.0) ** 2) > 1.0
    lung &= ~((np.abs(rel) < 34.0) & (Y > sy))
    # sternum / anterior junction
    lung &= ~((np.abs(rel) < 28.0) & (Y < L.body_center_y - L.body_b + L.fat_mm + L.wall_mm + 25))
    # lung apices: an ellipsoidal cap per side above z_lung_top − 60
    # (the cap's ellipse starts 4x too large to bind at z0 and shrinks to nothing at the top,
    # so the lung outline changes smoothly with height)
    z0 = L.z_lung_top - 80.0
    capz = np.clip((Z - z0) / (L.z_lung_top - z0), 0.0, 1.0)
    capr2 = 1.0 - capz**2
    f = 1.0 + 3.0 * (1.0 - capz) ** 2
    side = ((np.abs(rel) - 70.0) / (60.0 * f)) ** 2 + ((Y - (sy - 25.0)) / (65.0 * f)) ** 2
    lung &= (Z < z0) | (side < capr2)
    if vdist is not None:
        lung &= vdist > 6.0
    ct[lung] = NOMINAL_HU["lungs"]
    labels[lung] = lab["lungs"]
    del lung, capz, capr2, side, f

    # airway: trachea from the top down to the carina, then the main bronchi
    _paint_airway(ct, labels, L, origin, step, shape, zc, voxel)
    # esophagus: soft-tissue tube between the trachea and the spine
    es = ((X - (mx + 4.0)) / 9.0) ** 2 + ((Y - (sy - 30.0)) / 7.0) ** 2 < 1.0
    es = es & (Z > L.z_dome_left - 20.0)
    es = es & (labels != lab["airway"])
    ct[es] = NOMINAL_HU["body"]
    labels[es] = lab["body"]
    del es

    # spine, ribs, sternum, clavicles
    _paint_spine(ct, labels, L, X, Y, zc, voxel, rng)
    _paint_ribs(ct, labels, L, origin, step, shape, voxel, cavity_b=True)
    _paint_sternum(ct, labels, L, X, Y, Z, voxel)
    _paint_clavicles(ct, labels, L, origin, step, shape, voxel)

    # textures: smooth noise scaled per tissue (HU standard deviation per label)
    noise = _smooth_noise(shape, rng, cell=6.0, spacing=step)
    sd = np.zeros(256, np.float32)
    sd[lab["lungs"]] = 30.0
    sd[lab["fat"]] = 10.0
    sd[lab["body"]] = 8.0
    sd[lab["liver"]] = 6.0
    sd[lab["kidneys"]] = 6.0
    sd[lab["heart"]] = 5.0
    sd[lab["spine"]] = 40.0
    sd[lab["ribs"]] = 30.0
    sd[lab["sternum"]] = 30.0
    sd[lab["clavicles"]] = 30.0
    ct += noise * sd[labels]
    del noise

    # vessels last: blood lumen, with a soft-tissue sleeve (wall) around it
    if lumen_lab is not None:
        sleeve = (vdist < 2.5) & (labels != 0) & (lumen_lab == 0)
        sleeve &= np.isin(labels, [lab["lungs"], lab["fat"], lab["airway"]])
        ct[sleeve] = NOMINAL_HU["body"]
        labels[sleeve] = lab["body"]
        inl = lumen_lab > 0
        ct[inl] = NOMINAL_HU["aorta"]
        labels[inl] = lumen_lab[inl]

    ct_hu = np.clip(np.rint(ct), -1024, 3071).astype(np.int16)
    present = set(np.unique(labels).tolist()) - {0}
    names = {v[0]: n for n, v in STANDARD_LABELS.items()}
    unknown = present - set(names)
    if unknown:
        raise ValueError(f"lumen labels {sorted(unknown)} are not standard labels")
    return ct_hu, labels, standard_structures(names[v] for v in sorted(present))


def _lumen_distance(mask: NDArray[np.bool_], step: NDArray) -> NDArray[np.float32]:
    """Distance (mm) to the lumen, computed in the lumen's bounding box grown by 12 mm."""
    out = np.full(mask.shape, 1e3, np.float32)
    idx = np.argwhere(mask)
    pad = np.ceil(12.0 / np.abs(step)).astype(int)
    lo = np.maximum(idx.min(0) - pad, 0)
    hi = np.minimum(idx.max(0) + pad + 1, mask.shape)
    sl = tuple(slice(lo[d], hi[d]) for d in range(3))
    d = ndimage.distance_transform_edt(~mask[sl], sampling=np.abs(step))
    out[sl] = d.astype(np.float32)
    out[mask] = 0.0
    return out


def _diaphragm_z(X, Y, L: ThoraxLayout):
    """z (mm) of the diaphragm under (x, y): two paraboloid domes, the right one higher."""
    rel = X - L.midline_x
    cy = L.body_center_y
    right = L.z_dome_right - 0.0055 * ((rel + 65.0) ** 2 + 0.8 * (Y - cy) ** 2)
    left = L.z_dome_left - 0.0055 * ((rel - 65.0) ** 2 + 0.8 * (Y - cy) ** 2)
    # central tendon: the two domes meet under the heart
    return np.maximum(right, left).astype(np.float32)


def _heart_frame() -> NDArray[np.float64]:
    """Rows: heart long axis (base → apex: left, anterior, inferior), and two short axes."""
    e1 = np.array([0.55, -0.45, -0.70])
    e1 /= np.linalg.norm(e1)
    t = np.array([0.0, 0.0, 1.0])
    e2 = np.cross(e1, t)
    e2 /= np.linalg.norm(e2)
    e3 = np.cross(e1, e2)
    return np.stack([e1, e2, e3])


def _paint_airway(ct, labels, L, origin, step, shape, zc, voxel):
    tx, ty = L.trachea_xy
    ztop = float(zc.max()) + 10.0
    zcar = L.z_carina
    trachea = np.array([[tx, ty - 8.0, ztop], [tx, ty, zcar + 40.0], [tx, ty + 4.0, zcar]])
    rb = np.array([tx, ty + 4.0, zcar]) + np.array([[0, 0, 0], [-18, 6, -15], [-32, 10, -40]])
    lb = np.array([tx, ty + 4.0, zcar]) + np.array([[0, 0, 0], [22, 6, -12], [42, 12, -35]])
    lines = [trachea, rb, lb]
    radii = [np.array([8.5, 8.5, 8.5]), np.array([7.0, 6.5, 5.0]), np.array([6.5, 6.0, 4.5])]
    sdf = capsule_sdf_on_grid(lines, radii, origin=origin, step=step, shape=shape, margin=3.0)
    wall = (sdf < 2.0) & (labels != 0)
    ct[wall] = NOMINAL_HU["body"] + 30.0
    labels[wall] = label_of("body")
    _paint_sdf(ct, labels, sdf, NOMINAL_HU["airway"], label_of("airway"), voxel, where=labels != 0)


def _vertebra_levels(zmin, zmax, L: ThoraxLayout):
    """Vertebral bodies as (z0, z1) intervals (mm), discs in the gaps; T4's body ends at z_ref − 22."""

    def period(z):
        w = _smoothstep((z - (L.z_ref + 70.0)) / 30.0)  # thoracic -> cervical
        wl = _smoothstep(((L.z_ref - 215.0) - z) / 30.0)  # -> lumbar below T12
        return 20.0 * (1 - w) + 13.0 * w + 7.0 * wl, 5.0 * (1 - w) + 3.5 * w + 4.0 * wl

    out = []
    z0 = L.z_ref - 22.0
    while z0 < zmax + 30.0:  # upwards
        body, disc = period(z0)
        out.append((z0 - 0.0, z0 + body))
        z0 += body + disc
    z = L.z_ref - 22.0
    while z > zmin - 30.0:  # downwards
        body, disc = period(z)
        z1 = z - disc
        out.append((z1 - body, z1))
        z = z1 - body
    return sorted(out)


def _paint_spine(ct, labels, L, X, Y, zc, voxel, rng):
    mx = L.midline_x
    levels = _vertebra_levels(zc.min(), zc.max(), L)
    Xs = X[:, :, 0]
    Ys = Y[:, :, 0]
    lab_sp, lab_disc, lab_can = (
        label_of("spine"),
        label_of("intervertebral_discs"),
        label_of("spinal_canal"),
    )
    cort, canc = NOMINAL_HU["cortical_bone"], NOMINAL_HU["cancellous_bone"]
    for k, z in enumerate(zc):
        w = float(_smoothstep((z - (L.z_ref + 70.0)) / 30.0))
        wl = float(_smoothstep(((L.z_ref - 215.0) - z) / 30.0))
        sy = L.spine_y * (1 - w) + (L.spine_y - 10.0) * w
        r_vb = 16.0 + (L.z_ref - z) * 0.025
        r_vb = float(np.clip(r_vb, 15.0, 22.0)) * (1 - w) + 9.5 * w + 2.0 * wl
        # which body or disc is this slice in?
        in_body, d_end = False, 0.0
        for z0, z1 in levels:
            if z0 <= z <= z1:
                in_body, d_end = True, min(z - z0, z1 - z)
                break
        r = np.sqrt((Xs - mx) ** 2 + ((Ys - sy) / 0.85) ** 2)
        sdf2 = r - r_vb
        sl_ct = ct[:, :, k]
        sl_lab = labels[:, :, k]
        if in_body:
            inner = canc if d_end > 1.5 else cort
            hu = np.where(sdf2 < -1.6, inner, cort).astype(np.float32)
            frac = np.clip(0.5 - sdf2 / voxel, 0, 1)
            sl_ct += frac * (hu - sl_ct)
            sl_lab[frac >= 0.5] = lab_sp
        else:
            frac = np.clip(0.5 - sdf2 / voxel, 0, 1)
            sl_ct += frac * (NOMINAL_HU["intervertebral_discs"] - sl_ct)
            sl_lab[frac >= 0.5] = lab_disc
        # neural arch (pedicles + lamina), processes, canal: present over most of each level
        cc = sy + r_vb * 0.85 + 8.0 * (1 - w) + 6.0 * w
        rc = 8.0 * (1 - w) + 7.0 * w
        ra = rc + 5.5
        rr = np.sqrt((Xs - mx) ** 2 + (Ys - cc) ** 2)
        arch = (rr < ra) & (rr >= rc) & in_body
        proc = np.zeros_like(arch)
        if in_body and d_end > 3.0:
            spl = 26.0 * (1 - w) + 18.0 * w
            proc |= (np.abs(Xs - mx) < 3.5) & (Ys > cc + rc) & (Ys < cc + rc + spl)
            tl = 34.0 * (1 - w) + 26.0 * w
            proc |= (np.abs(Ys - cc + 2.0) < 4.5) & (np.abs(Xs - mx) > rc) & (np.abs(Xs - mx) < tl)
        bone = arch | proc
        sl_ct[bone] = 650.0
        sl_lab[bone] = lab_sp
        canal = rr < rc
        sl_ct[canal] = NOMINAL_HU["spinal_canal"]
        sl_lab[canal] = lab_can


def _rib_curves(L: ThoraxLayout):
    """Centerlines (LPS mm) and radii of the 12 rib pairs and the costal cartilages."""
    mx = L.midline_x
    ribs, rib_r, cart, cart_r = [], [], [], []
    # height of rib k's head: T1 at z_ref + 62 ... one vertebral period (25 mm) apart
    for k in range(1, 13):
        zh = L.z_ref + 62.0 - (k - 1) * 24.5
        scale = {1: 0.50, 2: 0.72, 3: 0.86, 4: 0.95}.get(k, 1.0)
        if k >= 10:
            scale = 1.0 - 0.02 * (k - 9)
        a = (L.body_a - L.fat_mm - L.wall_mm * 0.5) * scale
        b = (L.body_b - L.fat_mm - L.wall_mm * 0.5) * (0.75 + 0.25 * scale)
        cy = L.body_center_y + (1 - scale) * 25.0
        psi_end = {11: 1.85, 12: 1.45}.get(k, 2.45 if k <= 7 else 2.3)
        drop = {1: 22.0, 2: 45.0}.get(k, 62.0 if k <= 9 else 40.0)
        psi = np.linspace(0.32, psi_end, 14)
        for s in (-1.0, 1.0):
            head = np.array([mx + s * 14.0, L.spine_y + 2.0, zh])
            x = mx + s * a * np.sin(psi)
            y = cy + b * np.cos(psi)
            z = zh - drop * _smoothstep(psi / np.pi) - 4.0
            pts = np.vstack([head, np.stack([x, y, z], 1)])
            ribs.append(pts)
            rib_r.append(np.linspace(5.2, 4.3, len(pts)))
            if k <= 10:
                # cartilage from the rib end to the sternum edge (ribs 8–10 end short of it)
                end = pts[-1]
                zst = max(min(end[2] + (12.0 if k <= 7 else 4.0), L.z_notch - 10.0), L.z_ref - 160)
                if k <= 7:
                    tip = np.array([mx + s * 16.0, _sternum_y(L) + 2.0, zst])
                else:
                    tip = end + np.array([-s * 35.0, -10.0, 14.0])
                mid = 0.5 * (end + tip) + np.array([0.0, -6.0, -6.0])
                cart.append(np.stack([end, mid, tip]))
                cart_r.append(np.array([4.3, 4.0, 3.8]))
    return ribs, rib_r, cart, cart_r


def _sternum_y(L: ThoraxLayout) -> float:
    return L.body_center_y - L.body_b + L.fat_mm + 9.0


def _paint_bone_capsules(ct, labels, sdf, label, voxel):
    """Cortical shell (≈ 1.5 mm) around a cancellous core, anti-aliased at the surface."""
    hu = np.where(sdf < -1.6, NOMINAL_HU["cancellous_bone"] + 50.0, NOMINAL_HU["cortical_bone"])
    _paint_sdf(ct, labels, sdf, hu.astype(np.float32), label, voxel)


def _paint_ribs(ct, labels, L, origin, step, shape, voxel, cavity_b=True):
    ribs, rr, cart, cr = _rib_curves(L)
    box = _bbox_slices(ribs, rr, origin, step, shape, pad=3.0)
    if box is not None:
        sl, o = box
        sub_shape = tuple(s.stop - s.start for s in sl)
        sdf = capsule_sdf_on_grid(ribs, rr, origin=o, step=step, shape=sub_shape, margin=2.0)
        _paint_bone_capsules(ct[sl], labels[sl], sdf, label_of("ribs"), voxel)
    box = _bbox_slices(cart, cr, origin, step, shape, pad=3.0)
    if box is not None:
        sl, o = box
        sub_shape = tuple(s.stop - s.start for s in sl)
        sdf = capsule_sdf_on_grid(cart, cr, origin=o, step=step, shape=sub_shape, margin=2.0)
        _paint_sdf(
            ct[sl],
            labels[sl],
            sdf,
            NOMINAL_HU["costal_cartilage"],
            label_of("costal_cartilage"),
            voxel,
        )


def _bbox_slices(lines, radii, origin, step, shape, *, pad):
    """Index slices of the grid box holding the tubes (None if outside) and its origin."""
    pts = np.concatenate(lines)
    r = max(float(np.max(x)) for x in radii) + pad
    lo_w, hi_w = pts.min(0) - r, pts.max(0) + r
    u0 = (lo_w - origin) / step
    u1 = (hi_w - origin) / step
    lo = np.maximum(np.floor(np.minimum(u0, u1)).astype(int), 0)
    hi = np.minimum(np.ceil(np.maximum(u0, u1)).astype(int) + 1, shape)
    if (hi <= lo).any():
        return None
    sl = tuple(slice(int(lo[d]), int(hi[d])) for d in range(3))
    return sl, origin + step * lo


def _paint_sternum(ct, labels, L, X, Y, Z, voxel):
    mx = L.midline_x
    ys = _sternum_y(L)
    ztop, zbot = L.z_notch, L.z_ref - 165.0
    zz = Z[0, 0, :]
    ks = np.nonzero((zz > zbot - 3) & (zz < ztop + 3))[0]
    if len(ks) == 0:
        return
    k0, k1 = ks.min(), ks.max() + 1
    Zs = Z[:, :, k0:k1]
    manub = (Zs > ztop - 50.0).astype(np.float32)
    half_w = 13.0 + 12.0 * manub  # manubrium wider
    half_t = 6.0
    # rounded box SDF in x-y, capped in z
    qx = np.abs(X - mx) - half_w
    qy = np.abs(Y - ys) - half_t
    qz = np.maximum(Zs - ztop, zbot - Zs)
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2 + np.maximum(qz, 0) ** 2)
    inside = np.minimum(np.maximum(np.maximum(qx, qy), qz), 0)
    sdf = (outside + inside).astype(np.float32)
    _paint_bone_capsules(ct[:, :, k0:k1], labels[:, :, k0:k1], sdf, label_of("sternum"), voxel)


def _paint_clavicles(ct, labels, L, origin, step, shape, voxel):
    mx = L.midline_x
    ys = _sternum_y(L)
    lines, radii = [], []
    for s in (-1.0, 1.0):
        c = np.array(
            [
                [mx + s * 24.0, ys - 2.0, L.z_notch + 2.0],
                [mx + s * 60.0, ys - 6.0, L.z_notch + 6.0],
                [mx + s * 100.0, ys + 12.0, L.z_notch + 12.0],
                [mx + s * 135.0, L.body_center_y + 20.0, L.z_notch + 18.0],
            ]
        )
        pts, _ = smooth_curve(c, step=4.0)
        lines.append(pts)
        radii.append(np.full(len(pts), 6.5))
    box = _bbox_slices(lines, radii, origin, step, shape, pad=3.0)
    if box is None:
        return
    sl, o = box
    sub_shape = tuple(s.stop - s.start for s in sl)
    sdf = capsule_sdf_on_grid(lines, radii, origin=o, step=step, shape=sub_shape, margin=2.0)
    _paint_bone_capsules(ct[sl], labels[sl], sdf, label_of("clavicles"), voxel)
