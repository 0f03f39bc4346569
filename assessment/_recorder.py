"""Episode recorder: what an env writes each control step, kept for scoring and replay.

Conventions
-----------
* Positions are patient LPS in mm (+x patient left, +y posterior, +z superior).
* Times are in s since ``reset``; ``t_s`` is the time at the *end* of the recorded step.
* ``ka_r_mgy`` (reference air kerma at the IRP, mGy), ``dap_gycm2`` (Gy·cm²),
  ``contrast_ml`` (mL) and ``n_pulses`` are **cumulative totals since reset**, read after
  the step; they must never decrease (the recorder checks this, so a per-step increment
  passed by mistake is caught as soon as it drops).
* Forces are in N: ``wall_force_max_n`` is the largest per-node wall contact force during the
  step, ``wall_force_mean_n`` the mean per-node wall contact force (as the env defines it),
  ``proximal_force_n`` the axial force felt at the proximal end of each device (D,).
* ``path_progress_mm`` is the progress along the centreline path toward the target and
  ``path_length_mm`` that path's length (mm); the scoring reads the distance still to go at the
  start from ``meta["start_geodesic_mm"]`` when given, else ``path_length_mm[0] -
  path_progress_mm[0]`` (progress counted from the access).
* Path metrics start at ``meta["start_tip_mm"]`` (the tip at reset, LPS mm) when given, else at
  the first recorded step.

An :class:`EpisodeLog` saves to one ``.npz`` file holding the arrays and a JSON header
(scalars, meta, events, frame labels); no pickle is used, and arrays keep their dtype, so
replay actions come back bit-exact.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EpisodeLog", "EpisodeRecorder", "demo_episode_log"]

_FORMAT = "igtwin-episode-log"
_FORMAT_VERSION = 1

#: Per-step float series (name -> trailing shape kind) recorded by ``record_step``.
_STEP_ARRAYS = (
    "t_s",
    "action",
    "tip",
    "target",
    "path_progress_mm",
    "path_length_mm",
    "inserted_length_mm",
    "wall_force_max_n",
    "wall_force_mean_n",
    "proximal_force_n",
    "reward",
    "fluoro_on",
    "ka_r_mgy",
    "dap_gycm2",
    "contrast_ml",
    "n_pulses",
)
_CUMULATIVE = ("ka_r_mgy", "dap_gycm2", "contrast_ml", "n_pulses")


def _jsonable(value: Any, *, name: str) -> Any:
    """Convert numpy scalars/arrays, tuples and paths into plain JSON types (exact for floats)."""
    t = type(value)  # fast path for the plain types an event is made of (same results)
    if t is float:
        return value if math.isfinite(value) else None
    if t is str or t is int or t is bool or value is None:
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{name}: keys must be str, got {type(k).__name__} {k!r}")
            tv = type(v)
            if tv is str or tv is int or tv is bool or v is None:
                out[k] = v
            elif tv is float and math.isfinite(v):
                out[k] = v
            else:
                out[k] = _jsonable(v, name=f"{name}[{k!r}]")
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(v, name=name) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), name=name)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        v = float(value)
        return v if math.isfinite(v) else None  # JSON has no NaN/inf: stored as null
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, name=name)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value), name=name)
    if value is None or isinstance(value, str):
        return None if value is None else str(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(
        f"{name}: expected JSON-like data (dict, list, str, number, bool, None, numpy array), "
        f"got {type(value).__name__}"
    )


@dataclass
class EpisodeLog:
    """One recorded episode: per-step arrays (time axis first), events and frames.

    Attributes
    ----------
    scenario : str
        Scenario id, e.g. ``"igtwin/AorticArch-v0"``.
    seed : int or None
        Seed given to ``reset``.
    dt : float
        Control step (s).
    meta : dict
        JSON-like run metadata. Keys read by the scoring: ``success_radius_mm``,
        ``force_threshold_n``, ``start_geodesic_mm``, ``start_tip_mm``, ``device_kind``
        (``"needle"`` enables the needle metrics).
    t_s : ndarray, (T,)
        Time at the end of each step (s).
    action : ndarray, (T, A)
        Action applied at each step (as the env interpreted it).
    tip : ndarray, (T, 3)
        Tip position of the navigated device, LPS mm.
    target : ndarray, (T, 3)
        Target position, LPS mm.
    path_progress_mm : ndarray, (T,)
        Progress of the tip along the centreline path to the target (mm).
    path_length_mm : ndarray, (T,)
        Length of that centreline path (mm).
    inserted_length_mm : ndarray, (T, D)
        Inserted length of each device (mm).
    wall_force_max_n, wall_force_mean_n : ndarray, (T,)
        Largest and mean per-node wall contact force during the step (N).
    proximal_force_n : ndarray, (T, D)
        Axial force at each device's proximal end (N).
    reward : ndarray, (T,)
        Reward returned by the step.
    fluoro_on : ndarray of bool, (T,)
        Whether fluoroscopy (or any exposure) was on during the step.
    ka_r_mgy, dap_gycm2, contrast_ml : ndarray, (T,)
        Cumulative reference air kerma (mGy), DAP (Gy·cm²) and contrast (mL) since reset.
    n_pulses : ndarray, (T,)
        Cumulative number of X-ray pulses since reset.
    positions : ndarray, (T, N, 3) or None
        Node positions of the navigated device (LPS mm), when recorded.
    events : list of dict
        ``{"kind": str, "t_s": float, "data": dict}``; see :meth:`EpisodeRecorder.record_event`.
    frame_steps : ndarray of int, (F,)
        Step number given with each stored frame (as the env counts steps).
    frame_t_s : ndarray, (F,)
        Time (s) of the last step recorded before each frame (0 before the first step).
    frames : list of ndarray uint8 (H, W)
        Stored fluoroscopy frames (display grey levels).
    frame_labels : list of str
        One label per frame.
    success, terminated, truncated : bool
        Outcome as decided by the env.
    reason : str
        Why the episode ended (``"target_reached"``, ``"time_limit"`` ...).
    reset_seed : int or None
        Seed to pass to ``reset`` for replay.
    actions_for_replay : ndarray, (T', A)
        Actions to feed to ``step`` after ``reset(seed=reset_seed)`` to reproduce the episode;
        stored with their dtype, bit-exact.
    extras : dict of str to ndarray
        Optional further per-episode arrays or scalars (needle/ablation fields such as
        ``ablation_coverage``, ``ablation_min_margin_mm``).
    """

    scenario: str
    seed: int | None
    dt: float
    meta: dict
    t_s: np.ndarray
    action: np.ndarray
    tip: np.ndarray
    target: np.ndarray
    path_progress_mm: np.ndarray
    path_length_mm: np.ndarray
    inserted_length_mm: np.ndarray
    wall_force_max_n: np.ndarray
    wall_force_mean_n: np.ndarray
    proximal_force_n: np.ndarray
    reward: np.ndarray
    fluoro_on: np.ndarray
    ka_r_mgy: np.ndarray
    dap_gycm2: np.ndarray
    contrast_ml: np.ndarray
    n_pulses: np.ndarray
    positions: np.ndarray | None = None
    events: list[dict] = field(default_factory=list)
    frame_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    frame_t_s: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    frames: list[np.ndarray] = field(default_factory=list)
    frame_labels: list[str] = field(default_factory=list)
    success: bool = False
    terminated: bool = False
    truncated: bool = False
    reason: str = ""
    reset_seed: int | None = None
    actions_for_replay: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived
    @property
    def n_steps(self) -> int:
        """Number of recorded steps T."""
        return int(self.t_s.shape[0])

    @property
    def duration_s(self) -> float:
        """Episode duration (s): the time of the last recorded step (0 if empty)."""
        return float(self.t_s[-1]) if self.n_steps else 0.0

    @property
    def tip_to_target_mm(self) -> np.ndarray:
        """Tip-to-target distance at each step, (T,), mm."""
        return np.linalg.norm(self.tip - self.target, axis=-1)

    def events_of(self, kind: str) -> list[dict]:
        """Events whose ``kind`` equals `kind` (case-insensitive), in time order."""
        k = kind.lower()
        return [e for e in self.events if e["kind"].lower() == k]

    # ------------------------------------------------------------------ I/O
    def _header(self) -> dict:
        return {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "scenario": self.scenario,
            "seed": self.seed,
            "dt": float(self.dt),
            "meta": _jsonable(self.meta, name="meta"),
            "events": _jsonable(self.events, name="events"),
            "frame_labels": list(self.frame_labels),
            "n_frames": len(self.frames),
            "success": bool(self.success),
            "terminated": bool(self.terminated),
            "truncated": bool(self.truncated),
            "reason": self.reason,
            "reset_seed": self.reset_seed,
            "has_positions": self.positions is not None,
            "extras": sorted(self.extras),
        }

    def save(self, path: str | Path) -> Path:
        """Write the log to one ``.npz`` file (arrays + JSON header, no pickle).

        Parameters
        ----------
        path : str or Path
            Destination; ``.npz`` is appended if missing. Written atomically (temp + rename).

        Returns
        -------
        Path
            The file written.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {name: getattr(self, name) for name in _STEP_ARRAYS}
        arrays["frame_steps"] = self.frame_steps
        arrays["frame_t_s"] = self.frame_t_s
        arrays["actions_for_replay"] = self.actions_for_replay
        if self.positions is not None:
            arrays["positions"] = self.positions
        for i, frame in enumerate(self.frames):
            arrays[f"frame_{i:04d}"] = frame
        for name, value in self.extras.items():
            arrays[f"extra__{name}"] = np.asarray(value)
        header = json.dumps(self._header(), allow_nan=False).encode("utf-8")
        arrays["header_json"] = np.frombuffer(header, dtype=np.uint8)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> EpisodeLog:
        """Read a log written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not an IGTwin episode log or has an unknown version.
        """
        path = Path(path)
        with np.load(path, allow_pickle=False) as z:
            if "header_json" not in z.files:
                raise ValueError(f"{path} is not an IGTwin episode log (no 'header_json' entry)")
            header = json.loads(z["header_json"].tobytes().decode("utf-8"))
            if header.get("format") != _FORMAT or header.get("version") != _FORMAT_VERSION:
                raise ValueError(
                    f"{path}: expected format {_FORMAT!r} version {_FORMAT_VERSION}, got "
                    f"{header.get('format')!r} version {header.get('version')!r}"
                )
            arrays = {name: z[name] for name in _STEP_ARRAYS}
            frames = [z[f"frame_{i:04d}"] for i in range(header["n_frames"])]
            positions = z["positions"] if header["has_positions"] else None
            extras = {name: z[f"extra__{name}"] for name in header["extras"]}
            frame_steps = z["frame_steps"]
            frame_t_s = z["frame_t_s"]
            actions_for_replay = z["actions_for_replay"]
        return cls(
            scenario=header["scenario"],
            seed=header["seed"],
            dt=header["dt"],
            meta=header["meta"],
            **arrays,
            positions=positions,
            events=header["events"],
            frame_steps=frame_steps,
            frame_t_s=frame_t_s,
            frames=frames,
            frame_labels=header["frame_labels"],
            success=header["success"],
            terminated=header["terminated"],
            truncated=header["truncated"],
            reason=header["reason"],
            reset_seed=header["reset_seed"],
            actions_for_replay=actions_for_replay,
            extras=extras,
        )

    def to_dict(self) -> dict:
        """JSON-ready dict of everything except the frames' pixels (frames as step + label)."""
        out = self._header()
        for name in _STEP_ARRAYS:
            out[name] = _jsonable(getattr(self, name), name=name)
        out["actions_for_replay"] = _jsonable(self.actions_for_replay, name="actions_for_replay")
        out["positions"] = (
            None if self.positions is None else _jsonable(self.positions, name="positions")
        )
        out["frames"] = [
            {"step": int(s), "t_s": float(t), "label": lab, "shape": list(f.shape)}
            for s, t, lab, f in zip(
                self.frame_steps, self.frame_t_s, self.frame_labels, self.frames, strict=True
            )
        ]
        out["extras"] = {k: _jsonable(np.asarray(v), name=k) for k, v in self.extras.items()}
        return out


def _dtype(name: str, value: Any) -> Any:
    """Buffer dtype of a step series: as ``EpisodeLog`` stores it (actions keep theirs)."""
    if name == "action":
        return value.dtype
    return {"fluoro_on": bool, "n_pulses": np.int64}.get(name, np.float64)


def _vec(value: Any, name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != len(shape) or any(
        s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)
    ):
        want = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite values, got {arr}")
    return arr


class EpisodeRecorder:
    """Collects one episode step by step; :meth:`finish` returns an :class:`EpisodeLog`.

    Parameters
    ----------
    scenario : str
        Scenario id.
    seed : int or None
        Seed given to ``reset``.
    dt : float
        Control step (s), > 0.
    meta : dict, optional
        JSON-like metadata, copied.

    Examples
    --------
    >>> import numpy as np
    >>> rec = EpisodeRecorder("demo", 0, 0.1, {})
    >>> for k in range(3):
    ...     rec.record_step(0.1 * (k + 1), np.array([1.0, 0.0]), [0, 0, k], [0, 0, 5], k, 5,
    ...                     [k], 0.1, 0.05, [0.2], 0.0, True, 0.01 * k, 1e-4 * k, 0.0, 2 * k)
    >>> log = rec.finish(False, False, True, "time_limit", 0, np.ones((3, 2)))
    >>> log.n_steps, float(log.tip_to_target_mm[-1])
    (3, 3.0)
    """

    def __init__(self, scenario: str, seed: int | None, dt: float, meta: dict | None = None):
        if not isinstance(scenario, str):
            raise TypeError(f"scenario: expected str, got {type(scenario).__name__}")
        if not (isinstance(dt, int | float | np.floating) and dt > 0 and math.isfinite(dt)):
            raise ValueError(f"dt: expected a positive finite control step in s, got {dt!r}")
        self.scenario = scenario
        self.seed = None if seed is None else int(seed)
        self.dt = float(dt)
        self.meta = _jsonable(dict(meta or {}), name="meta")
        # per-step series in preallocated arrays (allocated at the first step, doubled when full)
        self._n = 0
        self._buf: dict[str, np.ndarray] = {}
        self._last: dict[str, float] = {}
        self._has_positions = False
        self._events: list[dict] = []
        self._frames: list[tuple[int, np.ndarray, str, float]] = []
        self._finished = False

    @property
    def n_steps(self) -> int:
        """Number of steps recorded so far."""
        return self._n

    def _allocate(self, row: dict[str, Any], capacity: int) -> None:
        self._buf = {
            name: np.empty((capacity, *np.shape(v)), dtype=_dtype(name, v))
            for name, v in row.items()
        }

    def _grow(self) -> None:
        n = self._n
        for name, b in self._buf.items():
            new = np.empty((2 * len(b), *b.shape[1:]), dtype=b.dtype)
            new[:n] = b[:n]
            self._buf[name] = new

    def record_step(
        self,
        t_s: float,
        action: np.ndarray,
        tip: np.ndarray,
        target: np.ndarray,
        path_progress_mm: float,
        path_length_mm: float,
        inserted_length_mm: np.ndarray,
        wall_force_max_n: float,
        wall_force_mean_n: float,
        proximal_force_n: np.ndarray,
        reward: float,
        fluoro_on: bool,
        ka_r_mgy: float,
        dap_gycm2: float,
        contrast_ml: float,
        n_pulses: int,
        positions: np.ndarray | None = None,
    ) -> None:
        """Append one control step (values after the step; units in the class docstring).

        Raises
        ------
        ValueError
            On a wrong shape, a non-finite value, time not increasing, a negative force, a
            cumulative total (Ka,r, DAP, contrast, pulses) that decreased, or positions given
            for some steps only.
        """
        self._check_open()
        n = self._n
        last = self._last
        t = float(t_s)
        if not math.isfinite(t) or (n and t <= last["t_s"]):
            prev = last["t_s"] if n else None
            raise ValueError(f"t_s: expected finite and increasing time (s), got {t} after {prev}")
        action = np.asarray(action)
        if action.ndim != 1:
            raise ValueError(f"action: expected shape (A,), got {action.shape}")
        values = {
            "t_s": t,
            "action": action,
            "tip": _vec(tip, "tip", (3,)),
            "target": _vec(target, "target", (3,)),
            "path_progress_mm": float(path_progress_mm),
            "path_length_mm": float(path_length_mm),
            "inserted_length_mm": _vec(
                np.atleast_1d(inserted_length_mm), "inserted_length_mm", (None,)
            ),
            "wall_force_max_n": float(wall_force_max_n),
            "wall_force_mean_n": float(wall_force_mean_n),
            "proximal_force_n": _vec(np.atleast_1d(proximal_force_n), "proximal_force_n", (None,)),
            "reward": float(reward),
            "fluoro_on": bool(fluoro_on),
            "ka_r_mgy": float(ka_r_mgy),
            "dap_gycm2": float(dap_gycm2),
            "contrast_ml": float(contrast_ml),
            "n_pulses": int(n_pulses),
        }
        for name in ("wall_force_max_n", "wall_force_mean_n"):
            if not (values[name] >= 0 and math.isfinite(values[name])):
                raise ValueError(f"{name}: expected a finite force >= 0 N, got {values[name]}")
        for name in _CUMULATIVE:
            v = values[name]
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"{name}: expected a finite cumulative total >= 0, got {v}")
            if n and v < last[name] - 1e-12 * max(1.0, abs(last[name])):
                raise ValueError(
                    f"{name}: expected a cumulative total since reset (non-decreasing), got "
                    f"{v} after {last[name]}; pass running totals, not per-step increments"
                )
        buf = self._buf
        if n:
            if action.shape != buf["action"].shape[1:]:
                raise ValueError(
                    f"action: expected shape {buf['action'].shape[1:]}, got {action.shape}"
                )
            for name in ("inserted_length_mm", "proximal_force_n"):
                if values[name].shape != buf[name].shape[1:]:
                    raise ValueError(
                        f"{name}: expected shape {buf[name].shape[1:]}, got {values[name].shape}"
                    )
            if (positions is None) == self._has_positions:
                raise ValueError("positions: give node positions (N, 3) at every step or at none")
        if positions is not None:
            pos = _vec(positions, "positions", (None, 3))
            if n and pos.shape != buf["positions"].shape[1:]:
                raise ValueError(
                    f"positions: expected shape {buf['positions'].shape[1:]}, got {pos.shape}"
                )
            values["positions"] = pos
        if not n:
            self._has_positions = positions is not None
            self._allocate(values, 256)
            buf = self._buf
        elif n == len(buf["t_s"]):
            self._grow()
            buf = self._buf
        if action.dtype != buf["action"].dtype:  # keep what np.stack of the actions would give
            buf["action"] = buf["action"].astype(np.result_type(buf["action"], action))
        for name, v in values.items():
            buf[name][n] = v
        for name in ("t_s", *_CUMULATIVE):
            last[name] = values[name]
        self._n = n + 1

    def record_event(self, kind: str, t_s: float, data: dict | None = None) -> None:
        """Record an event.

        Parameters
        ----------
        kind : str
            ``"irradiation"`` (an RDSR-like irradiation event), ``"injection"`` (contrast),
            ``"carm_move"``, or any other name (kept, not scored).
        t_s : float
            Time (s).
        data : dict
            JSON-like payload, copied. For ``"irradiation"``: ``mode`` (``"fluoro"``,
            ``"cine"`` or ``"dsa"``), ``n_pulses`` (frames), ``ka_r_mgy``, ``dap_gycm2``, and
            optionally ``kvp``, ``ma``, ``pulse_width_ms``, ``alpha_deg``, ``beta_deg``,
            ``sid_mm``, ``duration_s``. For ``"injection"``: ``volume_ml``.
        """
        self._check_open()
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"kind: expected a non-empty str, got {kind!r}")
        t = float(t_s)
        if not math.isfinite(t):
            raise ValueError(f"t_s: expected a finite time in s, got {t_s!r}")
        self._events.append(
            {"kind": kind, "t_s": t, "data": _jsonable(dict(data or {}), name="data")}
        )

    def record_frame(self, step: int, image: np.ndarray, label: str = "") -> None:
        """Keep one fluoroscopy frame for the report.

        Parameters
        ----------
        step : int
            Step number as the env counts it (stored as given).
        image : ndarray of uint8, (H, W)
            Display grey levels, copied.
        label : str
            Caption (view, protocol ...).

        The frame is stamped with the time of the last recorded step.
        """
        self._check_open()
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 2:
            raise ValueError(f"image: expected uint8 (H, W), got {image.dtype} {image.shape}")
        t = self._last["t_s"] if self._n else 0.0
        self._frames.append((int(step), image.copy(), str(label), t))

    def finish(
        self,
        success: bool,
        terminated: bool,
        truncated: bool,
        reason: str,
        reset_seed: int | None,
        actions_for_replay: np.ndarray,
        *,
        extras: dict[str, Any] | None = None,
    ) -> EpisodeLog:
        """Close the episode and return its :class:`EpisodeLog` (the recorder is then spent).

        Parameters
        ----------
        success, terminated, truncated : bool
            Outcome as decided by the env.
        reason : str
            Why it ended.
        reset_seed : int or None
            Seed for ``reset`` to replay.
        actions_for_replay : ndarray, (T', A)
            Actions to replay, stored as given (dtype kept).
        extras : dict, optional
            Further named arrays/scalars (e.g. ``ablation_coverage``), stored as numpy arrays.
        """
        self._check_open()
        n = self._n
        buf = self._buf
        a_dim = buf["action"].shape[1] if n else 0
        d_dim = buf["inserted_length_mm"].shape[1] if n else 0
        replay = np.array(actions_for_replay, copy=True)
        if replay.ndim == 1 and replay.size == 0:
            replay = replay.reshape(0, a_dim)
        if replay.ndim != 2:
            raise ValueError(f"actions_for_replay: expected shape (T, A), got {replay.shape}")

        def stack(name: str, dtype: Any, empty: tuple[int, ...]) -> np.ndarray:
            return buf[name][:n].astype(dtype) if n else np.zeros(empty, dtype=dtype)

        log = EpisodeLog(
            scenario=self.scenario,
            seed=self.seed,
            dt=self.dt,
            meta=self.meta,
            t_s=stack("t_s", np.float64, (0,)),
            action=buf["action"][:n].copy() if n else np.zeros((0, 0)),
            tip=stack("tip", np.float64, (0, 3)),
            target=stack("target", np.float64, (0, 3)),
            path_progress_mm=stack("path_progress_mm", np.float64, (0,)),
            path_length_mm=stack("path_length_mm", np.float64, (0,)),
            inserted_length_mm=stack("inserted_length_mm", np.float64, (0, d_dim)),
            wall_force_max_n=stack("wall_force_max_n", np.float64, (0,)),
            wall_force_mean_n=stack("wall_force_mean_n", np.float64, (0,)),
            proximal_force_n=stack("proximal_force_n", np.float64, (0, d_dim)),
            reward=stack("reward", np.float64, (0,)),
            fluoro_on=stack("fluoro_on", bool, (0,)),
            ka_r_mgy=stack("ka_r_mgy", np.float64, (0,)),
            dap_gycm2=stack("dap_gycm2", np.float64, (0,)),
            contrast_ml=stack("contrast_ml", np.float64, (0,)),
            n_pulses=stack("n_pulses", np.int64, (0,)),
            positions=buf["positions"][:n].copy() if self._has_positions and n else None,
            events=sorted(self._events, key=lambda e: e["t_s"]),
            frame_steps=np.array([f[0] for f in self._frames], dtype=np.int64),
            frame_t_s=np.array([f[3] for f in self._frames], dtype=np.float64),
            frames=[f[1] for f in self._frames],
            frame_labels=[f[2] for f in self._frames],
            success=bool(success),
            terminated=bool(terminated),
            truncated=bool(truncated),
            reason=str(reason),
            reset_seed=None if reset_seed is None else int(reset_seed),
            actions_for_replay=replay,
            extras={k: np.asarray(v) for k, v in (extras or {}).items()},
        )
        self._finished = True
        return log

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError("this EpisodeRecorder is finished; start a new one after reset")


