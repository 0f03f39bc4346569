"""EpisodeRecorder / EpisodeLog: recording, validation, lossless save/load, JSON export."""

import enum
import json
from dataclasses import dataclass

import numpy as np
import pytest

from igtwin.assessment import EpisodeLog, EpisodeRecorder, demo_episode_log


def _step(rec, k, **over):
    kw = dict(
        t_s=0.1 * (k + 1),
        action=np.array([0.5, -0.25], dtype=np.float32),
        tip=[float(k), 0.0, 0.0],
        target=[10.0, 0.0, 0.0],
        path_progress_mm=float(k),
        path_length_mm=10.0,
        inserted_length_mm=[100.0 + k],
        wall_force_max_n=0.2,
        wall_force_mean_n=0.1,
        proximal_force_n=[0.3],
        reward=-0.01,
        fluoro_on=True,
        ka_r_mgy=0.01 * (k + 1),
        dap_gycm2=0.001 * (k + 1),
        contrast_ml=0.0,
        n_pulses=k + 1,
    )
    kw.update(over)
    rec.record_step(**kw)


class Mode(enum.Enum):
    CINE = "cine"


@dataclass
class Event:
    mode: Mode
    kvp: float


def test_round_trip_is_lossless(tmp_path):
    rec = EpisodeRecorder(
        "igtwin/Test-v0", 7, 0.1, {"device_kind": "guidewire", "x": np.float32(1.5)}
    )
    rng = np.random.default_rng(0)
    for k in range(5):
        _step(rec, k, positions=rng.normal(size=(4, 3)))
    rec.record_event(
        "irradiation", 0.2, {"mode": "cine", "n_pulses": 15, "angles": np.array([0.1, 0.2])}
    )
    rec.record_event("injection", 0.1, {"volume_ml": 3.0})
    rec.record_event(
        "irradiation", 0.3, Event(Mode.CINE, 80.0).__dict__ | {"ev": Event(Mode.CINE, 70.0)}
    )
    rec.record_frame(2, np.arange(12, dtype=np.uint8).reshape(3, 4), "AP")
    replay = rng.normal(size=(5, 2)).astype(np.float32)
    log = rec.finish(
        True, True, False, "target reached", 7, replay, extras={"ablation_coverage": 0.9}
    )
    path = log.save(tmp_path / "ep")
    assert path.name == "ep.npz"
    back = EpisodeLog.load(path)
    assert back.actions_for_replay.dtype == np.float32
    assert back.actions_for_replay.tobytes() == replay.tobytes()  # bit-exact
    for name in (
        "t_s",
        "action",
        "tip",
        "target",
        "inserted_length_mm",
        "proximal_force_n",
        "fluoro_on",
        "ka_r_mgy",
        "n_pulses",
        "positions",
        "frame_steps",
        "frame_t_s",
    ):
        np.testing.assert_array_equal(getattr(back, name), getattr(log, name), err_msg=name)
    assert back.events == log.events
    assert [e["t_s"] for e in back.events] == [0.1, 0.2, 0.3]  # time-sorted
    assert back.events[2]["data"]["mode"] == "cine" and back.events[2]["data"]["ev"]["kvp"] == 70.0
    assert back.meta == {"device_kind": "guidewire", "x": 1.5}
    assert (back.success, back.terminated, back.truncated) == (True, True, False)
    assert back.reason == "target reached" and back.reset_seed == 7 and back.seed == 7
    np.testing.assert_array_equal(back.frames[0], log.frames[0])
    assert back.frame_labels == ["AP"] and back.frame_t_s[0] == pytest.approx(0.5)
    assert float(back.extras["ablation_coverage"]) == 0.9
    d = json.loads(json.dumps(back.to_dict(), allow_nan=False))
    assert d["n_frames"] == 1 and d["frames"][0]["shape"] == [3, 4]
    assert len(d["tip"]) == 5


