"""Reward and observation terms on a hand-computed tiny case."""

import numpy as np
import pytest

from igtwin.scenarios._config import RewardConfig
from igtwin.scenarios._terms import Snapshot, reward, state_observation, state_size


def _snap(tip_z: float, geodesic: float, force: float = 0.0, kar: float = 0.0) -> Snapshot:
    return Snapshot(
        tip=np.array([[[0.0, 0.0, tip_z]]]),
        tip_dir=np.array([[[0.0, 0.0, 1.0]]]),
        inserted_mm=np.array([[100.0]]),
        rotation=np.array([[np.pi / 2]]),
        shape=np.array([[[0.0, 0.0, tip_z - d] for d in (5.0, 10.0, 20.0, 40.0)]]),
        target=np.array([[0.0, 30.0, 100.0]]),
        geodesic_mm=np.array([geodesic]),
        wall_force_max_n=np.array([force]),
        ka_r_mgy=np.array([kar]),
    )


def test_reward_by_hand():
    w = RewardConfig(
        progress_per_mm=0.01,
        success=1.0,
        wall_force_per_n=0.5,
        time_per_step=0.001,
        dose_per_mgy=0.1,
    )
    prev = _snap(50.0, geodesic=80.0, kar=1.0)
    cur = _snap(55.0, geodesic=75.0, force=0.2, kar=1.5)
    # 0.01*5 mm - 0.5*0.2 N - 0.001 - 0.1*0.5 mGy = 0.05 - 0.1 - 0.001 - 0.05
    r = reward(prev, cur, np.array([False]), w)
    assert r[0] == pytest.approx(-0.101, abs=1e-12)
    r_success = reward(prev, cur, np.array([True]), w)
    assert r_success[0] == pytest.approx(-0.101 + 1.0, abs=1e-12)
    # moving away along the tree is penalised symmetrically
    assert reward(cur, prev, np.array([False]), w)[0] == pytest.approx(-0.05 - 0.001 + 0.05)


def test_state_observation_layout_by_hand():
    s = _snap(50.0, geodesic=80.0)
    obs = state_observation(s)
    assert obs.shape == (1, state_size(1)) and obs.dtype == np.float32
    # tip - target = (0, -30, -50) mm -> /100
    np.testing.assert_allclose(obs[0, :3], [0.0, -0.3, -0.5], atol=1e-7)
    np.testing.assert_allclose(obs[0, 3:6], [0, 0, 1])
    assert obs[0, 6] == pytest.approx(0.1)  # 100 mm / 1000
    np.testing.assert_allclose(obs[0, 7:9], [1.0, 0.0], atol=1e-7)  # sin, cos of pi/2
    # first shape sample is 5 mm behind the tip along -z
    np.testing.assert_allclose(obs[0, 9:12], [0, 0, -0.05], atol=1e-7)
    # target relative to tip, LPS: (0, 30, 50)/100; in the tip frame its axial part is 0.5
    np.testing.assert_allclose(obs[0, 21:24], [0, 0.3, 0.5], atol=1e-7)
    assert obs[0, 24] == pytest.approx(0.5)
    assert np.linalg.norm(obs[0, 24:27]) == pytest.approx(np.linalg.norm([0.3, 0.5]), rel=1e-6)
    assert obs[0, 27] == pytest.approx(0.08)
