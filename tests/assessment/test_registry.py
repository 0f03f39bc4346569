"""Metric registry: registration, lookup with "did you mean", selection and parameters."""

import numpy as np
import pytest

from igtwin.assessment import (
    EpisodeRecorder,
    Metric,
    MetricRegistry,
    MetricValue,
    UnknownMetricError,
    compute_metrics,
    metric_registry,
)

BUILTIN = [
    "success", "time_to_target_s", "tip_to_target_error_mm", "fluoro_time_s", "n_pulses",
    "n_cine_frames", "n_cine_runs", "n_dsa_frames", "n_dsa_runs", "ka_r_mgy", "dap_gycm2", "contrast_ml", "wall_force_max_n",
    "wall_force_mean_n", "time_above_force_threshold_s", "safe_success", "path_length_mm", "spl",
    "n_movements", "tip_speed_mean_mm_s", "smoothness", "targeting_error_mm", "n_passes",
    "no_go_touched", "ablation_coverage", "ablation_min_margin_mm", "ablation_margin_ok",
]  # fmt: skip


def _log(meta=None, dist=(6.0, 4.0)):
    rec = EpisodeRecorder("s", 0, 0.5, meta or {})
    for k, d in enumerate(dist):
        rec.record_step(0.5 * (k + 1), np.zeros(1), [d, 0, 0], [0, 0, 0], 0, 10, [0], 0.8, 0.4,
                        [0], 0, False, 0, 0, 0, 0)  # fmt: skip
    return rec.finish(True, True, False, "", 0, np.zeros((len(dist), 1)))


def test_builtin_metrics_are_registered_in_order():
    assert metric_registry.list() == BUILTIN
    assert len(metric_registry) == len(BUILTIN) and "spl" in metric_registry


def test_get_unknown_suggests_close_names():
    with pytest.raises(UnknownMetricError, match="Did you mean 'ka_r_mgy'") as e:
        metric_registry.get("kar_mgy")
    assert isinstance(e.value, ValueError) and isinstance(e.value, KeyError)
    with pytest.raises(ValueError, match="unknown metric 'zzz'"):
        compute_metrics(_log(), names=["zzz"])


def test_register_custom_metric_and_duplicates():
    reg = MetricRegistry()
    m = Metric("steps", "1", "number of steps", None, "bookkeeping", lambda log, ctx: log.n_steps)
    reg.register(m)
    with pytest.raises(ValueError, match="already registered"):
        reg.register(m)
    reg.register(m, overwrite=True)
    with pytest.raises(TypeError, match="Metric"):
        reg.register("steps")
    out = compute_metrics(_log(), registry=reg)
    assert out == {"steps": MetricValue(2.0, "1")}


def test_names_select_and_order():
    out = compute_metrics(_log(), names=["spl", "success"])
    assert list(out) == ["spl", "success"]
    assert out["success"] == MetricValue(1.0, "bool")


def test_parameters_default_from_meta_then_builtin():
    # builtin: 5 mm radius, 1 N threshold
    v = compute_metrics(_log(), names=["time_to_target_s", "time_above_force_threshold_s"])
    assert v["time_to_target_s"].value == 1.0 and v["time_above_force_threshold_s"].value == 0.0
    meta = {"success_radius_mm": 3.0, "force_threshold_n": 0.5}
    v = compute_metrics(_log(meta), names=["time_to_target_s", "time_above_force_threshold_s"])
    assert "time_to_target_s" not in v  # 4 mm is outside 3 mm: omitted
    assert v["time_above_force_threshold_s"].value == 1.0
    v = compute_metrics(_log(meta), success_radius_mm=6.0, names=["time_to_target_s"])
    assert v["time_to_target_s"].value == 0.5  # the argument wins over meta
    with pytest.raises(ValueError, match="success_radius_mm"):
        compute_metrics(_log(), success_radius_mm=-1.0)
