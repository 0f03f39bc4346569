"""Exact chord lengths of detector rays through chains of capsules (devices, contrast-filled lumen).

A device (guidewire, catheter, needle) is a polyline with a radius: a union of capsules (a
cylinder per segment with hemispherical caps). A capsule is convex, so a ray meets it in one
interval: the union of the ray's intervals with its cylinder (clipped to the segment) and with
its two end spheres. A polyline's capsules overlap at the joints; per ray the intervals of all
segments are merged, so the chord is the length of the union, exact at any resolution.

Sparse: each segment's capsule is projected to a pixel bounding box and only those rays are
tested; pairs are grouped per pixel and merged. Anti-aliasing (``antialias=True``): a capsule
thinner than the pixel footprint w at its depth (w = pixel · depth / SID) is drawn with a tent
profile instead, chord(d) = π r² / (w sin θ) · max(0, 1 − d / w), d the distance of the ray from
the segment and θ the ray–axis angle. Rays sit w apart at that depth and a tent of half-width w
is a partition of unity, so the summed chord × pixel area equals the wire's volume π r² L for any
sub-pixel position: a 0.35 mm wire never vanishes between rays nor flickers as it moves. With
``antialias=False`` (or r ≥ w) chords are exact per ray.

Frame: patient LPS, mm. The kernels are pure numba functions; ``chords_reference`` is their
dense numpy oracle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DeviceShape",
    "capsule_interval",
    "chords_reference",
    "device_shapes",
    "polyline_chords",
]


@dataclass(frozen=True)
class DeviceShape:
    """A device as the imager sees it: a polyline with radius and material.

    Attributes
    ----------
    points : ndarray, shape (N, 3)
        Centerline (mm, LPS), proximal → distal (the tip is ``points[-1]``).
    radius : float or ndarray, shape (N,)
        Outer radius (mm), e.g. 0.178 for a 0.014" wire, 0.445 for a 0.035" wire.
    material : str
        A material of :data:`igtwin.anatomies.MATERIALS` (``nitinol``, ``platinum``,
        ``stainless_steel``, ``polymer``, ``polymer_barium`` ...).
    fill : float, default: 1.0
        Volume fraction of the material inside the wall (e.g. < 1 for a braided wall; 1 for a
        solid wire).
    name : str, default: ""
        Label for ground-truth masks.
    inner_radius : float or ndarray, shape (N,), default: 0
        Lumen radius (mm) of a tube (catheter, sheath, needle cannula); the chord through the
        lumen is subtracted, so a catheter shows its two walls.
    """

    points: NDArray[np.float64]
    radius: float | NDArray[np.float64]
    material: str = "nitinol"
    fill: float = 1.0
    name: str = ""
    inner_radius: float | NDArray[np.float64] = 0.0

    def __post_init__(self) -> None:
        p = np.asarray(self.points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3 or len(p) < 1 or not np.isfinite(p).all():
            raise ValueError(f"device `points` must be finite (N>=1, 3) LPS mm, got {p.shape}")
        r = np.broadcast_to(np.asarray(self.radius, dtype=np.float64), (len(p),)).copy()
        if not (np.isfinite(r).all() and (r > 0).all()):
            raise ValueError(f"device `radius` must be > 0 mm, got {self.radius}")
        if not 0 < self.fill <= 1:
            raise ValueError(f"device `fill` must be in (0, 1], got {self.fill}")
        ri = np.broadcast_to(np.asarray(self.inner_radius, dtype=np.float64), (len(p),)).copy()
        if not (np.isfinite(ri).all() and (ri >= 0).all() and (ri < r).all()):
            raise ValueError(
                f"device `inner_radius` must be in [0, radius) mm, got {self.inner_radius}"
            )
        object.__setattr__(self, "points", p)
        object.__setattr__(self, "radius", r)
        object.__setattr__(self, "inner_radius", ri)

    @classmethod
    def coerce(cls, obj) -> DeviceShape:
        """Accept a DeviceShape or any object with ``points``, ``radius``/``radii`` and
        ``material`` attributes (e.g. the device layer's geometry)."""
        if isinstance(obj, cls):
            return obj
        pts = getattr(obj, "points", None)
        rad = getattr(obj, "radius", getattr(obj, "radii", None))
        mat = getattr(obj, "material", None)
        if pts is None or rad is None or mat is None:
            raise TypeError(
                f"a device needs `points`, `radius` (or `radii`) and `material`; got {type(obj)!r}"
            )
        return cls(
            points=pts,
            radius=rad,
            material=str(mat),
            fill=float(getattr(obj, "fill", 1.0)),
            name=str(getattr(obj, "name", "")),
            inner_radius=getattr(obj, "inner_radius", 0.0),
        )

    @property
    def hollow(self) -> bool:
        """True for a tube (some inner radius > 0)."""
        return bool((self.inner_radius > 0).any())

    def inner_segments(self) -> tuple[NDArray, NDArray, NDArray]:
        """(a, b, r_inner) of the lumen, as :meth:`segments`."""
        a, b, _ = self.segments()
        ri = self.inner_radius
        r = ri[:1].copy() if len(ri) == 1 else 0.5 * (ri[:-1] + ri[1:])
        return a, b, np.maximum(r, 1e-6)

    def segments(self) -> tuple[NDArray, NDArray, NDArray]:
        """(a, b, r): segment ends (S, 3) and radii (S,) (mean of the ends); a single point is a
        sphere (a zero-length segment)."""
        p = self.points
        if len(p) == 1:
            return p.copy(), p.copy(), self.radius[:1].copy()
        return p[:-1].copy(), p[1:].copy(), 0.5 * (self.radius[:-1] + self.radius[1:])


def device_shapes(
    points: NDArray, radius, materials, *, name: str = "", inner_radius=0.0
) -> list[DeviceShape]:
    """Split a device polyline into one :class:`DeviceShape` per run of equal material.

    Parameters
    ----------
    points : ndarray, shape (N, 3)
        Centerline (mm, LPS), proximal → distal.
    radius : float or ndarray, shape (N,)
        Outer radius (mm).
    materials : sequence of str, length N
        Material at each node (e.g. from ``DeviceSpec.material_at``).
    name : str
        Device name; the pieces are named ``name`` (the one holding the tip) and
        ``name:k`` for the others.
    inner_radius : float or ndarray, shape (N,), default: 0
        Lumen radius (mm) of a tube (e.g. ``DeviceSpec.inner_diameter / 2`` of a catheter).

    Returns
    -------
    list of DeviceShape
        Consecutive pieces share their boundary node, so the polyline stays closed.
    """
    p = np.asarray(points, dtype=np.float64)
    r = np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(p),))
    mats = [str(m) for m in materials]
    if len(mats) != len(p):
        raise ValueError(f"`materials` needs one entry per point ({len(p)}), got {len(mats)}")
    ri = np.broadcast_to(np.asarray(inner_radius, dtype=np.float64), (len(p),))
    cuts = [0] + [i for i in range(1, len(p)) if mats[i] != mats[i - 1]] + [len(p)]
    out = []
    for k in range(len(cuts) - 1):
        lo, hi = max(cuts[k] - 1, 0), cuts[k + 1]
        last = k == len(cuts) - 2
        out.append(
            DeviceShape(
                p[lo:hi],
                r[lo:hi],
                mats[cuts[k]],
                name=name if last else f"{name}:{k}",
                inner_radius=ri[lo:hi],
            )
        )
    return out


