"""Dose: Ka,r at the IRP, inverse square, DAP invariance, protocol rates, a diagnostic arch run."""

import json

import numpy as np
import pytest

from igtwin.sim import PROTOCOLS, CArm, DoseMeter, XRayProtocol

FLUORO = XRayProtocol.preset("fluoro-normal")


def _ka(carm, protocol):
    return DoseMeter().record_pulse(carm, protocol, 0.0).ka_r_mgy


def test_ka_r_uses_spekpy_output_and_inverse_square():
    p = XRayProtocol("ref", "fluoro", 80.0, 100.0, 0.01, 15.0, (("Al", 2.5),))  # 1 mAs
    c = CArm(sid=1200.0, sod=1150.0)  # IRP at 1000 mm from the focal spot
    assert _ka(c, p) == pytest.approx(81.98e-3, rel=1e-3)  # 81.98 µGy/mAs at 1 m
    for sod in (600.0, 800.0, 1000.0):
        ratio = _ka(CArm(sod=sod), p) / _ka(c, p)
        assert ratio == pytest.approx((1000.0 / (sod - 150.0)) ** 2, rel=1e-9)


def test_ka_r_scales_with_mas_and_pulse_rate():
    base = XRayProtocol("a", "fluoro", 75.0, 40.0, 0.008, 7.5, (("Al", 2.5), ("Cu", 0.2)))
    double_ma = XRayProtocol("b", "fluoro", 75.0, 80.0, 0.008, 7.5, (("Al", 2.5), ("Cu", 0.2)))
    double_pw = XRayProtocol("c", "fluoro", 75.0, 40.0, 0.016, 7.5, (("Al", 2.5), ("Cu", 0.2)))
    c = CArm()
    assert _ka(c, double_ma) == pytest.approx(2 * _ka(c, base), rel=1e-12)
    assert _ka(c, double_pw) == pytest.approx(2 * _ka(c, base), rel=1e-12)
    fast = XRayProtocol("d", "fluoro", 75.0, 40.0, 0.008, 15.0, (("Al", 2.5), ("Cu", 0.2)))
    rates = []
    for p in (base, fast):
        m = DoseMeter()
        for k in range(int(60 * p.pulse_rate_hz)):  # one minute
            m.record_pulse(c, p, k / p.pulse_rate_hz)
        rates.append(m.ka_r_mgy)
        assert m.fluoro_time_s == pytest.approx(60.0)
    assert rates[1] == pytest.approx(2 * rates[0], rel=1e-9)


def test_dap_is_the_same_at_every_plane():
    c = CArm(collimation=0.8)
    dap = []
    for d in (300.0, c.irp_distance_mm, 1000.0, c.sid):
        dap.append(FLUORO.kerma_at_mgy(d) * 1e-3 * c.beam_area_cm2(distance_mm=d))
    np.testing.assert_allclose(dap, dap[0], rtol=1e-12)
    ev = DoseMeter().record_pulse(c, FLUORO, 0.0)
    assert ev.dap_gycm2 == pytest.approx(dap[0], rel=1e-12)


def test_fluoro_presets_in_published_range():
    """Aroua et al. 2007: adult abdominal skin dose rate 10–45 mGy/min; 21 CFR 1020.32: ≤ 88."""
    c = CArm()
    rates = {}
    for name in ("fluoro-low", "fluoro-normal", "fluoro-high"):
        p = PROTOCOLS[name]
        rates[name] = _ka(c, p) * p.pulse_rate_hz * 60.0
        assert rates[name] <= 88.0
    assert 10.0 <= rates["fluoro-normal"] <= 45.0
    assert rates["fluoro-low"] < rates["fluoro-normal"] < rates["fluoro-high"]
    print("Ka,r rates (mGy/min):", {k: round(v, 1) for k, v in rates.items()})


def test_diagnostic_arch_angiography_dap_in_published_range():
    """7 min fluoro + 5 DSA runs of 6 s: tens of Gy·cm² (cerebral angiography ~34 Gy·cm²,
    Neurointervention 2020;15:67; Swiss DRL 125 Gy·cm²)."""
    m = DoseMeter()
    t = 0.0
    fl, dsa = PROTOCOLS["fluoro-normal"], PROTOCOLS["dsa"]
    views = [CArm.from_degrees(lao=a, collimation=0.8) for a in (0, 30, -30, 45, 60)]
    for run, c in enumerate(views):
        for _ in range(int(84 * fl.pulse_rate_hz)):  # 84 s of fluoro per view → 7 min
            m.record_pulse(c, fl, t)
            t += fl.frame_interval_s
        t += 2.0
        for _ in range(int(6 * dsa.pulse_rate_hz)):
            m.record_pulse(c, dsa, t)
            t += dsa.frame_interval_s
        t += 5.0
        assert m.n_dsa_runs == run + 1
    assert m.fluoro_time_s == pytest.approx(420.0)
    assert m.n_dsa_frames == 90 and m.n_dsa_runs == 5 and m.n_cine_runs == 0
    assert 10.0 < m.dap_gycm2 < 125.0
    print(f"arch angiography: DAP {m.dap_gycm2:.1f} Gy·cm², Ka,r {m.ka_r_mgy:.0f} mGy")
    doc = json.loads(m.to_rdsr_json())
    assert len(doc["events"]) == m.n_pulses
    assert doc["accumulated"]["dose_area_product_total_gym2"] == pytest.approx(m.dap_gycm2 * 1e-4)
    assert m.summary()["n_dsa_runs"] == 5


def test_cine_runs_and_validation():
    m = DoseMeter()
    cine = PROTOCOLS["cine"]
    for k in range(30):
        m.record_pulse(CArm(), cine, k / 15)
    for k in range(15):
        m.record_pulse(CArm(), cine, 10.0 + k / 15)
    assert m.n_cine_runs == 2 and m.n_cine_frames == 45 and m.fluoro_time_s == 0.0
    with pytest.raises(ValueError, match="Did you mean"):
        XRayProtocol.preset("fluoro-norml")
    with pytest.raises(ValueError, match="mode"):
        XRayProtocol("x", "photo", 70.0, 10.0, 0.01, 10.0)
    with pytest.raises(TypeError, match="CArm"):
        m.record_pulse("AP", cine, 0.0)
