"""Metric registry: each metric is a named pure function of an episode log with a unit.

A :class:`Metric` carries its unit, a one-line definition, its direction
(``higher_is_better``) and ``validity_source``: where the evidence that it measures what it
claims comes from (a standard, a published study) and, honestly, when that evidence does not
yet exist for IGTwin. :func:`compute_metrics` runs every registered metric (or the chosen
ones) on an :class:`~igtwin.assessment.EpisodeLog`; a metric whose inputs the log does not
carry (needle fields on a catheter run) returns ``None`` and is omitted.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._recorder import EpisodeLog

__all__ = [
    "Metric",
    "MetricContext",
    "MetricRegistry",
    "MetricValue",
    "UnknownMetricError",
    "compute_metrics",
    "metric_registry",
]

#: Default success radius (mm) when neither the caller nor ``log.meta`` gives one. stEVE's
#: targets count as reached within a configurable threshold, 5 mm in its navigation examples.
DEFAULT_SUCCESS_RADIUS_MM = 5.0
#: Default wall-force safety threshold (N) when neither the caller nor ``log.meta`` gives one.
#: A placeholder, not a validated vessel-safety limit: scenarios should set their own.
DEFAULT_FORCE_THRESHOLD_N = 1.0
#: Default action dead band: |a| at or below it counts as "no command" for n_movements.
DEFAULT_ACTION_DEADBAND = 1e-6


class UnknownMetricError(KeyError, ValueError):
    """An unknown metric name (a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class MetricContext:
    """Scoring parameters shared by all metrics of one :func:`compute_metrics` call.

    Attributes
    ----------
    success_radius_mm : float
        Tip-to-target distance (mm) within which the target counts as reached.
    force_threshold_n : float
        Wall contact force (N) above which contact counts as unsafe.
    action_deadband : float
        Action magnitude at or below which an action component counts as idle.
    """

    success_radius_mm: float = DEFAULT_SUCCESS_RADIUS_MM
    force_threshold_n: float = DEFAULT_FORCE_THRESHOLD_N
    action_deadband: float = DEFAULT_ACTION_DEADBAND


@dataclass(frozen=True)
class MetricValue:
    """A computed metric: ``value`` in ``unit``."""

    value: float
    unit: str


@dataclass(frozen=True)
class Metric:
    """A named, unit-carrying score of an episode.

    Attributes
    ----------
    name : str
        Identifier, snake_case with the unit as suffix where it has one.
    unit : str
        Unit of the value (``"mm"``, ``"s"``, ``"mGy"``, ``"Gy·cm²"``, ``"1"`` for counts and
        fractions, ``"bool"`` for 0/1 outcomes).
    definition : str
        One-sentence definition of how it is computed.
    higher_is_better : bool or None
        Direction for colouring; ``None`` where neither is better (context only).
    validity_source : str
        Where its validity evidence comes from (standard, publication), or the honest statement
        that construct validity is not yet established in IGTwin.
    fn : callable
        ``fn(log, ctx) -> float | None``; ``None`` means "not applicable to this log".
    category : str
        Grouping for reports (``"outcome"``, ``"dose"``, ``"safety"``, ``"motion"``,
        ``"needle"``).
    """

    name: str
    unit: str
    definition: str
    higher_is_better: bool | None
    validity_source: str
    fn: Callable[[EpisodeLog, MetricContext], float | None]
    category: str = "outcome"


class MetricRegistry:
    """Ordered registry of :class:`Metric` by name.

    Examples
    --------
    >>> reg = MetricRegistry()
    >>> _ = reg.register(Metric("steps", "1", "number of steps", None, "bookkeeping",
    ...                         lambda log, ctx: float(log.n_steps)))
    >>> reg.list()
    ['steps']
    """

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def register(self, metric: Metric, *, overwrite: bool = False) -> Metric:
        """Add `metric`; raises ValueError if the name is taken and not `overwrite`."""
        if not isinstance(metric, Metric):
            raise TypeError(f"metric: expected Metric, got {type(metric).__name__}")
        if metric.name in self._metrics and not overwrite:
            raise ValueError(
                f"metric {metric.name!r} is already registered; pass overwrite=True to replace it"
            )
        self._metrics[metric.name] = metric
        return metric

    def get(self, name: str) -> Metric:
        """The metric called `name`; unknown names raise :class:`UnknownMetricError`."""
        try:
            return self._metrics[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), list(self._metrics), n=3)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise UnknownMetricError(
                f"unknown metric {name!r}.{hint} Known metrics: {', '.join(self._metrics)}"
            ) from None

    def list(self) -> list[str]:
        """Names of the registered metrics, in registration order."""
        return list(self._metrics)

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __iter__(self):
        return iter(self._metrics.values())

    def __len__(self) -> int:
        return len(self._metrics)


#: The default registry, filled by ``_metrics.py`` on import of :mod:`igtwin.assessment`.
metric_registry = MetricRegistry()


def _param(value: float | None, log: EpisodeLog, key: str, default: float, name: str) -> float:
    if value is None:
        value = log.meta.get(key, default)
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite value >= 0, got {value}")
    return value


def compute_metrics(
    log: EpisodeLog,
    *,
    success_radius_mm: float | None = None,
    force_threshold_n: float | None = None,
    action_deadband: float = DEFAULT_ACTION_DEADBAND,
    names: Iterable[str] | None = None,
    registry: MetricRegistry | None = None,
) -> dict[str, MetricValue]:
    """Score one episode.

    Parameters
    ----------
    log : EpisodeLog
        The recorded episode.
    success_radius_mm : float, optional
        Radius (mm) for "target reached" in time-based metrics; default
        ``log.meta["success_radius_mm"]``, else 5 mm.
    force_threshold_n : float, optional
        Wall-force safety threshold (N); default ``log.meta["force_threshold_n"]``, else 1 N
        (a placeholder, see :data:`DEFAULT_FORCE_THRESHOLD_N`).
    action_deadband : float, default: 1e-6
        Action magnitude counted as idle by ``n_movements``.
    names : iterable of str, optional
        Metrics to compute (unknown names raise with a "did you mean"); default all.
    registry : MetricRegistry, optional
        Default :data:`metric_registry`.

    Returns
    -------
    dict of str to MetricValue
        In registry (or `names`) order; metrics not applicable to this log are omitted.
    """
    registry = metric_registry if registry is None else registry
    ctx = MetricContext(
        success_radius_mm=_param(
            success_radius_mm,
            log,
            "success_radius_mm",
            DEFAULT_SUCCESS_RADIUS_MM,
            "success_radius_mm",
        ),
        force_threshold_n=_param(
            force_threshold_n,
            log,
            "force_threshold_n",
            DEFAULT_FORCE_THRESHOLD_N,
            "force_threshold_n",
        ),
        action_deadband=_param(action_deadband, log, "action_deadband", 0.0, "action_deadband"),
    )
    metrics = [registry.get(n) for n in names] if names is not None else list(registry)
    out: dict[str, MetricValue] = {}
    for metric in metrics:
        value = metric.fn(log, ctx)
        if value is None:
            continue
        out[metric.name] = MetricValue(float(value), metric.unit)
    return out