# ------------------------------------------------------------------------------ kernels


@nb.njit(cache=True, fastmath=True)
def capsule_interval(ox, oy, oz, dx, dy, dz, ax, ay, az, bx, by, bz, r):
    """Entry/exit parameters (t0, t1) of the ray o + t d (|d| = 1) in the capsule (a, b, r);
    t1 ≤ t0 when the ray misses."""
    t_lo = 1e30
    t_hi = -1e30
    r2 = r * r
    # spheres at both ends
    for k in range(2):
        cx = ax if k == 0 else bx
        cy = ay if k == 0 else by
        cz = az if k == 0 else bz
        px, py, pz = ox - cx, oy - cy, oz - cz
        bq = px * dx + py * dy + pz * dz
        cq = px * px + py * py + pz * pz - r2
        disc = bq * bq - cq
        if disc > 0.0:
            s = math.sqrt(disc)
            t_lo = min(t_lo, -bq - s)
            t_hi = max(t_hi, -bq + s)
    # cylinder between the end planes
    wx, wy, wz = bx - ax, by - ay, bz - az
    ln = math.sqrt(wx * wx + wy * wy + wz * wz)
    if ln > 1e-12:
        wx /= ln
        wy /= ln
        wz /= ln
        px, py, pz = ox - ax, oy - ay, oz - az
        dw = dx * wx + dy * wy + dz * wz
        pw = px * wx + py * wy + pz * wz
        qx, qy, qz = dx - dw * wx, dy - dw * wy, dz - dw * wz
        sx, sy, sz = px - pw * wx, py - pw * wy, pz - pw * wz
        aq = qx * qx + qy * qy + qz * qz
        bq = sx * qx + sy * qy + sz * qz
        cq = sx * sx + sy * sy + sz * sz - r2
        if aq > 1e-18:
            disc = bq * bq - aq * cq
            if disc > 0.0:
                s = math.sqrt(disc)
                c0 = (-bq - s) / aq
                c1 = (-bq + s) / aq
                # axial slab 0 <= pw + t dw <= ln
                if abs(dw) > 1e-15:
                    a0 = (0.0 - pw) / dw
                    a1 = (ln - pw) / dw
                    if a0 > a1:
                        a0, a1 = a1, a0
                    c0 = max(c0, a0)
                    c1 = min(c1, a1)
                elif pw < 0.0 or pw > ln:
                    c1 = c0 - 1.0
                if c1 > c0:
                    t_lo = min(t_lo, c0)
                    t_hi = max(t_hi, c1)
    return t_lo, t_hi


