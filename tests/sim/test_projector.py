"""Ray marcher (numba vs numpy vs torch), analytic phantoms, exact device chords."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from igtwin.sim import CArm, detector_rays, linear_attenuation, project_volume
from igtwin.sim._device_chords import capsule_interval, chords_reference, polyline_chords
from igtwin.sim._projector import resolve_backend

MU60 = float(linear_attenuation("water", 60.0)[0])  # 1/mm


def _grid(n, spacing):
    aff = np.diag([spacing, spacing, spacing, 1.0])
    aff[:3, 3] = -(n - 1) / 2 * spacing
    return aff


def _occupancy(inside, n, spacing, sub=4):
    """Partial-volume occupancy of a shape on an n³ grid (sub³ supersampling per voxel)."""
    aff = _grid(n, spacing)
    occ = np.zeros((n, n, n), np.float32)
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    idx = np.indices((n, n, n)).reshape(3, -1).T.astype(float)
    for ox in offs:
        for oy in offs:
            for oz in offs:
                p = (idx + [ox, oy, oz]) * spacing + aff[:3, 3]
                occ += inside(p).reshape(n, n, n)
    return occ / sub**3, aff


def _rays(shape=(24, 24)):
    r = detector_rays(CArm(magnification="16cm"), shape)  # ±37 mm at the isocentre
    d = r.targets.reshape(-1, 3) - r.source
    return r, d / np.linalg.norm(d, axis=1, keepdims=True)


def _check_transmission(vol, aff, chord_fn, edge_fn=None, step=None):
    r, d = _rays()
    li = project_volume(vol * MU60, aff, r.source, r.targets, step_mm=step, backend="numba")
    t_num = np.exp(-li.reshape(-1))
    t_ana = np.exp(-MU60 * chord_fn(r.source, d))
    # rays grazing the surface (within 1.5 voxels) see the voxelisation's partial volume, not
    # the projector: leave them out
    keep = np.ones(len(d), bool) if edge_fn is None else edge_fn(r.source, d) > 1.5
    assert keep.mean() > 0.8
    # 1 %: Beer–Lambert through the analytic shape vs the voxelised one (1 mm voxels)
    np.testing.assert_allclose(t_num[keep], t_ana[keep], rtol=0.01)
    return t_ana


def test_water_sphere_mono_energetic_within_1pct():
    R = 40.0
    vol, aff = _occupancy(lambda p: np.linalg.norm(p, axis=1) < R, 96, 1.0)

    def chord(o, d):
        b = d @ o
        disc = b * b - (o @ o - R * R)
        return 2 * np.sqrt(np.clip(disc, 0, None))

    def edge(o, d):  # distance of the ray from the sphere surface (mm)
        closest = np.linalg.norm(np.cross(d, -o), axis=1)
        return np.abs(closest - R)

    t = _check_transmission(vol, aff, chord, edge)
    assert t.min() < 0.25  # the test covers thick rays (central chord 80 mm)


def test_water_cylinder_mono_energetic_within_1pct():
    R = 35.0  # cylinder along z (head–foot), through the whole grid
    vol, aff = _occupancy(lambda p: np.hypot(p[:, 0], p[:, 1]) < R, 96, 1.0)
    n, sp = 96, 1.0
    zmax = (n - 1) / 2 * sp

    def chord(o, d):
        a = d[:, 0] ** 2 + d[:, 1] ** 2
        b = o[0] * d[:, 0] + o[1] * d[:, 1]
        c = o[0] ** 2 + o[1] ** 2 - R * R
        disc = np.clip(b * b - a * c, 0, None)
        t0, t1 = (-b - np.sqrt(disc)) / a, (-b + np.sqrt(disc)) / a
        z0, z1 = o[2] + t0 * d[:, 2], o[2] + t1 * d[:, 2]
        assert np.abs(np.r_[z0, z1]).max() < zmax  # rays leave through the curved wall
        return t1 - t0

    def edge(o, d):  # distance of the ray's closest approach to the axis from the wall
        dxy = d[:, :2] / np.linalg.norm(d[:, :2], axis=1, keepdims=True)
        closest = np.abs(o[0] * dxy[:, 1] - o[1] * dxy[:, 0])
        return np.abs(closest - R)

    _check_transmission(vol, aff, chord, edge)


def test_water_slab_mono_energetic_within_1pct():
    T = 30.0  # slab |y| < 15 mm, full in x and z
    vol, aff = _occupancy(lambda p: np.abs(p[:, 1]) < T / 2, 96, 1.0)
    _check_transmission(vol, aff, lambda o, d: T / np.abs(d[:, 1]))


def test_unit_ray_through_constant_volume_integrates_length():
    vol = np.ones((10, 10, 10), np.float32)
    aff = np.eye(4)
    src = np.array([4.5, -100.0, 4.5])
    out = project_volume(vol, aff, src, np.array([[4.5, 100.0, 4.5]]), backend="numba")
    assert out[0] == pytest.approx(9.0, rel=1e-6)  # trilinear support 0..9 voxels = 9 mm


@pytest.mark.parametrize("backend", ["reference", "torch"])
def test_backends_agree_with_numba(backend):
    rng = np.random.default_rng(3)
    # smooth (σ 1.5 voxels) so that both sample layouts resolve it; white noise would test aliasing
    vol = gaussian_filter(rng.random((20, 24, 28, 3)), (1.5, 1.5, 1.5, 0)).astype(np.float32)
    aff = np.array([[1.2, 0.1, 0, -10], [0, 0.9, 0.05, -12], [0, 0, 1.1, -14], [0, 0, 0, 1.0]])
    src = np.array([3.0, -300.0, 5.0])
    tgt = np.stack([rng.uniform(-20, 20, 300), np.full(300, 300.0), rng.uniform(-20, 20, 300)], 1)
    ref = project_volume(vol, aff, src, tgt, step_mm=0.7, backend="numba")
    got = project_volume(vol, aff, src, tgt, step_mm=0.7, backend=backend)
    assert (ref > 0).mean() > 0.5
    # reference: same samples, float64 vs fastmath float → 1e-4; torch: float32 grid and a fixed
    # sample count per batch → 0.5 % of the largest integral
    tol = 1e-4 if backend == "reference" else 5e-3
    np.testing.assert_allclose(got, ref, atol=tol * ref.max(), rtol=tol)


def test_rays_that_miss_give_zero_and_backend_is_validated():
    vol = np.ones((4, 4, 4), np.float32)
    out = project_volume(vol, np.eye(4), np.array([100.0, -50, 100]), np.array([[100.0, 50, 100]]))
    assert out[0] == 0.0
    with pytest.raises(ValueError, match="expected one of"):
        project_volume(vol, np.eye(4), np.zeros(3), np.ones((1, 3)), backend="cuda")
    assert resolve_backend("auto") in ("numba", "torch")


# ---------------------------------------------------------------- device chords (capsules)


def test_capsule_chord_perpendicular_axial_and_cap():
    r, L = 0.5, 10.0
    a, b = np.array([0.0, 0, 0]), np.array([0.0, 0, L])
    for off in (0.0, 0.3, 0.49):  # perpendicular rays at offset `off` from the axis
        lo, hi = capsule_interval(-50.0, off, 4.0, 1.0, 0.0, 0.0, *a, *b, r)
        assert hi - lo == pytest.approx(2 * np.sqrt(r * r - off * off), rel=1e-9)
    lo, hi = capsule_interval(0.0, 0.1, -20.0, 0.0, 0.0, 1.0, *a, *b, r)  # along the axis
    assert hi - lo == pytest.approx(L + 2 * np.sqrt(r * r - 0.01), rel=1e-9)
    lo, hi = capsule_interval(-50.0, 0.0, L + 0.3, 1.0, 0.0, 0.0, *a, *b, r)  # cap only
    assert hi - lo == pytest.approx(2 * np.sqrt(r * r - 0.09), rel=1e-9)
    lo, hi = capsule_interval(-50.0, 0.6, 5.0, 1.0, 0.0, 0.0, *a, *b, r)  # miss
    assert hi <= lo


def test_polyline_union_counts_joints_once():
    pts = np.stack([np.zeros(11), np.zeros(11), np.linspace(0, 10, 11)], 1)
    o = np.array([[0.0, 0.0, -30.0]])
    d = np.array([[0.0, 0.0, 1.0]])
    got = chords_reference(pts[:-1], pts[1:], np.full(10, 0.2), o, d)
    assert got[0] == pytest.approx(10.4, rel=1e-9)  # not 10 × (1 + 0.4)


def _geo(carm, shape):
    p = carm.pose()
    return dict(
        source=p.source[0],
        detector_center=p.detector_center[0],
        u_axis=p.u_axis[0],
        v_axis=p.v_axis[0],
        beam=p.beam[0],
        sid=carm.sid,
        pixel_mm=carm.field_mm / max(shape),
        shape=shape,
    )


def test_sparse_chords_match_dense_reference():
    rng = np.random.default_rng(0)
    pts = np.cumsum(rng.normal(0, 4, (30, 3)), 0) + [0, 0, -40]
    r = np.full(29, 3.0)
    carm, shape = CArm.from_degrees(lao=20, cran=10), (48, 48)
    pix, val = polyline_chords(pts[:-1], pts[1:], r, antialias=False, **_geo(carm, shape))
    rays = detector_rays(carm, shape)
    d = rays.targets.reshape(-1, 3) - rays.source
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    dense = chords_reference(pts[:-1], pts[1:], r, np.broadcast_to(rays.source, d.shape), d)
    sparse = np.zeros(shape[0] * shape[1])
    sparse[pix] = val
    assert (dense > 0).sum() > 30
    np.testing.assert_allclose(sparse, dense, atol=1e-9)


def test_thin_wire_keeps_line_mass_when_antialiased():
    """A 0.1 mm-radius wire (thinner than a pixel) neither vanishes nor changes mass."""
    carm, shape = CArm(), (128, 128)
    r, length = 0.1, 60.0
    mag = carm.sid / carm.sod
    px_iso = carm.field_mm / 128 / mag
    for x0 in (0.0, 0.37, 0.61, 1.1):  # sub-pixel positions: no flicker as the wire moves
        pts = np.array([[x0, 0.0, -length / 2], [x0, 0.0, length / 2]])
        pix, val = polyline_chords(pts[:1], pts[1:], [r], **_geo(carm, shape))
        mass = val.sum() * px_iso**2  # ∫ chord dA at the wire's plane
        # π r² × length (caps add 4/3 π r³, negligible); 3 %: the wire's ends cut pixels
        assert mass == pytest.approx(np.pi * r * r * length, rel=0.03)
        assert len(pix) >= length / px_iso


def test_device_shapes_split_by_material():
    from igtwin.sim import device_shapes

    pts = np.stack([np.zeros(6), np.zeros(6), np.arange(6.0)], 1)
    mats = ["stainless_steel"] * 3 + ["platinum"] * 3
    parts = device_shapes(pts, 0.2, mats, name="wire")
    assert [p.material for p in parts] == ["stainless_steel", "platinum"]
    assert parts[-1].name == "wire" and np.allclose(parts[-1].points[-1], pts[-1])
    np.testing.assert_allclose(parts[0].points[-1], parts[1].points[0])  # shared joint
    with pytest.raises(ValueError, match="one entry per point"):
        device_shapes(pts, 0.2, mats[:3])
    tube = device_shapes(pts, 0.9, ["polymer"] * 6, name="cath", inner_radius=0.6)
    assert len(tube) == 1 and tube[0].hollow
