"""The built-in metrics (DESIGN.md "Scoring"), registered in :data:`metric_registry`.

Every metric is a small pure function ``fn(log, ctx) -> float | None`` of an
:class:`~igtwin.assessment.EpisodeLog` (units and frames in ``_recorder.py``). ``None`` means the
log does not carry what the metric needs (too few steps; needle fields on a catheter run), and
:func:`~igtwin.assessment.compute_metrics` then omits it.

Discretisation choices, stated once:

* Times: a step counts for ``dt`` seconds (fluoroscopy time, time above a force threshold).
* Tip kinematics use the recorded tips at the control rate: velocity by forward differences,
  jerk by second differences of velocity, integrals by the rectangle rule, the movement
  duration as ``(T - 1) * dt``.
* Cumulative quantities (Ka,r, DAP, contrast, pulses) are read at the last step.

References
----------
.. [1] Anderson P. et al., "On evaluation of embodied navigation agents", arXiv:1807.06757
   (2018): SPL.
.. [2] Balasubramanian S., Melendez-Calderon A., Burdet E., "A robust and sensitive metric
   for quantifying movement smoothness", IEEE Trans. Biomed. Eng. 59(8):2126-2136 (2012).
.. [3] Balasubramanian S., Melendez-Calderon A., Roby-Brami A., Burdet E., "On the analysis of
   movement smoothness", J. NeuroEng. Rehabil. 12:112 (2015): log dimensionless jerk (LDLJ).
.. [4] Estrada S., O'Malley M. K., Duran C., et al., "Smoothness of surgical tool tip motion
   correlates to skill in endovascular tasks", IEEE Trans. Human-Machine Syst. 46(5) (2016).
.. [5] Rafii-Tari H., Payne C. J., Riga C., Bicknell C., Lee S.-L., Yang G.-Z., "Objective
   assessment of endovascular navigation skills with force sensing", Ann. Biomed. Eng. (2017).
.. [6] IEC 60601-2-43 (interventional X-ray equipment: reference air kerma at the IRP, DAP,
   fluoroscopy time) and DICOM PS3.16 TID 10001 (X-Ray Radiation Dose SR, RDSR).
.. [7] Laimer G. et al., "Minimal ablative margin (MAM) assessment with image fusion: an
   independent predictor for local tumor progression in hepatocellular carcinoma after
   stereotactic radiofrequency ablation", Eur. Radiol. 30 (2020): MAM >= 5 mm.
"""

from __future__ import annotations

import numpy as np

from ._recorder import EpisodeLog
from ._registry import Metric, MetricRegistry, metric_registry

__all__ = [
    "ablation_coverage_margin",
    "count_runs",
    "event_mode",
    "log_dimensionless_jerk",
    "register_builtin_metrics",
]

_NOT_YET = "construct validity not yet established in IGTwin"
#: Minimal ablative margin (mm) counted as adequate [7].
ABLATION_MARGIN_MM = 5.0
#: Withdrawal (mm) that separates two needle passes when no "needle_pass" events are logged.
NEEDLE_REDIRECT_MM = 5.0