@nb.njit(cache=True, fastmath=True)
def thin_interval(ox, oy, oz, dx, dy, dz, ax, ay, az, bx, by, bz, r, w):
    """Anti-aliased pseudo-interval of a thin capsule (r < w): centred on the ray's closest
    approach to the segment, of length π r² / (w sin θ) · max(0, 1 − d / w) (capped at the
    segment length + 2 r); t1 ≤ t0 when the ray passes farther than w."""
    ex, ey, ez = bx - ax, by - ay, bz - az
    ln2 = ex * ex + ey * ey + ez * ez
    px, py, pz = ax - ox, ay - oy, az - oz
    de = dx * ex + dy * ey + dz * ez
    dp = dx * px + dy * py + dz * pz
    ep = ex * px + ey * py + ez * pz
    den = ln2 - de * de  # |e|² sin²θ
    if ln2 < 1e-18:
        sc = 0.0
    elif den > 1e-12 * ln2:
        sc = min(max((de * dp - ep) / den, 0.0), 1.0)
    else:
        sc = 0.0
    cx, cy, cz = px + sc * ex, py + sc * ey, pz + sc * ez  # segment point rel. to origin
    tc = cx * dx + cy * dy + cz * dz
    qx, qy, qz = cx - tc * dx, cy - tc * dy, cz - tc * dz
    dist = math.sqrt(qx * qx + qy * qy + qz * qz)
    if dist >= w:
        return 0.0, -1.0
    ln = math.sqrt(ln2)
    sin_t = math.sqrt(max(den, 0.0)) / ln if ln > 1e-9 else 1.0
    c = math.pi * r * r / (w * max(sin_t, 1e-6)) * (1.0 - dist / w)
    c = min(c, ln + 2.0 * r)
    return tc - 0.5 * c, tc + 0.5 * c


@nb.njit(cache=True)
def _project(x, y, z, src, u, v, beam, sid, px, h, w):
    rx, ry, rz = x - src[0], y - src[1], z - src[2]
    depth = rx * beam[0] + ry * beam[1] + rz * beam[2]
    if depth <= 1e-6:
        return -1e9, -1e9, depth
    s = sid / depth
    cu = (rx * u[0] + ry * u[1] + rz * u[2]) * s / px + 0.5 * (w - 1)
    cv = (rx * v[0] + ry * v[1] + rz * v[2]) * s / px + 0.5 * (h - 1)
    return cu, cv, depth


