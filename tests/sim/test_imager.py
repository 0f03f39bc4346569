"""Imager: energy-integrating detector, beam hardening, noise statistics, devices, caching, DSA."""

import numpy as np
import pytest

from igtwin.anatomies import MaterialVolume, VesselBranch, VesselTree
from igtwin.sim import (
    CArm,
    ContrastAgent,
    DeepDRRNotAvailableError,
    DeviceShape,
    Imager,
    XRayProtocol,
    deepdrr_available,
    dsa,
    linear_attenuation,
)

MATS = ("soft_tissue", "adipose", "bone_cortical")
FLUORO = XRayProtocol.preset("fluoro-normal")


def _volume(fill, *, n=48, spacing=2.0):
    """A MaterialVolume with soft-tissue density ``fill(xyz)`` (g/cm³) on an n³ grid."""
    aff = np.diag([spacing, spacing, spacing, 1.0])
    aff[:3, 3] = -(n - 1) / 2 * spacing
    xyz = np.indices((n, n, n)).transpose(1, 2, 3, 0) * spacing + aff[:3, 3]
    d = np.zeros((n, n, n, 3), np.float32)
    d[..., 0] = fill(xyz)
    return MaterialVolume(d, MATS, aff)


def _slab(thickness_mm, density=1.0):
    return _volume(lambda p: np.where(np.abs(p[..., 1]) < thickness_mm / 2, density, 0.0))


def test_mono_energetic_slab_matches_beer_lambert():
    t = 40.0
    im = Imager(_slab(t), output_shape=(16, 16))
    air = Imager(_volume(lambda p: np.zeros(p.shape[:-1])), output_shape=(16, 16))
    c = CArm(magnification="16cm")
    kw = dict(noise=False, scatter=False, mono_kev=60.0)
    ratio = im.render(c, FLUORO, **kw).signal / air.render(c, FLUORO, **kw).signal
    rays = np.stack(np.meshgrid(np.arange(16), np.arange(16)), -1)  # only near-axis rays
    d = np.abs(im.project_points(c, [[0, 0, 0]])[0] - rays).max(-1) < 4
    mu = linear_attenuation("soft_tissue", 60.0, density=1.0)[0]
    # 1 %: slab chord t / cos θ ≈ t within 0.1 % near the axis
    np.testing.assert_allclose(ratio[d], np.exp(-mu * t), rtol=0.01)


def test_beam_hardening_effective_mu_falls_with_thickness():
    c = CArm(magnification="16cm")
    p80 = XRayProtocol("t", "fluoro", 80.0, 50.0, 0.01, 15.0, (("Al", 2.5),))
    air = Imager(_volume(lambda p: np.zeros(p.shape[:-1])), output_shape=(8, 8))
    s0 = air.render(c, p80, noise=False, scatter=False).signal[4, 4]
    mu_eff = []
    for t in (8.0, 40.0, 80.0):  # whole voxels on the 2 mm grid
        s = Imager(_slab(t), output_shape=(8, 8)).render(c, p80, noise=False, scatter=False)
        mu_eff.append(-np.log(s.signal[4, 4] / s0) / t)
    assert mu_eff[0] > mu_eff[1] > mu_eff[2]
    # between μ(80 keV) and μ(30 keV) of the tissue: an effective energy inside the spectrum
    lo, hi = linear_attenuation("soft_tissue", [80.0, 30.0], density=1.0)
    assert lo < mu_eff[-1] < mu_eff[0] < hi


def test_noise_variance_follows_photon_statistics():
    im = Imager(_volume(lambda p: np.full(p.shape[:-1], 0.0)), output_shape=(128, 128))
    c = CArm(magnification="16cm")
    rng = np.random.default_rng(1)
    ratios = []
    for ma in (20.0, 80.0):
        p = XRayProtocol("t", "fluoro", 75.0, ma, 0.008, 15.0, (("Al", 2.5), ("Cu", 0.2)))
        f = im.render(c, p, rng=rng, scatter=False)
        st = im._static(c, p, None)
        mas = p.mas_per_pulse
        predicted = st["var"].mean() * mas + st["elec_var"]  # Σ N_E η E² (Swank) + electronic
        measured = f.signal.var()
        # 5 %: 16k samples give ~1 % standard error on the variance
        assert measured == pytest.approx(predicted, rel=0.05)
        assert f.signal.mean() == pytest.approx(st["prim"].mean() * mas, rel=0.01)
        ratios.append(measured / f.signal.mean() ** 2)
    # quantum-limited: relative variance ∝ 1 / photons, so 4× the mAs gives ~ 1/4
    assert ratios[1] / ratios[0] == pytest.approx(0.25, rel=0.1)


def _body():
    def fill(p):
        body = (p[..., 0] / 45) ** 2 + (p[..., 1] / 30) ** 2 < 1
        return np.where(body, 1.0, 0.0)

    return _volume(fill)


def test_wire_device_ground_truth_and_contrast():
    im = Imager(_body(), output_shape=(96, 96))
    c = CArm()
    pts = np.stack([np.full(40, 10.0), np.zeros(40), np.linspace(-60, 20, 40)], 1)
    wire = DeviceShape(pts, 0.178, "nitinol", name="wire")
    f0 = im.render(c, FLUORO, noise=False)
    f = im.render(c, FLUORO, devices=[wire], noise=False, ground_truth=True)
    m = f.device_masks["wire"]
    assert m.sum() > 20
    assert (f.signal[m] < f0.signal[m]).all() and np.array_equal(f.signal[~m], f0.signal[~m])
    np.testing.assert_allclose(f.tip_pixels["wire"], im.project_points(c, pts[-1:])[0])
    assert f.tip_depth_mm["wire"] == pytest.approx(c.sod, abs=1e-6)  # tip on the iso plane
    assert f.display.dtype == np.float32 and 0 <= f.display.min() and f.display.max() <= 1
    assert f.uint8.dtype == np.uint8
    # the platinum tip is darker than the nitinol shaft of the same size
    plat = DeviceShape(pts, 0.178, "platinum", name="w")
    fp = im.render(c, FLUORO, devices=[plat], noise=False)
    assert fp.signal[m].mean() < f.signal[m].mean()


