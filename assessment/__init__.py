"""IGTwin assessment layer: episode recording, the metric registry and case reports.

The env writes every control step into an :class:`EpisodeRecorder`; the resulting
:class:`EpisodeLog` is scored by :func:`compute_metrics` (metrics from :data:`metric_registry`,
each with a unit and a validity source) and turned into a case report by :func:`write_report`
(``report.json`` + self-contained ``report.html``) or, for many episodes,
:func:`write_summary_report`. Plotting (matplotlib, Agg) is imported only when a report is
written.
"""

from ._metrics import ablation_coverage_margin, log_dimensionless_jerk, register_builtin_metrics
from ._recorder import EpisodeLog, EpisodeRecorder, demo_episode_log
from ._registry import (
    Metric,
    MetricContext,
    MetricRegistry,
    MetricValue,
    UnknownMetricError,
    compute_metrics,
    metric_registry,
)
from ._report import (
    dose_summary,
    metrics_table,
    summarize_metrics,
    write_report,
    write_summary_report,
)

__all__ = [
    "EpisodeLog",
    "EpisodeRecorder",
    "Metric",
    "MetricContext",
    "MetricRegistry",
    "MetricValue",
    "UnknownMetricError",
    "ablation_coverage_margin",
    "compute_metrics",
    "demo_episode_log",
    "dose_summary",
    "log_dimensionless_jerk",
    "metric_registry",
    "metrics_table",
    "register_builtin_metrics",
    "summarize_metrics",
    "write_report",
    "write_summary_report",
]
