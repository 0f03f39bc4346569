"""Contrast transport: volume bookkeeping, plug-flow arrival, dilution, washout, tree splitting."""

import numpy as np
import pytest

from igtwin.anatomies import VesselBranch, VesselTree
from igtwin.sim import ContrastAgent, roadmap


def _tree():
    side = VesselBranch(
        "side",
        np.array([[0.0, 0, 100], [80.0, 0, 100]]),
        np.array([3.0, 3.0]),
        parent="trunk",
        parent_index=1,
    )
    trunk = VesselBranch(
        "trunk", np.array([[0.0, 0, 0], [0.0, 0, 100], [0.0, 0, 200]]), np.array([6.0, 6.0, 6.0])
    )
    return VesselTree([trunk, side])


def _conc_at(agent, point):
    st = agent.state()
    mid = 0.5 * (st.a + st.b)
    return st.concentration[np.argmin(np.linalg.norm(mid - point, axis=1))]


def test_total_volume_tracks_injection():
    a = ContrastAgent(_tree())
    a.inject(8.0, 4.0, at=np.array([0.0, 0, 5]))
    a.step(1.0)
    assert a.total_ml == pytest.approx(4.0)
    a.step(5.0)
    assert a.total_ml == pytest.approx(8.0)
    a.inject(2.0, 2.0, at=np.array([0.0, 0, 5]))
    a.step(10.0)
    assert a.total_ml == pytest.approx(10.0)


def test_bolus_arrives_after_travel_time_and_washes_out():
    a = ContrastAgent(_tree(), velocity_mm_s=100.0)
    a.inject(3.0, 3.0, at=np.array([0.0, 0, 0]))  # 1 s injection
    far = np.array([0.0, 0, 180.0])  # 1.8 s downstream
    a.step(1.2)
    assert _conc_at(a, far) < 0.5
    a.step(1.0)  # t = 2.2 s: the plug (0 … 1 s) has reached 180 mm (1.8 … 2.8 s)
    q_blood = 100.0 * np.pi * 36.0 / 1000.0  # mL/s in the 6 mm-radius trunk
    expected = 350.0 * 3.0 / (3.0 + q_blood)  # complete mixing
    assert _conc_at(a, far) == pytest.approx(expected, rel=0.1)
    a.step(3.0)  # t = 5.2 s: washed out
    assert _conc_at(a, far) < 0.5


def test_nothing_flows_upstream_and_branches_fill():
    a = ContrastAgent(_tree(), velocity_mm_s=150.0)
    a.inject(5.0, 5.0, at=np.array([0.0, 0, 120]))
    a.step(0.9)
    assert _conc_at(a, np.array([0.0, 0, 50])) == 0.0  # upstream of the tip
    assert _conc_at(a, np.array([0.0, 0, 180])) > 10.0
    a2 = ContrastAgent(_tree(), velocity_mm_s=150.0)
    a2.inject(5.0, 5.0, at=np.array([0.0, 0, 10]))
    a2.step(1.0)
    assert _conc_at(a2, np.array([60.0, 0, 100])) > 10.0  # into the side branch


def test_inflow_reverses_direction():
    a = ContrastAgent(_tree(), inflow="root_end", velocity_mm_s=150.0)
    a.inject(5.0, 5.0, at=np.array([0.0, 0, 150]))
    a.step(0.8)
    assert _conc_at(a, np.array([0.0, 0, 60])) > 10.0  # flows toward the root's start
    assert _conc_at(a, np.array([0.0, 0, 195])) == 0.0


def test_validation():
    a = ContrastAgent(_tree())
    with pytest.raises(ValueError, match="not in a vessel"):
        a.inject(5.0, 5.0, at=np.array([200.0, 200, 0]))
    with pytest.raises(ValueError, match="rate_ml_s"):
        a.inject(5.0, 0.0, at=np.array([0.0, 0, 0]))
    with pytest.raises(ValueError, match="inflow"):
        ContrastAgent(_tree(), inflow="heart")


def test_roadmap_darkens_vessels_only():
    live = np.full((4, 4), 0.8, np.float32)
    sub = np.zeros((4, 4))
    sub[1, 1] = 1.0
    out = roadmap(live, sub)
    assert out[1, 1] < 0.8 and out[0, 0] == pytest.approx(0.8)


def test_from_anatomy_uses_aortic_root_landmark():
    from igtwin.anatomies import Anatomy

    ct = np.zeros((4, 4, 4), np.int16)
    anat = Anatomy(
        "t",
        ct,
        np.zeros_like(ct, np.uint8),
        np.eye(4),
        {},
        vessel_tree=_tree(),
        landmarks={"aortic_root": np.array([0.0, 0, 200])},
    )
    a = ContrastAgent.from_anatomy(anat, velocity_mm_s=150.0)
    a.inject(5.0, 5.0, at=np.array([0.0, 0, 150]))
    a.step(0.8)
    assert _conc_at(a, np.array([0.0, 0, 60])) > 10.0  # flows away from the aortic root
