"""The World: physics, dose, contrast and imaging advance together; batch and masks work."""

import numpy as np
import pytest

from igtwin.anatomies import load_builtin
from igtwin.sim import World, WorldCommands, get_device


@pytest.fixture(scope="module")
def arch():
    return load_builtin("arch-II")


def _world(arch, n=2, **kw):
    tree = arch.vessel_tree
    return World(
        arch,
        [get_device("guidewire_035_angled")],
        tree.path(tree.root),
        n_worlds=n,
        image_size=64,
        max_inserted_length=300.0,
        **kw,
    )


def test_every_pulse_is_dosed_even_without_images(arch):
    w = _world(arch)
    w.reset(inserted_mm=40.0)
    cmd = WorldCommands(device=np.zeros((2, 1, 2)), fluoro=np.array([True, False]))
    for _ in range(3):
        s = w.step(cmd, 1 / 7.5)
    # fluoro-low pulses at 7.5 p/s: one pulse per 1/7.5 s control step, only in world 0
    assert s.n_pulses.tolist() == [3, 0]
    assert s.ka_r_mgy[0] > 0 and s.ka_r_mgy[1] == 0
    per_pulse = s.ka_r_mgy[0] / 3
    assert len(s.events[0]) == 3 and s.events[0][0].ka_r_mgy == pytest.approx(per_pulse)


def test_cine_counts_more_pulses_and_dose_than_fluoro(arch):
    w = _world(arch)
    w.reset(inserted_mm=40.0)
    cmd = WorldCommands(
        device=np.zeros((2, 1, 2)), fluoro=np.array([True, False]), cine=np.array([False, True])
    )
    s = w.step(cmd, 1 / 7.5)
    assert s.n_pulses[1] == 2  # cine at 15 f/s: two frames in a 1/7.5 s step
    assert s.ka_r_mgy[1] > 5 * s.ka_r_mgy[0]


def test_reset_with_a_world_mask_restarts_only_those_worlds(arch):
    w = _world(arch)
    w.reset(inserted_mm=40.0)
    cmd = WorldCommands(device=np.tile([[[20.0, 0.0]]], (2, 1, 1)))
    for _ in range(5):
        s = w.step(cmd, 1 / 7.5)
    ins_before = s.rod.inserted_length.copy()
    w.reset(inserted_mm=40.0, world_mask=np.array([True, False]))
    s = w.state
    assert s.rod.inserted_length[0, 0] == pytest.approx(40.0)
    assert s.rod.inserted_length[1, 0] == pytest.approx(ins_before[1, 0])
    assert s.ka_r_mgy[0] == 0 and s.ka_r_mgy[1] > 0


def test_carm_rotation_commands_move_the_angles_within_limits(arch):
    w = _world(arch, n=1)
    w.reset(inserted_mm=40.0)
    cmd = WorldCommands(device=np.zeros((1, 1, 2)), carm_delta=np.array([[0.1, -0.05]]))
    s = w.step(cmd, 1 / 7.5)
    np.testing.assert_allclose(s.carm_angles[0], [0.1, -0.05])
    assert w.carm(0).alpha == pytest.approx(0.1)


def test_dsa_run_shows_iodine_in_the_arch_and_is_dosed(arch):
    w = _world(arch, n=1)
    w.reset(inserted_mm=40.0)
    frames = w.acquire_dsa(0, volume_ml=10.0, rate_ml_s=10.0, duration_s=1.0)
    s = w.state
    assert len(frames) == 3  # DSA at 3 frames/s for 1 s
    assert s.contrast_ml[0] == pytest.approx(10.0)
    assert s.n_pulses[0] == 4  # mask + 3 frames
    # iodine raises the log-attenuation where the arch projects, and nowhere lowers it much
    last = frames[-1]
    arch_px = w.imager.project_points(w.carm(0), arch.vessel_tree["aorta"].points[-60:-30])
    u, v = np.round(arch_px).astype(int).T
    inside = (u >= 0) & (u < 64) & (v >= 0) & (v < 64)
    assert inside.any()
    background = np.median(last)
    assert abs(background) < 0.02  # most of the field has no iodine
    assert np.median(last[v[inside], u[inside]]) > background + 0.05


def test_bad_arguments_are_rejected(arch):
    with pytest.raises(ValueError, match="n_worlds"):
        _world(arch, n=0)
    w = _world(arch, n=1)
    with pytest.raises(RuntimeError, match="reset"):
        w.step(WorldCommands(device=np.zeros((1, 1, 2))), 0.1)
    w.reset(inserted_mm=40.0)
    with pytest.raises(ValueError, match="dt"):
        w.step(WorldCommands(device=np.zeros((1, 1, 2))), -1.0)


def test_one_world_steps_serially_and_restores_numba_threads(arch):
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    w = _world(arch, n=1)
    w.reset(inserted_mm=40.0)
    cmd = WorldCommands(device=np.array([[[10.0, 0.5]]]))
    s = w.step(cmd, 1 / 7.5)
    assert numba.get_num_threads() == before
    # the serial call gives the same physics as the simulator called directly
    fresh = _world(arch, n=1)
    fresh.reset(inserted_mm=40.0)
    direct = fresh.rods.step(fresh.state.rod, cmd.device, 1 / 7.5)
    np.testing.assert_array_equal(s.rod.positions, direct.positions)


def test_pulse_events_follow_the_carm_and_convert_to_plain_json(arch):
    import dataclasses
    import json

    w = _world(arch, n=1)
    w.reset(inserted_mm=40.0)
    cmd = WorldCommands(device=np.zeros((1, 1, 2)))
    w.step(cmd, 1 / 7.5)
    moved = WorldCommands(device=np.zeros((1, 1, 2)), carm_delta=np.array([[0.3, 0.1]]))
    s = w.step(moved, 1 / 7.5)
    first, second = s.events[0]
    assert first.primary_angle_deg == 0.0 and second.primary_angle_deg == pytest.approx(
        np.degrees(0.3)
    )
    assert w.carm(0).alpha == pytest.approx(0.3)  # a cached C-arm is renewed when angles change
    for ev in (first, second):
        d = ev.to_dict()
        assert d == json.loads(json.dumps(dataclasses.asdict(ev)))
        assert list(d) == [f.name for f in dataclasses.fields(ev)]
