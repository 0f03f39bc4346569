"""Scenario files (TOML) loaded into typed, validated dataclasses.

A scenario names an anatomy, the devices, the start, the target, the C-arm set-up, the control rate,
episode limits, reward weights and scoring. Unknown keys and bad values raise
:class:`ScenarioError` naming the file, the key and what was expected. Units in files: mm, s,
degrees (angles are converted to radians on load), N, mL.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "AnatomyConfig",
    "CArmConfig",
    "ControlConfig",
    "DeviceConfig",
    "LimitsConfig",
    "RewardConfig",
    "Scenario",
    "ScenarioError",
    "ScoringConfig",
    "StartConfig",
    "TargetConfig",
    "load_scenario",
    "parse_scenario",
]


class ScenarioError(ValueError):
    """A scenario file or dict is invalid; the message names the key and the expectation."""


@dataclass(frozen=True)
class AnatomyConfig:
    """Which patient. Exactly one of ``builtin``, ``procedural`` or ``path``.

    ``procedural`` names a generator (``"aortic-arch"``); ``types`` and ``seeds`` define the
    randomisation: each reset draws a type and a seed from the *training* seeds; evaluation uses
    ``held_out_seeds`` (disjoint from training).
    """

    builtin: str | None = None
    procedural: str | None = None
    path: str | None = None
    types: tuple[str, ...] = ("I", "II", "III", "bovine")
    seeds: tuple[int, int] = (0, 1000)
    held_out_seeds: tuple[int, ...] = ()


@dataclass(frozen=True)
class DeviceConfig:
    """A device from the catalogue, by name (``igtwin.sim.list_devices()``)."""

    name: str


@dataclass(frozen=True)
class StartConfig:
    """Where the episode starts: devices already ``inserted_mm`` into the access vessel.

    For domain randomisation each reset can draw (from the episode's seed) the inserted length
    uniformly in ``inserted_mm ± inserted_jitter_mm`` and, with ``random_rotation``, each
    device's initial axial rotation uniformly in [0, 2π) rad (where an angled tip points).

    ``access`` is where the devices enter (see :data:`ACCESS_SITES`): ``"femoral"`` (the root of
    the vessel tree: the descending aorta, approached from the groin) or ``"right-radial"`` /
    ``"left-radial"`` (the distal end of the right / left subclavian artery, RSA / LSA; the arm
    arteries are not modelled, so the devices start where the arm's route joins the thorax).
    """

    inserted_mm: float = 60.0
    access: str = "femoral"
    inserted_jitter_mm: float = 0.0
    random_rotation: bool = False

    def draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[NDArray, NDArray]:
        """Inserted lengths (mm) and rotations (rad) of shape ``shape`` for one reset."""
        ins = np.full(shape, self.inserted_mm)
        if self.inserted_jitter_mm > 0:
            ins = ins + rng.uniform(-self.inserted_jitter_mm, self.inserted_jitter_mm, shape)
        rot = rng.uniform(0.0, 2 * np.pi, shape) if self.random_rotation else np.zeros(shape)
        return np.maximum(ins, 0.0), rot


#: access site -> the branch at whose distal end devices enter (None: the tree's root)
ACCESS_SITES: dict[str, str | None] = {
    "femoral": None,
    "right-radial": "RSA",
    "left-radial": "LSA",
}


@dataclass(frozen=True)
class TargetConfig:
    """The target: ``depth_mm`` into ``branch`` (along its centerline), or a named anatomy target."""

    branch: str | None = None
    depth_mm: float = 30.0
    point: str | None = None
    radius_mm: float = 5.0


@dataclass(frozen=True)
class CArmConfig:
    """C-arm set-up. Angles are radians after loading (degrees in files)."""

    primary_rad: float = 0.0
    secondary_rad: float = 0.0
    sid_mm: float = 1000.0
    protocol: str = "fluoro-normal"
    pulse_rate_hz: float = 7.5
    image_size: int = 256


@dataclass(frozen=True)
class ControlConfig:
    """Control step: one fluoroscopy pulse. ``substeps`` physics substeps per control step."""

    rate_hz: float = 7.5
    substeps: int = 4


@dataclass(frozen=True)
class LimitsConfig:
    """Episode limits: steps, and the wall force (N) counted unsafe."""

    max_steps: int = 400
    max_wall_force_n: float = 1.0


@dataclass(frozen=True)
class RewardConfig:
    """Reward weights: progress per mm along the path, success bonus, penalties per step."""

    progress_per_mm: float = 0.01
    success: float = 1.0
    wall_force_per_n: float = 0.0
    time_per_step: float = 0.001
    dose_per_mgy: float = 0.0


@dataclass(frozen=True)
class ScoringConfig:
    """Scoring: success radius (mm) and force threshold for safe success (N)."""

    success_radius_mm: float = 5.0
    force_threshold_n: float = 1.0


@dataclass(frozen=True)
class Scenario:
    """A whole case, as loaded from TOML."""

    name: str
    description: str
    anatomy: AnatomyConfig
    devices: tuple[DeviceConfig, ...]
    target: TargetConfig
    start: StartConfig = field(default_factory=StartConfig)
    carm: CArmConfig = field(default_factory=CArmConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    env_id: str | None = None
    source: str = "<dict>"

    @property
    def dt(self) -> float:
        """Control step (s)."""
        return 1.0 / self.control.rate_hz


_DEGREE_KEYS = {"lao_deg": "primary_rad", "cran_deg": "secondary_rad"}


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    allowed = [k for k in fields if not k.endswith("_rad")]
    if cls is CArmConfig:
        allowed += list(_DEGREE_KEYS)
    data = dict(data)
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ScenarioError(f"{where}: unknown key {key!r}; allowed {allowed}.{hint}")
    if cls is CArmConfig:
        for deg, rad in _DEGREE_KEYS.items():
            if deg in data:
                data[rad] = math.radians(_number(data.pop(deg), f"{where}.{deg}"))
    kwargs = {
        key: _coerce(value, fields[key].type, f"{where}.{key}") for key, value in data.items()
    }
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ScenarioError(f"{where}: {e}") from e


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ScenarioError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _coerce(value: Any, annotation: str, where: str) -> Any:
    ann = str(annotation)
    if ann.startswith("float"):
        return _number(value, where)
    if ann.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{where}: expected an integer, got {value!r}")
        return value
    if ann.startswith("str"):
        if value is None and "None" in ann:
            return None
        if not isinstance(value, str):
            raise ScenarioError(f"{where}: expected a string, got {value!r}")
        return value
    if ann.startswith("bool"):
        if not isinstance(value, bool):
            raise ScenarioError(f"{where}: expected true or false, got {value!r}")
        return value
    if ann.startswith("tuple"):
        if not isinstance(value, list | tuple):
            raise ScenarioError(f"{where}: expected a list, got {value!r}")
        return tuple(value)
    return value


def parse_scenario(data: dict, *, source: str = "<dict>") -> Scenario:
    """Validate a scenario dict (as read from TOML) into a :class:`Scenario`.

    Raises
    ------
    ScenarioError
        Naming the bad key or value and what was expected.
    """
    top_allowed = {
        "scenario",
        "anatomy",
        "devices",
        "start",
        "target",
        "carm",
        "control",
        "limits",
        "reward",
        "scoring",
    }
    unknown = set(data) - top_allowed
    if unknown:
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, sorted(top_allowed), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ScenarioError(
            f"{source}: unknown table [{key}]; allowed {sorted(top_allowed)}.{hint}"
        )
    head = data.get("scenario", {})
    if not isinstance(head, dict) or "name" not in head:
        raise ScenarioError(f"{source}: [scenario] table with a `name` is required")
    extra = set(head) - {"name", "description", "env_id"}
    if extra:
        raise ScenarioError(
            f"{source}: [scenario] unknown key {sorted(extra)[0]!r}; allowed name, description, env_id"
        )
    for req in ("anatomy", "devices", "target"):
        if req not in data:
            raise ScenarioError(f"{source}: missing required table [{req}]")
    anatomy = _build(AnatomyConfig, data["anatomy"], f"{source} [anatomy]")
    given = [k for k in ("builtin", "procedural", "path") if getattr(anatomy, k)]
    if len(given) != 1:
        raise ScenarioError(
            f"{source} [anatomy]: give exactly one of builtin, procedural, path; got {given or 'none'}"
        )
    devices_raw = data["devices"]
    if not isinstance(devices_raw, list) or not 1 <= len(devices_raw) <= 2:
        raise ScenarioError(
            f"{source} [[devices]]: expected 1 device or 2 (catheter then wire), got {devices_raw!r}"
        )
    devices = tuple(
        _build(DeviceConfig, d, f"{source} [[devices]][{i}]") for i, d in enumerate(devices_raw)
    )
    target = _build(TargetConfig, data["target"], f"{source} [target]")
    if (target.branch is None) == (target.point is None):
        raise ScenarioError(f"{source} [target]: give exactly one of `branch` or `point`")
    sc = Scenario(
        name=head["name"],
        description=head.get("description", ""),
        env_id=head.get("env_id"),
        anatomy=anatomy,
        devices=devices,
        target=target,
        start=_build(StartConfig, data.get("start", {}), f"{source} [start]"),
        carm=_build(CArmConfig, data.get("carm", {}), f"{source} [carm]"),
        control=_build(ControlConfig, data.get("control", {}), f"{source} [control]"),
        limits=_build(LimitsConfig, data.get("limits", {}), f"{source} [limits]"),
        reward=_build(RewardConfig, data.get("reward", {}), f"{source} [reward]"),
        scoring=_build(ScoringConfig, data.get("scoring", {}), f"{source} [scoring]"),
        source=source,
    )
    _check_ranges(sc)
    return sc


def _check_ranges(sc: Scenario) -> None:
    src = sc.source
    checks = [
        (sc.control.rate_hz > 0 and sc.control.rate_hz <= 60, "[control].rate_hz", "in (0, 60] Hz"),
        (1 <= sc.control.substeps <= 64, "[control].substeps", "in 1..64"),
        (sc.limits.max_steps >= 1, "[limits].max_steps", ">= 1"),
        (sc.start.inserted_mm >= 0, "[start].inserted_mm", ">= 0 mm"),
        (
            0 <= sc.start.inserted_jitter_mm <= sc.start.inserted_mm,
            "[start].inserted_jitter_mm",
            "in [0, inserted_mm] mm",
        ),
        (sc.target.radius_mm > 0, "[target].radius_mm", "> 0 mm"),
        (sc.target.depth_mm >= 0, "[target].depth_mm", ">= 0 mm"),
        (300 <= sc.carm.sid_mm <= 1300, "[carm].sid_mm", "in 300..1300 mm"),
        (16 <= sc.carm.image_size <= 2048, "[carm].image_size", "in 16..2048 px"),
        (sc.scoring.success_radius_mm > 0, "[scoring].success_radius_mm", "> 0 mm"),
        (
            sc.anatomy.seeds[0] < sc.anatomy.seeds[1],
            "[anatomy].seeds",
            "[low, high) with low < high",
        ),
    ]
    for ok, key, expect in checks:
        if not ok:
            raise ScenarioError(f"{src}: {key} must be {expect}")
    if sc.start.access not in ACCESS_SITES:
        close = difflib.get_close_matches(sc.start.access, list(ACCESS_SITES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ScenarioError(
            f"{src}: [start].access {sc.start.access!r} is not one of {list(ACCESS_SITES)}{hint}"
        )
    overlap = set(sc.anatomy.held_out_seeds) & set(range(*sc.anatomy.seeds))
    if overlap:
        raise ScenarioError(
            f"{src}: [anatomy].held_out_seeds overlap the training seeds {sc.anatomy.seeds}: "
            f"{sorted(overlap)[:5]}"
        )


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML: {e}") from e
    return parse_scenario(data, source=str(path))