def test_shapes_and_derived_fields():
    rec = EpisodeRecorder("s", None, 0.1, {})
    for k in range(3):
        _step(rec, k)
    log = rec.finish(False, False, True, "step limit", None, np.zeros((3, 2)))
    assert log.action.shape == (3, 2) and log.tip.shape == (3, 3)
    assert log.inserted_length_mm.shape == (3, 1) and log.fluoro_on.dtype == bool
    assert log.positions is None and log.n_steps == 3
    assert log.duration_s == pytest.approx(0.3)
    np.testing.assert_allclose(log.tip_to_target_mm, [10, 9, 8])


def test_empty_episode_finishes_and_saves(tmp_path):
    log = EpisodeRecorder("s", 0, 0.1).finish(False, False, True, "", 0, np.array([]))
    assert log.n_steps == 0 and log.actions_for_replay.shape[0] == 0
    back = EpisodeLog.load(log.save(tmp_path / "e.npz"))
    assert back.n_steps == 0 and back.tip.shape == (0, 3)


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"t_s": 0.1}, "t_s"),  # not increasing (second step at the same time)
        ({"tip": [0.0, 0.0]}, "tip"),
        ({"ka_r_mgy": 0.0}, "ka_r_mgy"),  # cumulative total went down
        ({"n_pulses": 0}, "n_pulses"),
        ({"wall_force_max_n": -1.0}, "wall_force_max_n"),
        ({"target": [np.nan, 0, 0]}, "target"),
        ({"action": np.zeros(3)}, "action"),
        ({"positions": np.zeros((4, 3))}, "positions"),
    ],
)
def test_bad_steps_raise_naming_the_field(over, match):
    rec = EpisodeRecorder("s", 0, 0.1)
    _step(rec, 0)
    with pytest.raises(ValueError, match=match):
        _step(rec, 1, **({"t_s": 0.2} | over))


def test_misuse_raises():
    with pytest.raises(ValueError, match="dt"):
        EpisodeRecorder("s", 0, 0.0)
    rec = EpisodeRecorder("s", 0, 0.1)
    with pytest.raises(ValueError, match="image"):
        rec.record_frame(0, np.zeros((4, 4)), "float image")
    with pytest.raises(TypeError, match="data"):
        rec.record_event("x", 0.0, {"obj": object()})
    rec.finish(False, False, False, "", 0, np.zeros((0, 2)))
    with pytest.raises(RuntimeError, match="finished"):
        _step(rec, 0)


def test_load_rejects_other_npz(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, a=np.zeros(3))
    with pytest.raises(ValueError, match="not an IGTwin episode log"):
        EpisodeLog.load(p)


def test_demo_log_is_well_formed():
    log = demo_episode_log()
    assert log.success and log.n_steps == 110 and len(log.frames) == 11
    assert np.all(np.diff(log.ka_r_mgy) >= 0)


def test_long_episode_grows_its_buffers_and_keeps_every_step():
    rec = EpisodeRecorder("s", 0, 0.1)
    n = 700  # beyond the first allocation (256 steps) twice
    for k in range(n):
        _step(rec, k, positions=np.full((4, 3), float(k)))
    log = rec.finish(False, False, True, "step limit", 0, np.zeros((n, 2)))
    assert log.n_steps == n and log.positions.shape == (n, 4, 3)
    assert log.action.dtype == np.float32  # actions keep their dtype
    np.testing.assert_array_equal(log.tip[:, 0], np.arange(n))
    np.testing.assert_array_equal(log.positions[:, 0, 0], np.arange(n))
    assert log.n_pulses.dtype == np.int64 and log.n_pulses[-1] == n


def test_mixed_action_dtypes_stack_like_numpy():
    rec = EpisodeRecorder("s", 0, 0.1)
    _step(rec, 0)  # float32
    _step(rec, 1, action=np.array([0.1, 0.2]))  # float64
    log = rec.finish(False, False, True, "", 0, np.zeros((2, 2)))
    expected = np.stack([np.array([0.5, -0.25], np.float32), np.array([0.1, 0.2])])
    assert log.action.dtype == expected.dtype
    np.testing.assert_array_equal(log.action, expected)