@nb.njit(cache=True)
def _pairs(a, b, r, src, u, v, beam, sid, px, h, w, antialias, r_eff, foot, box, seg2d):
    """Per-segment pixel boxes (S, 4) = (c0, c1, r0, r1) inclusive, effective radii, weights."""
    n = a.shape[0]
    total = 0
    for s in range(n):
        ua, va, da = _project(a[s, 0], a[s, 1], a[s, 2], src, u, v, beam, sid, px, h, w)
        ub, vb, db = _project(b[s, 0], b[s, 1], b[s, 2], src, u, v, beam, sid, px, h, w)
        dmin = min(da, db)
        if dmin <= 1e-6:
            box[s, 0] = 1
            box[s, 1] = 0
            continue
        re = r[s]
        if antialias:
            fw = px * (0.5 * (da + db)) / sid  # pixel footprint at the segment's depth
            if re < fw:
                re = fw
                foot[s] = fw
        r_eff[s] = re
        rp = 1.05 * re * sid / dmin / px + 1.5  # 1.05: obliquity of rays off the axis
        c0 = max(int(math.floor(min(ua, ub) - rp)), 0)
        c1 = min(int(math.ceil(max(ua, ub) + rp)), w - 1)
        r0 = max(int(math.floor(min(va, vb) - rp)), 0)
        r1 = min(int(math.ceil(max(va, vb) + rp)), h - 1)
        box[s, 0], box[s, 1], box[s, 2], box[s, 3] = c0, c1, r0, r1
        seg2d[s, 0], seg2d[s, 1], seg2d[s, 2], seg2d[s, 3], seg2d[s, 4] = ua, va, ub, vb, rp
        if c1 >= c0 and r1 >= r0:
            total += (c1 - c0 + 1) * (r1 - r0 + 1)
    return total


def _intervals_py(a, b, r, foot, box, seg2d, starts, src, det, u, v, px, h, w, pix, t0, t1):
    n = a.shape[0]
    for s in nb.prange(n):
        c0, c1, r0, r1 = box[s, 0], box[s, 1], box[s, 2], box[s, 3]
        if c1 < c0 or r1 < r0:
            continue
        q = starts[s]
        ua, va, ub, vb, rp = seg2d[s, 0], seg2d[s, 1], seg2d[s, 2], seg2d[s, 3], seg2d[s, 4]
        eu, ev = ub - ua, vb - va
        e2 = eu * eu + ev * ev
        for row in range(r0, r1 + 1):
            oy = (row - 0.5 * (h - 1)) * px
            for col in range(c0, c1 + 1):
                # cheap 2-D rejection: pixel farther than the projected radius from the segment
                f = 0.0
                if e2 > 1e-12:
                    f = min(max(((col - ua) * eu + (row - va) * ev) / e2, 0.0), 1.0)
                du = col - ua - f * eu
                dv = row - va - f * ev
                pix[q] = row * w + col
                if du * du + dv * dv > rp * rp:
                    t0[q] = 0.0
                    t1[q] = -1.0
                    q += 1
                    continue
                ox = (col - 0.5 * (w - 1)) * px
                tx = det[0] + ox * u[0] + oy * v[0] - src[0]
                ty = det[1] + ox * u[1] + oy * v[1] - src[1]
                tz = det[2] + ox * u[2] + oy * v[2] - src[2]
                nrm = math.sqrt(tx * tx + ty * ty + tz * tz)
                ddx, ddy, ddz = tx / nrm, ty / nrm, tz / nrm
                if foot[s] > 0.0:
                    lo, hi = thin_interval(
                        src[0],
                        src[1],
                        src[2],
                        ddx,
                        ddy,
                        ddz,
                        a[s, 0],
                        a[s, 1],
                        a[s, 2],
                        b[s, 0],
                        b[s, 1],
                        b[s, 2],
                        r[s],
                        foot[s],
                    )
                else:
                    lo, hi = capsule_interval(
                        src[0],
                        src[1],
                        src[2],
                        ddx,
                        ddy,
                        ddz,
                        a[s, 0],
                        a[s, 1],
                        a[s, 2],
                        b[s, 0],
                        b[s, 1],
                        b[s, 2],
                        r[s],
                    )
                t0[q] = lo
                t1[q] = hi
                q += 1