# ----------------------------------------------------------------------------- kernels
def log_dimensionless_jerk(positions: np.ndarray, dt: float) -> float | None:
    """Log dimensionless jerk (LDLJ) of a sampled trajectory, velocity-normalised [3]_.

    ``LDLJ = -ln( (t2 - t1)^3 / v_peak^2 * integral |d^2 v / dt^2|^2 dt )`` with ``v`` the
    velocity vector, ``v_peak`` the peak speed and ``t2 - t1`` the movement duration.

    Parameters
    ----------
    positions : ndarray, (T, 3)
        Positions (mm) sampled every `dt`; the result is dimensionless, so units cancel.
    dt : float
        Sampling interval (s).

    Returns
    -------
    float or None
        LDLJ (closer to 0 is smoother; typical human reaches -5 .. -10); ``None`` with fewer
        than 4 samples, no motion, or zero jerk (log undefined).

    Examples
    --------
    >>> x = np.array([0.0, 1.0, 3.0, 6.0, 8.0])
    >>> p = np.stack([x, 0 * x, 0 * x], axis=1)
    >>> round(log_dimensionless_jerk(p, 1.0), 3)  # -ln(4**3 / 3**2 * 4)
    -3.348
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[0] < 4:
        return None
    v = np.diff(positions, axis=0) / dt
    v_peak = float(np.max(np.linalg.norm(v, axis=1)))
    if v_peak <= 0:
        return None
    jerk = np.diff(v, n=2, axis=0) / dt**2
    integral = float(np.sum(jerk**2) * dt)
    if integral <= 0:
        return None
    duration = (positions.shape[0] - 1) * dt
    return -float(np.log(duration**3 / v_peak**2 * integral))


def _count_submovements(action: np.ndarray, deadband: float) -> int:
    """Runs of constant non-zero sign, summed over action components."""
    if action.size == 0:
        return 0
    sign = np.where(np.abs(action) > deadband, np.sign(action), 0.0)  # (T, A)
    prev = np.vstack([np.zeros((1, sign.shape[1])), sign[:-1]])
    starts = (sign != 0) & (sign != prev)
    return int(starts.sum())


def ablation_coverage_margin(
    tumour: np.ndarray, ablation: np.ndarray, spacing_mm: tuple[float, float, float] | float
) -> tuple[float, float]:
    """Tumour coverage and minimal ablative margin from two voxel masks on one grid.

    Parameters
    ----------
    tumour, ablation : ndarray of bool, (I, J, K)
        Tumour and ablation-zone masks on the same grid.
    spacing_mm : float or (3,) floats
        Voxel spacing (mm).

    Returns
    -------
    coverage : float
        Fraction of tumour voxels inside the ablation zone, in [0, 1].
    min_margin_mm : float
        If fully covered: the smallest distance (mm) from a tumour voxel to the nearest
        non-ablated voxel, less one voxel (so a ring of n ablated voxels around the tumour along
        an axis gives n × spacing). If not fully covered: minus the largest distance (mm) from
        an uncovered tumour voxel to the ablation zone (residual tumour), or minus the tumour's
        extent proxy (-inf is avoided: -1 voxel) when the zone is empty.

    Raises
    ------
    ValueError
        If shapes differ or the tumour mask is empty.
    """
    from scipy import ndimage

    tumour = np.asarray(tumour, dtype=bool)
    ablation = np.asarray(ablation, dtype=bool)
    if tumour.shape != ablation.shape or tumour.ndim != 3:
        raise ValueError(
            f"tumour, ablation: expected two 3-D masks of one shape, got {tumour.shape} and "
            f"{ablation.shape}"
        )
    if not tumour.any():
        raise ValueError("tumour: expected a non-empty mask")
    sampling = np.broadcast_to(np.asarray(spacing_mm, dtype=np.float64), (3,))
    covered = tumour & ablation
    coverage = float(covered.sum() / tumour.sum())
    if coverage == 1.0:
        # Distance from each ablated voxel to the nearest non-ablated one (pad so the grid
        # border counts as outside the zone).
        inside = np.pad(ablation, 1, constant_values=False)
        dist = ndimage.distance_transform_edt(inside, sampling=sampling)[1:-1, 1:-1, 1:-1]
        return coverage, float(dist[tumour].min() - sampling.min())
    if not ablation.any():
        return coverage, -float(sampling.min())
    dist_out = ndimage.distance_transform_edt(~ablation, sampling=sampling)
    return coverage, -float(dist_out[tumour & ~ablation].max())


# ----------------------------------------------------------------------------- metrics
def _final(arr: np.ndarray) -> float | None:
    return float(arr[-1]) if arr.shape[0] else None


def _tip_path(log: EpisodeLog) -> np.ndarray:
    """Tip positions (mm), prefixed by ``meta["start_tip_mm"]`` (the reset pose) when given."""
    start = log.meta.get("start_tip_mm")
    if start is None or log.n_steps == 0:
        return log.tip
    return np.vstack([np.asarray(start, dtype=np.float64).reshape(1, 3), log.tip])


def _path_length(log: EpisodeLog, ctx: object = None) -> float | None:
    if log.n_steps < 1:
        return None
    return float(np.linalg.norm(np.diff(_tip_path(log), axis=0), axis=1).sum())


def _is_needle(log: EpisodeLog) -> bool:
    return str(log.meta.get("device_kind", "")).lower() == "needle"


def event_mode(data: dict) -> str:
    """Imaging mode of an irradiation event: ``"fluoro"``, ``"cine"``, ``"dsa"`` or the raw label.

    Reads ``mode``, else ``protocol``/``acquisition_protocol``/``irradiation_event_type`` (RDSR
    "Fluoroscopy" maps to fluoro; names containing "cine" or "dsa"/"subtract" map to those).
    """
    for key in ("mode", "protocol", "acquisition_protocol", "irradiation_event_type"):
        raw = data.get(key)
        if isinstance(raw, dict):
            raw = raw.get("name", raw.get("mode"))
        if raw:
            label = str(raw).lower()
            if "dsa" in label or "subtract" in label:
                return "dsa"
            if "cine" in label:
                return "cine"
            if "fluoro" in label:
                return "fluoro"
            return label
    return "unknown"


def _irradiations(log: EpisodeLog, mode: str) -> list[dict]:
    return [e for e in log.events_of("irradiation") if event_mode(e["data"]) == mode]


def _event_pulses(e: dict) -> int:
    d = e["data"]
    return int(d.get("n_pulses", d.get("number_of_pulses", 1)) or 0)


def count_runs(events: list[dict], *, gap_s: float) -> int:
    """Number of acquisition runs among events of one mode.

    A ``run_id`` (or ``run``) in every event's data decides if present; otherwise time-sorted
    events start a new run when they follow the previous one by more than two frame intervals
    (``2 / pulse_rate_hz``, as the sim's ``DoseMeter`` counts) or, without a pulse rate, by more
    than `gap_s` seconds.
    """
    ids = [e["data"].get("run_id", e["data"].get("run")) for e in events]
    if events and all(i is not None for i in ids):
        return len(set(map(str, ids)))
    evs = sorted(events, key=lambda e: e["t_s"])
    if not evs:
        return 0
    runs = 0
    for prev, cur in zip([None, *evs[:-1]], evs, strict=True):
        rate = cur["data"].get("pulse_rate_hz")
        gap = 2.0 / float(rate) + 1e-9 if rate else gap_s
        runs += int(prev is None or cur["t_s"] - prev["t_s"] > gap)
    return runs


#: Events of one acquisition run closer than this (s) merge when they carry no ``run_id``.
RUN_GAP_S = 1.0


def _success(log, ctx):
    return float(log.success)


def _time_to_target(log, ctx):
    reached = np.flatnonzero(log.tip_to_target_mm <= ctx.success_radius_mm)
    return float(log.t_s[reached[0]]) if reached.size else None


def _tip_error(log, ctx):
    return _final(log.tip_to_target_mm)


def _fluoro_time(log, ctx):
    return float(np.count_nonzero(log.fluoro_on) * log.dt)


def _n_pulses(log, ctx):
    return _final(log.n_pulses) if log.n_steps else 0.0


def _n_cine_frames(log, ctx):
    return float(sum(_event_pulses(e) for e in _irradiations(log, "cine")))


def _n_cine_runs(log, ctx):
    return float(count_runs(_irradiations(log, "cine"), gap_s=max(RUN_GAP_S, 1.5 * log.dt)))


def _n_dsa_frames(log, ctx):
    return float(sum(_event_pulses(e) for e in _irradiations(log, "dsa")))


def _n_dsa_runs(log, ctx):
    return float(count_runs(_irradiations(log, "dsa"), gap_s=max(RUN_GAP_S, 1.5 * log.dt)))


def _ka_r(log, ctx):
    return _final(log.ka_r_mgy) if log.n_steps else 0.0


def _dap(log, ctx):
    return _final(log.dap_gycm2) if log.n_steps else 0.0


def _contrast(log, ctx):
    return _final(log.contrast_ml) if log.n_steps else 0.0


def _force_max(log, ctx):
    return float(log.wall_force_max_n.max()) if log.n_steps else None


def _force_mean(log, ctx):
    return float(log.wall_force_mean_n.mean()) if log.n_steps else None


def _time_above(log, ctx):
    return float(np.count_nonzero(log.wall_force_max_n > ctx.force_threshold_n) * log.dt)


def _safe_success(log, ctx):
    safe = not np.any(log.wall_force_max_n > ctx.force_threshold_n)
    return float(log.success and safe)


def _spl(log, ctx):
    travelled = _path_length(log)
    if travelled is None:
        return None
    start = log.meta.get("start_geodesic_mm")
    if start is None:
        start = log.path_length_mm[0] - log.path_progress_mm[0]
    shortest = max(float(start), 0.0)
    if not log.success:
        return 0.0
    denom = max(travelled, shortest)
    return 1.0 if denom == 0 else shortest / denom


def _n_movements(log, ctx):
    return float(_count_submovements(np.asarray(log.action, dtype=np.float64), ctx.action_deadband))


def _tip_speed(log, ctx):
    if log.n_steps < 2:
        return None
    return _path_length(log) / ((log.n_steps - 1) * log.dt)


def _smoothness(log, ctx):
    return log_dimensionless_jerk(log.tip, log.dt)  # uniform samples only: no start_tip prefix


def _targeting_error(log, ctx):
    return _final(log.tip_to_target_mm) if _is_needle(log) else None


def _n_passes(log, ctx):
    if not _is_needle(log):
        return None
    passes = log.events_of("needle_pass")
    if passes:
        return float(len(passes))
    if log.n_steps == 0:
        return 0.0
    depth = log.inserted_length_mm[:, 0]
    n, advancing, extreme = 0, False, 0.0
    for d in depth:  # hysteresis: a pass is an advance, then a withdrawal >= NEEDLE_REDIRECT_MM
        if not advancing and d > extreme + (NEEDLE_REDIRECT_MM if n else 0.0) and d > 0:
            n, advancing, extreme = n + 1, True, d
        elif advancing:
            if d > extreme:
                extreme = d
            elif d < extreme - NEEDLE_REDIRECT_MM:
                advancing, extreme = False, d
        else:
            extreme = min(extreme, d)
    return float(n)


def _no_go(log, ctx):
    if not _is_needle(log):
        return None
    names = {str(e["data"].get("structure", "")) for e in log.events_of("no_go_contact")}
    return float(len(names))


def _extra(name):
    def fn(log, ctx):
        v = log.extras.get(name)
        return None if v is None else float(np.asarray(v).reshape(-1)[0])

    return fn


def _margin_ok(log, ctx):
    v = log.extras.get("ablation_min_margin_mm")
    return None if v is None else float(float(np.asarray(v).reshape(-1)[0]) >= ABLATION_MARGIN_MM)


_SKILL = (
    "published surgical/endovascular skill metric ({ref}); "
    + _NOT_YET
    + " (no expert-novice study)"
)


def register_builtin_metrics(registry: MetricRegistry) -> MetricRegistry:
    """Register the built-in metrics into `registry` (idempotent) and return it."""
    if "success" in registry:
        return registry
    M = Metric
    items = [
        M("success", "bool", "1 if the env ended the episode with the target reached, else 0",
          True, "task success as in CathSim and stEVE/eve_bench (tip within a target radius)",
          _success, "outcome"),
        M("time_to_target_s", "s",
          "time of the first step with the tip within success_radius_mm of the target; omitted "
          "if never reached", False,
          "procedure/navigation time, a standard endovascular simulator metric (e.g. stEVE, "
          "Rafii-Tari et al. 2017); " + _NOT_YET, _time_to_target, "outcome"),
        M("tip_to_target_error_mm", "mm", "distance from the final tip to the target", False,
          "tip-to-target distance as used for success in CathSim and stEVE; " + _NOT_YET,
          _tip_error, "outcome"),
        M("fluoro_time_s", "s", "number of steps with fluoroscopy on x dt", False,
          "total fluoroscopy time, recorded per IEC 60601-2-43 and DICOM RDSR (TID 10001)",
          _fluoro_time, "dose"),
        M("n_pulses", "1", "cumulative X-ray pulses at the last step", False,
          "number of pulses/frames, an RDSR irradiation-event field (DICOM TID 10003)",
          _n_pulses, "dose"),
        M("n_cine_frames", "1",
          "sum of n_pulses (1 if absent) over irradiation events in cine mode",
          False, "cine frame count, RDSR 'Number of Pulses' of acquisition events",
          _n_cine_frames, "dose"),
        M("n_cine_runs", "1", "cine runs among cine irradiation events (see n_dsa_runs)", False,
          "cine run count, RDSR acquisition events (TID 10003)", _n_cine_runs, "dose"),
        M("n_dsa_frames", "1", "sum of n_pulses (1 if absent) over DSA irradiation events",
          False, "DSA frame count, RDSR 'Number of Pulses'", _n_dsa_frames, "dose"),
        M("n_dsa_runs", "1",
          "DSA runs: distinct run_id, else a new run after a gap > 2 frame intervals "
          "(2 / pulse_rate_hz) or > max(1 s, 1.5 dt) without a rate", False,
          "DSA run count, RDSR acquisition events (TID 10003)", _n_dsa_runs, "dose"),
        M("ka_r_mgy", "mGy", "cumulative reference air kerma at the IRP at the last step", False,
          "reference air kerma Ka,r at the interventional reference point, IEC 60601-2-43; "
          "accuracy bounded by the dose model's validation (docs/dose)", _ka_r, "dose"),
        M("dap_gycm2", "Gy·cm²", "cumulative dose-area product at the last step", False,
          "kerma-area product (DAP/KAP), IEC 60601-2-43 and DICOM RDSR", _dap, "dose"),
        M("contrast_ml", "mL", "cumulative contrast volume at the last step", False,
          "contrast volume, a standard endovascular simulator/clinical metric; " + _NOT_YET,
          _contrast, "dose"),
        M("wall_force_max_n", "N", "largest per-node wall contact force over the episode", False,
          "tool-tissue force as a skill and safety measure (Rafii-Tari et al. 2017); simulated "
          "forces are model estimates, " + _NOT_YET, _force_max, "safety"),
        M("wall_force_mean_n", "N", "time average of the per-step mean contact force", False,
          "tool-tissue force (Rafii-Tari et al. 2017); " + _NOT_YET, _force_mean, "safety"),
        M("time_above_force_threshold_s", "s",
          "steps with wall_force_max_n > force_threshold_n x dt", False,
          "time over a force limit (Rafii-Tari et al. 2017 style); the threshold is a scenario "
          "parameter, " + _NOT_YET, _time_above, "safety"),
        M("safe_success", "bool",
          "success and wall_force_max_n never above force_threshold_n", True,
          "success gated by safety, after CathSim/stEVE success; " + _NOT_YET,
          _safe_success, "safety"),
        M("path_length_mm", "mm",
          "sum of tip displacements between recorded steps (from meta start_tip_mm if given)",
          False,
          _SKILL.format(ref="path length: Rafii-Tari et al. 2017, Estrada et al. 2016"),
          _path_length, "motion"),
        M("spl", "1",
          "success x shortest / max(travelled, shortest); shortest = meta start_geodesic_mm "
          "(else path length minus initial progress), travelled = path_length_mm", True,
          "SPL, Anderson et al. 2018 (embodied navigation); " + _NOT_YET, _spl, "motion"),
        M("n_movements", "1",
          "runs of constant non-zero sign per action component (|a| > dead band), summed", False,
          _SKILL.format(ref="number of movements/submovements: Rafii-Tari et al. 2017"),
          _n_movements, "motion"),
        M("tip_speed_mean_mm_s", "mm/s", "path_length_mm / ((T - 1) dt)", None,
          _SKILL.format(ref="tip speed: Rafii-Tari et al. 2017"), _tip_speed, "motion"),
        M("smoothness", "1",
          "log dimensionless jerk of the tip trajectory (velocity-normalised LDLJ; closer to 0 "
          "is smoother)", True,
          _SKILL.format(
              ref="LDLJ: Balasubramanian et al. 2012, 2015; smoothness vs skill: Estrada et al. 2016"
          ), _smoothness, "motion"),
        M("targeting_error_mm", "mm", "needle runs: distance from the final needle tip to the target",
          False, "needle targeting error, standard in percutaneous studies; " + _NOT_YET,
          _targeting_error, "needle"),
        M("n_passes", "1",
          "needle runs: number of 'needle_pass' events, else advances separated by a >= 5 mm "
          "withdrawal", False, "passes/redirections, standard in percutaneous studies; " + _NOT_YET,
          _n_passes, "needle"),
        M("no_go_touched", "1", "needle runs: distinct structures in 'no_go_contact' events", False,
          "no-go structure violation, a safety end point; " + _NOT_YET, _no_go, "needle"),
        M("ablation_coverage", "1", "fraction of the tumour inside the ablation zone (log extra)",
          True, "technical success of ablation (complete coverage); " + _NOT_YET,
          _extra("ablation_coverage"), "needle"),
        M("ablation_min_margin_mm", "mm", "minimal ablative margin (log extra)", True,
          "MAM predicts local tumour progression (Laimer et al. 2020); " + _NOT_YET,
          _extra("ablation_min_margin_mm"), "needle"),
        M("ablation_margin_ok", "bool", "1 if the minimal ablative margin is >= 5 mm", True,
          "MAM >= 5 mm (Laimer et al. 2020)", _margin_ok, "needle"),
    ]  # fmt: skip
    for m in items:
        registry.register(m)
    return registry


register_builtin_metrics(metric_registry)
