"""RodSimulator API: command validation, backends, reset with a world mask, state layout."""

import math

import numpy as np
import pytest

from igtwin.anatomies import VesselBranch, VesselTree, tube_sdf
from igtwin.sim import RodSimulator, RodState, SofaNotAvailableError


@pytest.fixture(scope="module")
def tube():
    pts = np.stack([np.zeros(41), np.zeros(41), np.linspace(0.0, 200.0, 41)], 1)
    tree = VesselTree([VesselBranch("tube", pts, np.full(41, 4.0))])
    return tree.path("tube"), tube_sdf([pts], [np.full(41, 4.0)], spacing=0.5)


def _sim(tube, **kw):
    path, sdf = tube
    return RodSimulator(["guidewire_035_angled"], sdf, path, **kw)


def test_state_layout_and_units(tube):
    sim = _sim(tube, n_worlds=3)
    st = sim.initial_state(inserted_length=[10.0, 20.0, 30.0])
    b, d, n = 3, 1, sim.n_nodes
    assert isinstance(st, RodState)
    assert st.positions.shape == (b, d, n, 3) and st.node_mask.shape == (b, d, n)
    assert st.tangents.shape == (b, d, n, 3) and st.contact_force.shape == (b, d, n)
    assert st.inserted_length.shape == (b, d) and st.proximal_torque.shape == (b, d)
    assert st.tip_position.shape == (b, d, 3) and st.tip_direction.shape == (b, d, 3)
    np.testing.assert_allclose(st.inserted_length[:, 0], [10, 20, 30])
    # tip ~ inserted length along +z from the access point (the tip relaxes to its angle)
    assert st.tip_position[2, 0, 2] == pytest.approx(30.0, abs=1.5)
    np.testing.assert_allclose(np.linalg.norm(st.tip_direction, axis=-1), 1.0)
    # the inserted nodes are those beyond the access point
    ins = st.node_mask[2, 0]
    assert (st.positions[2, 0, ins, 2] > -1e-9).all()
    st2 = sim.step(st, np.array([[[30.0, 0.0]], [[-30.0, 0.0]], [[0.0, math.pi]]]), 0.1)
    np.testing.assert_allclose(st2.inserted_length[:, 0], [13.0, 17.0, 30.0])
    np.testing.assert_allclose(st2.rotation[:, 0], [0.0, 0.0, math.pi / 10])
    assert st.inserted_length[0, 0] == 10.0  # step returns a new state


@pytest.mark.parametrize(
    ("commands", "match"),
    [
        (np.array([[[np.nan, 0.0]]]), r"commands\[0, 0, 0\]` is nan"),
        (np.array([[[0.0, np.inf]]]), r"commands\[0, 0, 1\]` is inf"),
        (np.array([[[51.0, 0.0]]]), r"51.0 mm/s exceeds the translation speed limit ±50"),
        (np.array([[[0.0, -7.0]]]), r"rad/s exceeds the rotation speed limit"),
        (np.zeros((1, 2)), r"must have shape \(1, 1, 2\)"),
    ],
)
def test_bad_commands_raise_and_leave_state(tube, commands, match):
    sim = _sim(tube)
    st = sim.initial_state(inserted_length=20.0)
    before = st.copy()
    with pytest.raises(ValueError, match=match):
        sim.step(st, commands, 1 / 15)
    np.testing.assert_array_equal(st.positions, before.positions)


def test_bad_dt_and_options(tube):
    sim = _sim(tube)
    st = sim.initial_state()
    with pytest.raises(ValueError, match="dt"):
        sim.step(st, np.zeros((1, 1, 2)), float("nan"))
    with pytest.raises(ValueError, match="Did you mean 'numba'"):
        _sim(tube, backend="numbaa")
    with pytest.raises(ValueError, match="Did you mean"):
        RodSimulator(["guidewire_035_angle"], tube[1], tube[0])
    with pytest.raises(ValueError, match="n_worlds"):
        _sim(tube, n_worlds=0)


def test_sofa_backend_names_the_extra(tube):
    try:
        import Sofa  # noqa: F401
    except ImportError:
        with pytest.raises(SofaNotAvailableError, match="BeamAdapter.*DESIGN.md"):
            _sim(tube, backend="sofa")
    else:  # pragma: no cover - only where SOFA is installed
        pytest.skip("SOFA is installed; the adapter is tested elsewhere")


def test_reset_only_masked_worlds(tube):
    sim = _sim(tube, n_worlds=2)
    st = sim.initial_state(inserted_length=20.0)
    for _ in range(5):
        st = sim.step(st, np.array([[[20.0, 1.0]], [[20.0, 1.0]]]), 1 / 15)
    keep = st.copy()
    sim.reset(st, np.array([True, False]), inserted_length=5.0)
    assert st.inserted_length[0, 0] == 5.0 and st.rotation[0, 0] == 0.0
    np.testing.assert_array_equal(st.positions[1], keep.positions[1])
    assert st.inserted_length[1, 0] == keep.inserted_length[1, 0]


def test_insertion_clipped_to_simulated_length(tube):
    sim = _sim(tube, max_inserted_length=30.0)
    st = sim.initial_state(inserted_length=29.0)
    for _ in range(10):
        st = sim.step(st, np.array([[[50.0, 0.0]]]), 1 / 15)
    assert st.inserted_length[0, 0] == pytest.approx(sim.max_inserted_length)
    for _ in range(30):
        st = sim.step(st, np.array([[[-50.0, 0.0]]]), 1 / 15)
    assert st.inserted_length[0, 0] == 0.0
    assert not st.node_mask.any()