_intervals_serial = nb.njit(cache=True)(_intervals_py)
_intervals_parallel = nb.njit(cache=True, parallel=True)(_intervals_py)
#: pairs above which the interval kernel runs on all threads (small jobs stay serial: thread
#: start-up and oversubscription on a shared machine cost more than they save)
PARALLEL_PAIRS = 50_000


@nb.njit(cache=True)
def _merge(pix, seg, t0, t1, weight, npix, out_pix, out_val):
    """Group (pixel, interval) pairs per pixel; union length × length-weighted mean weight."""
    m = pix.shape[0]
    nv = 0
    for q in range(m):
        if t1[q] > t0[q]:
            nv += 1
    valid = np.empty(nv, np.int64)
    keys = np.empty(nv, np.int64)
    j = 0
    for q in range(m):
        if t1[q] > t0[q]:
            valid[j] = q
            keys[j] = pix[q]
            j += 1
    srt = np.argsort(keys, kind="mergesort")
    order = valid[srt]
    starts = np.empty(nv + 1, np.int64)
    ng = 0
    for j in range(nv):
        if j == 0 or keys[srt[j]] != keys[srt[j - 1]]:
            starts[ng] = j
            ng += 1
    starts[ng] = nv
    n_out = 0
    buf_lo = np.empty(64, np.float64)
    buf_hi = np.empty(64, np.float64)
    buf_w = np.empty(64, np.float64)
    for g in range(ng):
        k0, k1 = starts[g], starts[g + 1]
        p = pix[order[k0]]
        nk = k1 - k0
        if nk > buf_lo.shape[0]:
            buf_lo = np.empty(2 * nk, np.float64)
            buf_hi = np.empty(2 * nk, np.float64)
            buf_w = np.empty(2 * nk, np.float64)
        for j in range(nk):
            q = order[k0 + j]
            buf_lo[j] = t0[q]
            buf_hi[j] = t1[q]
            buf_w[j] = weight[seg[q]]
        # insertion sort by entry
        for j in range(1, nk):
            lo, hi, ww = buf_lo[j], buf_hi[j], buf_w[j]
            i = j - 1
            while i >= 0 and buf_lo[i] > lo:
                buf_lo[i + 1], buf_hi[i + 1], buf_w[i + 1] = buf_lo[i], buf_hi[i], buf_w[i]
                i -= 1
            buf_lo[i + 1], buf_hi[i + 1], buf_w[i + 1] = lo, hi, ww
        union = 0.0
        cur_lo, cur_hi = buf_lo[0], buf_hi[0]
        wsum = 0.0
        lsum = 0.0
        for j in range(nk):
            ln = buf_hi[j] - buf_lo[j]
            wsum += ln * buf_w[j]
            lsum += ln
            if j == 0:
                continue
            if buf_lo[j] > cur_hi:
                union += cur_hi - cur_lo
                cur_lo, cur_hi = buf_lo[j], buf_hi[j]
            elif buf_hi[j] > cur_hi:
                cur_hi = buf_hi[j]
        union += cur_hi - cur_lo
        out_pix[n_out] = p
        out_val[n_out] = union * (wsum / lsum if lsum > 0 else 0.0)
        n_out += 1
    return n_out