def test_contrast_dsa_shows_iodine_only():
    tree = VesselTree(
        [VesselBranch("v", np.array([[-20.0, 0, -60], [-20.0, 0, 60]]), np.array([4.0, 4.0]))]
    )
    agent = ContrastAgent(tree)
    agent.inject(6.0, 4.0, at=np.array([-20.0, 0, -60]))
    agent.step(0.5)
    im = Imager(_body(), output_shape=(96, 96))
    c = CArm()
    mask = im.render(c, FLUORO, noise=False)
    live = im.render(c, FLUORO, contrast=agent, noise=False, ground_truth=True)
    sub = dsa(live.signal, mask.signal)
    vm = live.contrast_mask
    assert vm.sum() > 50
    assert sub[vm].max() > 0.3  # iodine, tens of mg/mL across 8 mm
    np.testing.assert_allclose(sub[~vm], 0.0, atol=1e-6)


def test_cache_and_determinism():
    im = Imager(_body(), output_shape=(32, 32))
    c = CArm()
    a = im.render(c, FLUORO, rng=np.random.default_rng(7))
    b = im.render(c, FLUORO, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.display, b.display)
    assert len(im._li_cache) == 1
    im.render(c.with_angles(alpha=0.3), FLUORO, rng=np.random.default_rng(7))
    assert len(im._li_cache) == 2


def test_torch_backend_matches_numba():
    c = CArm.from_degrees(lao=20, cran=10)
    kw = dict(noise=False, scatter=False)
    a = Imager(_body(), output_shape=(24, 24), backend="numba").render(c, FLUORO, **kw)
    b = Imager(_body(), output_shape=(24, 24), backend="torch").render(c, FLUORO, **kw)
    np.testing.assert_allclose(b.signal, a.signal, rtol=5e-3)


def test_backend_validation_and_deepdrr_extra():
    with pytest.raises(ValueError, match="expected one of"):
        Imager(_body(), backend="vulkan")
    with pytest.raises(ValueError, match="rng"):
        Imager(_body(), output_shape=(8, 8)).render(CArm(), FLUORO)
    if not deepdrr_available():
        with pytest.raises(DeepDRRNotAvailableError, match=r"pip install igtwin\[deepdrr\]"):
            Imager(_body(), backend="deepdrr")


@pytest.mark.skipif(not deepdrr_available(), reason="DeepDRR (CUDA) not installed")
def test_deepdrr_comparison():  # pragma: no cover - needs CUDA
    from igtwin.anatomies import Anatomy

    n = 48
    ct = np.full((n, n, n), -1000, np.int16)
    ct[8:40, 8:40, 8:40] = 40
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff[:3, 3] = -47.0
    anat = Anatomy("box", ct, np.zeros_like(ct, np.uint8), aff, {})
    ours = Imager(anat, output_shape=(64, 64)).render(CArm(), FLUORO, noise=False)
    theirs = Imager(anat, backend="deepdrr")._deepdrr.render(CArm(), (64, 64))
    a = np.log(ours.signal.max() / ours.signal)
    b = np.asarray(theirs)
    corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert corr > 0.9


def test_vessel_mask_ground_truth_from_anatomy():
    from igtwin.anatomies import Anatomy

    n = 32
    ct = np.full((n, n, n), 40, np.int16)
    aff = np.diag([3.0, 3.0, 3.0, 1.0])
    aff[:3, 3] = -(n - 1) * 1.5
    tree = VesselTree(
        [VesselBranch("v", np.array([[15.0, 0, -40], [15.0, 0, 40]]), np.array([3.0, 3.0]))]
    )
    anat = Anatomy("t", ct, np.zeros_like(ct, np.uint8), aff, {}, vessel_tree=tree)
    im = Imager(anat, output_shape=(64, 64))
    f = im.render(CArm(), FLUORO, noise=False, ground_truth=True)
    assert f.vessel_mask is not None and f.vessel_mask.any()
    cols = np.nonzero(f.vessel_mask.any(0))[0]
    u = im.project_points(CArm(), [[15.0, 0, 0]])[0, 0]
    assert cols.min() <= u <= cols.max()


def test_hollow_catheter_shows_two_walls():
    im = Imager(_body(), output_shape=(128, 128))
    c = CArm(magnification="16cm")
    pts = np.stack([np.zeros(20), np.zeros(20), np.linspace(-30, 30, 20)], 1)
    solid = DeviceShape(pts, 1.0, "polymer_barium", name="c")
    tube = DeviceShape(pts, 1.0, "polymer_barium", name="c", inner_radius=0.8)
    kw = dict(noise=False, scatter=False, ground_truth=True)
    fs = im.render(c, FLUORO, devices=[solid], **kw)
    ft = im.render(c, FLUORO, devices=[tube], **kw)
    row = fs.signal.shape[0] // 2
    m = fs.device_masks["c"][row]
    profile = ft.signal[row, m]
    centre = profile[len(profile) // 2]
    assert profile.min() < centre  # walls darker than the lumen
    assert (ft.signal[row, m] >= fs.signal[row, m] - 1e-3).all()  # less material than solid