def demo_episode_log(*, expert: bool = False, seed: int = 0) -> EpisodeLog:
    """A small synthetic episode for examples, tests and report previews (no physics).

    The tip follows a curved path (an "arch" in the x-z plane, then down a branch) toward a
    target at (40, 10, 60) LPS mm; the "trainee" (``expert=False``) wanders, hesitates, presses
    harder on the wall, uses more fluoroscopy and one cine run; the "expert" moves smoothly.

    Parameters
    ----------
    expert : bool, default: False
        Draw the expert's episode instead of the trainee's.
    seed : int, default: 0
        Seed of the random perturbations.

    Returns
    -------
    EpisodeLog
        Recorded at dt = 1/7.5 s with 64×64 synthetic frames every 10 steps.

    Examples
    --------
    >>> log = demo_episode_log(expert=True)
    >>> log.success, log.n_steps
    (True, 60)
    """
    rng = np.random.default_rng(seed)
    dt = 1.0 / 7.5
    n = 60 if expert else 110
    target = np.array([40.0, 10.0, 60.0])
    s = np.linspace(0.0, 1.0, n)
    if not expert:  # hesitation: progress stalls and backs up mid-way
        s = np.clip(s + 0.08 * np.sin(3 * np.pi * s) * (s > 0.3), 0, 1)
        s = np.maximum.accumulate(s) - 0.05 * np.exp(-(((s - 0.55) / 0.05) ** 2))
    p0, p1 = np.zeros(3), np.array([-15.0, 5.0, 75.0])  # quadratic Bezier "arch"
    centre = (1 - s)[:, None] ** 2 * p0 + (2 * s * (1 - s))[:, None] * p1 + (s**2)[:, None] * target
    fine = np.linspace(0, 1, 401)[:, None]
    curve = (1 - fine) ** 2 * p0 + 2 * fine * (1 - fine) * p1 + fine**2 * target
    path_length = float(np.linalg.norm(np.diff(curve, axis=0), axis=1).sum())
    noise = 0.0 if expert else 1.2
    tip = (
        centre
        + noise * np.cumsum(rng.normal(size=(n, 3)), axis=0) / np.sqrt(np.arange(1, n + 1))[:, None]
    )
    tip[-1] = target + (np.array([0.8, -0.5, 0.6]) if expert else np.array([2.5, 1.5, -2.0]))
    rec = EpisodeRecorder(
        "igtwin/Demo-v0",
        seed,
        dt,
        {
            "device_kind": "guidewire",
            "skill": "expert" if expert else "trainee",
            "success_radius_mm": 5.0,
            "force_threshold_n": 0.6,
        },
    )
    ka = dap = contrast = 0.0
    pulses = 0
    prev_progress = 0.0
    for k in range(n):
        t = (k + 1) * dt
        progress = float(s[k] * path_length)
        action = np.array(
            [
                np.clip((progress - prev_progress) / (dt * 40.0), -1, 1),
                (0.2 if expert else 0.6) * np.sin(k / (7 if expert else 3)),
            ]
        )
        prev_progress = progress
        fluoro = bool(expert and k % 3 != 2) or bool(not expert and (k % 10) < 8)
        new_pulses = int(fluoro) * 1
        if not expert and k == 70:
            rec.record_event(
                "irradiation",
                t,
                {
                    "mode": "cine",
                    "n_pulses": 15,
                    "ka_r_mgy": 1.2,
                    "dap_gycm2": 0.12,
                    "duration_s": 1.0,
                    "kvp": 80,
                    "alpha_deg": 30.0,
                    "beta_deg": 0.0,
                },
            )
            ka += 1.2
            dap += 0.12
            new_pulses += 15
        if k in (5, 75) and (not expert or k == 5):
            rec.record_event("injection", t, {"volume_ml": 4.0})
            contrast += 4.0
        if k == 40:
            rec.record_event("carm_move", t, {"alpha_deg": 30.0, "beta_deg": 0.0})
        if fluoro:
            rec.record_event(
                "irradiation",
                t,
                {"mode": "fluoro", "n_pulses": 1, "ka_r_mgy": 0.04, "dap_gycm2": 0.004},
            )
        ka += 0.04 * new_pulses if fluoro else 0.0
        dap += 0.004 * new_pulses if fluoro else 0.0
        pulses += new_pulses
        bump = np.exp(-(((k - 0.6 * n) / 4.0) ** 2))
        fmax = (
            (0.15 + 0.25 * bump + 0.03 * abs(rng.normal()))
            if expert
            else (0.25 + 0.7 * bump + 0.1 * abs(rng.normal()))
        )
        rec.record_step(
            t,
            action,
            tip[k],
            target,
            progress,
            path_length,
            [progress + 20.0],
            fmax,
            0.5 * fmax,
            [0.3 + 0.5 * fmax],
            -float(np.linalg.norm(tip[k] - target)) * 1e-3,
            fluoro,
            ka,
            dap,
            contrast,
            pulses,
            positions=np.linspace(tip[k] - np.array([0, 0, 30.0]), tip[k], 8),
        )
        if k % 10 == 0:
            yy, xx = np.mgrid[0:64, 0:64]
            img = 200 - 40 * np.exp(-((xx - 32) ** 2) / 200.0)
            px = np.clip((tip[k, [0, 2]] / 100.0 * 48 + 8).astype(int), 0, 63)
            img[np.abs(xx - px[0]) + np.abs(yy - (63 - px[1])) < 3] = 30
            rec.record_frame(k, img.astype(np.uint8), "fluoro AP")
    return rec.finish(True, True, False, "target_reached", seed, np.zeros((n, 2)))