def polyline_chords(
    a: NDArray,
    b: NDArray,
    r: NDArray,
    *,
    source: NDArray,
    detector_center: NDArray,
    u_axis: NDArray,
    v_axis: NDArray,
    beam: NDArray,
    sid: float,
    pixel_mm: float,
    shape: tuple[int, int],
    weight: NDArray | None = None,
    antialias: bool = True,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Union chord (mm) of each detector ray through a set of capsules, sparse.

    Parameters
    ----------
    a, b : ndarray, shape (S, 3)
        Segment ends (mm, LPS).
    r : ndarray, shape (S,)
        Radii (mm).
    source, detector_center, u_axis, v_axis, beam : ndarray, shape (3,)
        C-arm pose (see :class:`CArmPose`).
    sid : float
        Source–image distance (mm).
    pixel_mm : float
        Output pixel size at the detector (mm).
    shape : (int, int)
        Output image (H, W).
    weight : ndarray, shape (S,), optional
        Per-segment multiplier (e.g. iodine density); the result is union length × the
        length-weighted mean weight of the intervals that make it up. Default 1.
    antialias : bool, default: True
        Tent profile for capsules thinner than the pixel footprint (module docstring).

    Returns
    -------
    pix : ndarray, shape (M,), int64
        Flat pixel indices (row · W + col) with a non-zero chord.
    value : ndarray, shape (M,)
        Chord (mm) × weight.
    """
    a = np.ascontiguousarray(a, dtype=np.float64).reshape(-1, 3)
    b = np.ascontiguousarray(b, dtype=np.float64).reshape(-1, 3)
    r = np.ascontiguousarray(np.broadcast_to(np.asarray(r, np.float64), (len(a),)))
    h, w = int(shape[0]), int(shape[1])
    wt = np.ones(len(a)) if weight is None else np.ascontiguousarray(weight, dtype=np.float64)
    src = np.asarray(source, np.float64)
    det = np.asarray(detector_center, np.float64)
    u = np.asarray(u_axis, np.float64)
    v = np.asarray(v_axis, np.float64)
    bm = np.asarray(beam, np.float64)
    if len(a) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    box = np.zeros((len(a), 4), np.int64)
    r_eff = np.zeros(len(a))
    foot = np.zeros(len(a))
    seg2d = np.zeros((len(a), 5))
    total = _pairs(
        a,
        b,
        r,
        src,
        u,
        v,
        bm,
        float(sid),
        float(pixel_mm),
        h,
        w,
        bool(antialias),
        r_eff,
        foot,
        box,
        seg2d,
    )
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    sizes = np.where(
        (box[:, 1] >= box[:, 0]) & (box[:, 3] >= box[:, 2]),
        (box[:, 1] - box[:, 0] + 1) * (box[:, 3] - box[:, 2] + 1),
        0,
    )
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    pix = np.zeros(total, np.int64)
    t0 = np.zeros(total)
    t1 = np.full(total, -1.0)
    kern = _intervals_parallel if total > PARALLEL_PAIRS else _intervals_serial
    kern(a, b, r, foot, box, seg2d, starts, src, det, u, v, float(pixel_mm), h, w, pix, t0, t1)
    seg = np.repeat(np.arange(len(a)), sizes)
    out_pix = np.zeros(min(total, h * w), np.int64)
    out_val = np.zeros(min(total, h * w))
    n = _merge(pix, seg, t0, t1, wt, h * w, out_pix, out_val)
    return out_pix[:n], out_val[:n]


def chords_reference(
    a: NDArray, b: NDArray, r: NDArray, origins: NDArray, directions: NDArray
) -> NDArray[np.float64]:
    """Dense numpy oracle: union chord (mm) of each ray (origin (P, 3), unit direction (P, 3))
    through the capsules (a, b, r), no anti-aliasing."""
    o = np.asarray(origins, np.float64).reshape(-1, 3)
    d = np.asarray(directions, np.float64).reshape(-1, 3)
    out = np.zeros(len(o))
    for p in range(len(o)):
        iv = []
        for s in range(len(a)):
            lo, hi = capsule_interval(
                *o[p], *d[p], *a[s], *b[s], float(np.broadcast_to(r, (len(a),))[s])
            )
            if hi > lo:
                iv.append((lo, hi))
        iv.sort()
        tot, cur = 0.0, None
        for lo, hi in iv:
            if cur is None or lo > cur[1]:
                if cur is not None:
                    tot += cur[1] - cur[0]
                cur = [lo, hi]
            else:
                cur[1] = max(cur[1], hi)
        if cur is not None:
            tot += cur[1] - cur[0]
        out[p] = tot
    return out
