"""Case reports: ``report.json`` + a self-contained ``report.html`` per episode, and summaries.

:func:`write_report` scores a trainee log (and optionally an expert log of the same case),
draws the figures (``_plots.py``; PNGs written beside the HTML *and* embedded base64, so the
HTML stands alone) and writes both files. :func:`write_summary_report` aggregates N episodes
(success rate, mean ± sd of each metric). :func:`metrics_table` renders metrics as a
``rich`` table for the console.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._recorder import EpisodeLog, _jsonable
from ._registry import (
    DEFAULT_FORCE_THRESHOLD_N,
    DEFAULT_SUCCESS_RADIUS_MM,
    MetricRegistry,
    MetricValue,
    UnknownMetricError,
    compute_metrics,
    metric_registry,
)

__all__ = [
    "dose_summary",
    "metrics_table",
    "summarize_metrics",
    "write_report",
    "write_summary_report",
]

_CATEGORIES = ("outcome", "dose", "safety", "motion", "needle")


# ----------------------------------------------------------------------------- helpers
def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if unit == "bool":
        return "yes" if value >= 0.5 else "no"
    if float(value).is_integer() and abs(value) < 1e6:
        return f"{int(value)}"
    a = abs(value)
    if a != 0 and (a < 1e-2 or a >= 1e5):
        return f"{value:.3g}"
    return f"{value:.3f}" if a < 10 else f"{value:.2f}" if a < 1000 else f"{value:.0f}"


def _judge(
    name: str, value: float | None, expert: float | None, registry: MetricRegistry
) -> str | None:
    """'better', 'worse', 'equal' for the trainee vs the expert, or None."""
    if value is None or expert is None or name not in registry:
        return None
    hib = registry.get(name).higher_is_better
    if hib is None:
        return None
    tol = 1e-9 * max(1.0, abs(expert))
    if abs(value - expert) <= tol:
        return "equal"
    return "better" if (value > expert) == hib else "worse"


def _scoring(log: EpisodeLog, success_radius_mm: float | None, force_threshold_n: float | None):
    r = (
        success_radius_mm
        if success_radius_mm is not None
        else log.meta.get("success_radius_mm", DEFAULT_SUCCESS_RADIUS_MM)
    )
    f = (
        force_threshold_n
        if force_threshold_n is not None
        else log.meta.get("force_threshold_n", DEFAULT_FORCE_THRESHOLD_N)
    )
    return float(r), float(f)


def _run_summary(log: EpisodeLog) -> dict:
    return {
        "scenario": log.scenario,
        "seed": log.seed,
        "dt_s": log.dt,
        "n_steps": log.n_steps,
        "duration_s": log.duration_s,
        "success": log.success,
        "terminated": log.terminated,
        "truncated": log.truncated,
        "reason": log.reason,
        "reset_seed": log.reset_seed,
        "meta": _jsonable(log.meta, name="meta"),
    }


def dose_summary(log: EpisodeLog) -> dict:
    """Totals and a per-mode breakdown of irradiation events (RDSR-like), JSON-ready.

    Returns
    -------
    dict
        ``ka_r_mgy``, ``dap_gycm2``, ``fluoro_time_s``, ``n_pulses``, ``contrast_ml``,
        ``n_injections`` and ``by_mode`` ({mode: {n_events, n_pulses, ka_r_mgy, dap_gycm2}}).
    """
    by_mode: dict[str, dict[str, float]] = {}
    for e in log.events_of("irradiation"):
        d = e["data"]
        m = by_mode.setdefault(
            str(d.get("mode", "unknown")).lower(),
            {"n_events": 0, "n_pulses": 0, "ka_r_mgy": 0.0, "dap_gycm2": 0.0},
        )
        m["n_events"] += 1
        m["n_pulses"] += int(d.get("n_pulses", d.get("number_of_pulses", 1)) or 0)
        m["ka_r_mgy"] += float(d.get("ka_r_mgy", 0.0) or 0.0)
        m["dap_gycm2"] += float(d.get("dap_gycm2", 0.0) or 0.0)
    last = (lambda a: float(a[-1])) if log.n_steps else (lambda a: 0.0)
    return {
        "ka_r_mgy": last(log.ka_r_mgy),
        "dap_gycm2": last(log.dap_gycm2),
        "fluoro_time_s": float(np.count_nonzero(log.fluoro_on) * log.dt),
        "n_pulses": int(last(log.n_pulses)),
        "contrast_ml": last(log.contrast_ml),
        "n_injections": len(log.events_of("injection")),
        "by_mode": by_mode,
    }


def _metric_rows(
    metrics: Mapping[str, MetricValue],
    expert: Mapping[str, MetricValue] | None,
    registry: MetricRegistry,
) -> dict[str, dict]:
    names = list(metrics) + [n for n in (expert or {}) if n not in metrics]
    rows = {}
    for name in names:
        mv = metrics.get(name)
        ev = (expert or {}).get(name)
        unit = (mv or ev).unit
        value = None if mv is None else mv.value
        evalue = None if ev is None else ev.value
        m = registry.get(name) if name in registry else None
        rows[name] = {
            "value": value,
            "unit": unit,
            "expert": evalue,
            "difference": None if value is None or evalue is None else value - evalue,
            "comparison": _judge(name, value, evalue, registry),
            "higher_is_better": None if m is None else m.higher_is_better,
            "category": "other" if m is None else m.category,
            "definition": "" if m is None else m.definition,
            "validity_source": "" if m is None else m.validity_source,
        }
    return rows


# ----------------------------------------------------------------------------- console
def metrics_table(
    metrics: Mapping[str, MetricValue],
    expert: Mapping[str, MetricValue] | None = None,
    *,
    title: str = "Metrics",
    registry: MetricRegistry | None = None,
):
    """A :class:`rich.table.Table` of metrics (and the expert's, with the difference).

    Parameters
    ----------
    metrics : dict of str to MetricValue
        As returned by :func:`~igtwin.assessment.compute_metrics`.
    expert : dict of str to MetricValue, optional
        The expert's metrics for the same case; adds "expert" and "Δ" columns, the trainee's
        value coloured green (better), red (worse) or plain.
    title : str, default: "Metrics"
    registry : MetricRegistry, optional
        For directions; default the global registry.

    Returns
    -------
    rich.table.Table
    """
    from rich.table import Table

    registry = metric_registry if registry is None else registry
    rows = _metric_rows(metrics, expert, registry)
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("unit")
    table.add_column("value", justify="right")
    if expert is not None:
        table.add_column("expert", justify="right")
        table.add_column("Δ (value − expert)", justify="right")
    style = {"better": "green", "worse": "red"}
    for name, r in rows.items():
        cells = [name, r["unit"]]
        val = _fmt(r["value"], r["unit"])
        cells.append(f"[{style[r['comparison']]}]{val}[/]" if r["comparison"] in style else val)
        if expert is not None:
            cells += [_fmt(r["expert"], r["unit"]), _fmt(r["difference"], "")]
        table.add_row(*cells)
    return table


# ----------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{margin-bottom:4px} .sub{color:#666;margin-top:0}
.badge{display:inline-block;padding:4px 12px;border-radius:12px;color:#fff;font-weight:bold}
.ok{background:#2e7d32} .fail{background:#c62828}
table{border-collapse:collapse;margin:8px 0 16px 0;font-size:14px}
th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f4f4f4}
td.better{background:#e3f5e1;color:#1b5e20} td.worse{background:#fde4e4;color:#b71c1c}
tr.cat td{background:#fafafa;font-weight:bold;text-align:left;color:#555}
img{max-width:100%;border:1px solid #eee;margin:6px 0}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:8px}
details{margin:12px 0} .defs td{text-align:left;font-size:12px;vertical-align:top}
.note{color:#666;font-size:12px}
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _metrics_html(rows: dict[str, dict], has_expert: bool) -> str:
    head = "<tr><th>metric</th><th>unit</th><th>value</th>"
    head += "<th>expert</th><th>Δ (value − expert)</th></tr>" if has_expert else "</tr>"
    out = ["<table>", head]
    ncol = 5 if has_expert else 3
    for cat in (*_CATEGORIES, "other"):
        items = [(n, r) for n, r in rows.items() if r["category"] == cat]
        if not items:
            continue
        out.append(f'<tr class="cat"><td colspan="{ncol}">{cat}</td></tr>')
        for name, r in items:
            cls = f' class="{r["comparison"]}"' if r["comparison"] in ("better", "worse") else ""
            tip = html.escape(f"{r['definition']} | validity: {r['validity_source']}")
            cells = f'<td title="{tip}">{html.escape(name)}</td><td>{html.escape(r["unit"])}</td>'
            cells += f"<td{cls}>{_fmt(r['value'], r['unit'])}</td>"
            if has_expert:
                cells += f"<td>{_fmt(r['expert'], r['unit'])}</td><td>{_fmt(r['difference'])}</td>"
            out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def _definitions_html(rows: dict[str, dict]) -> str:
    out = [
        '<details><summary>Metric definitions and validity sources</summary><table class="defs">'
    ]
    out.append("<tr><th>metric</th><th>definition</th><th>validity source</th></tr>")
    for name, r in rows.items():
        out.append(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(r['definition'])}</td><td>{html.escape(r['validity_source'])}</td></tr>"
        )
    out.append("</table></details>")
    return "\n".join(out)


def _page(title: str, body: str) -> str:
    return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n'


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# ----------------------------------------------------------------------------- reports
def write_report(
    log: EpisodeLog,
    out_dir: str | Path,
    *,
    expert_log: EpisodeLog | None = None,
    metrics: Mapping[str, MetricValue] | None = None,
    title: str = "IGTwin case report",
    success_radius_mm: float | None = None,
    force_threshold_n: float | None = None,
    registry: MetricRegistry | None = None,
) -> Path:
    """Write ``report.json``, ``report.html`` and the figure PNGs for one episode.

    Parameters
    ----------
    log : EpisodeLog
        The trainee's (or agent's) episode.
    out_dir : str or Path
        Folder, created if missing; existing report files in it are replaced.
    expert_log : EpisodeLog, optional
        An expert episode of the same case for side-by-side values and trajectories.
    metrics : dict of str to MetricValue, optional
        Precomputed trainee metrics; default :func:`compute_metrics` on `log`.
    title : str, default: "IGTwin case report"
    success_radius_mm, force_threshold_n : float, optional
        Scoring parameters (mm, N); default from ``log.meta``, else 5 mm and 1 N.
    registry : MetricRegistry, optional
        Default the global registry.

    Returns
    -------
    Path
        The ``report.html`` written.

    Examples
    --------
    >>> import tempfile
    >>> from igtwin.assessment import demo_episode_log
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_report(demo_episode_log(), d, expert_log=demo_episode_log(expert=True))
    ...     sorted(q.name for q in p.parent.iterdir())[:3]
    ['fig_distance.png', 'fig_dose.png', 'fig_force.png']
    """
    from . import _plots

    registry = metric_registry if registry is None else registry
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    radius, threshold = _scoring(log, success_radius_mm, force_threshold_n)
    kw = {"success_radius_mm": radius, "force_threshold_n": threshold, "registry": registry}
    if metrics is None:
        metrics = compute_metrics(log, **kw)
    expert = compute_metrics(expert_log, **kw) if expert_log is not None else None
    rows = _metric_rows(metrics, expert, registry)

    figures = [
        (
            "trajectory",
            "Tip trajectory",
            _plots.plot_trajectory(log, expert_log, success_radius_mm=radius),
        ),
        (
            "distance",
            "Distance to target",
            _plots.plot_distance(log, expert_log, success_radius_mm=radius),
        ),
        ("force", "Wall force", _plots.plot_force(log, expert_log, force_threshold_n=threshold)),
        ("dose", "Cumulative dose", _plots.plot_dose(log, expert_log)),
        ("timeline", "Imaging timeline", _plots.plot_timeline(log)),
        ("frames", "Fluoroscopy frames", _plots.plot_frames(log)),
    ]
    pngs: dict[str, bytes] = {}
    for key, _, fig in figures:
        if fig is None:
            continue
        pngs[key] = _plots.figure_png(fig)
        (out_dir / f"fig_{key}.png").write_bytes(pngs[key])

    dose = dose_summary(log)
    report = {
        "title": title,
        "generated_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "run": _run_summary(log),
        "expert_run": None if expert_log is None else _run_summary(expert_log),
        "scoring": {"success_radius_mm": radius, "force_threshold_n": threshold},
        "metrics": rows,
        "dose": dose,
        "expert_dose": None if expert_log is None else dose_summary(expert_log),
        "events": _jsonable(log.events, name="events"),
        "figures": [f"fig_{k}.png" for k in pngs],
    }
    json_text = json.dumps(_jsonable(report, name="report"), indent=2, allow_nan=False)
    _write_atomic(out_dir / "report.json", json_text)

    ok = log.success
    badge = (
        f'<span class="badge {"ok" if ok else "fail"}">{"SUCCESS" if ok else "NOT REACHED"}</span>'
    )
    sub = (
        f"scenario <b>{html.escape(log.scenario)}</b> · seed {log.seed} · {log.n_steps} steps "
        f"({log.duration_s:.1f} s at {1 / log.dt:.3g} steps/s) · ended: {html.escape(log.reason or '—')}"
        f"{' (terminated)' if log.terminated else ''}{' (truncated)' if log.truncated else ''}"
    )
    headline = " · ".join(
        f"{n}: <b>{_fmt(rows[n]['value'], rows[n]['unit'])}</b>"
        + (f" {html.escape(rows[n]['unit'])}" if rows[n]["unit"] not in ("bool", "1") else "")
        for n in ("success", "time_to_target_s", "tip_to_target_error_mm")
        if n in rows
    )
    dose_line = (
        f"Ka,r <b>{_fmt(dose['ka_r_mgy'])}</b> mGy · DAP <b>{_fmt(dose['dap_gycm2'])}</b> Gy·cm² · "
        f"fluoroscopy <b>{_fmt(dose['fluoro_time_s'])}</b> s, {dose['n_pulses']} pulses · "
        f"contrast <b>{_fmt(dose['contrast_ml'])}</b> mL in {dose['n_injections']} injection(s)"
    )
    modes = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{int(v['n_events'])}</td><td>{int(v['n_pulses'])}</td><td>{_fmt(v['ka_r_mgy'])}</td><td>{_fmt(v['dap_gycm2'])}</td></tr>"
        for m, v in dose["by_mode"].items()
    )
    body = [
        f"<h1>{html.escape(title)} {badge}</h1>",
        f'<p class="sub">{sub}</p>',
        f"<p>{headline}</p><p>{dose_line}</p>",
        "<h2>Metrics</h2>",
        _metrics_html(rows, expert is not None),
        f'<p class="note">Scoring: success radius {radius:g} mm, force threshold {threshold:g} N. '
        "Green: better than the expert; red: worse. Hover a metric name for its definition.</p>",
        _definitions_html(rows),
    ]
    if "trajectory" in pngs:
        body += ["<h2>Trajectory</h2>", _img(pngs["trajectory"], "Tip trajectory, AP and lateral")]
    body.append('<h2>Time course</h2><div class="grid">')
    body += [_img(pngs[k], k) for k in ("distance", "force", "dose", "timeline") if k in pngs]
    body.append("</div>")
    if modes:
        body.append(
            "<h2>Irradiation events</h2><table><tr><th>mode</th><th>events</th><th>pulses</th>"
            f"<th>Ka,r (mGy)</th><th>DAP (Gy·cm²)</th></tr>{modes}</table>"
        )
    if "frames" in pngs:
        body += ["<h2>Fluoroscopy frames</h2>", _img(pngs["frames"], "Fluoroscopy frames")]
    body.append(
        f'<p class="note">Generated {report["generated_utc"]} by IGTwin; data in report.json.</p>'
    )
    html_path = out_dir / "report.html"
    _write_atomic(html_path, _page(title, "\n".join(body)))
    return html_path


def summarize_metrics(
    per_episode: Sequence[Mapping[str, MetricValue]],
) -> dict[str, dict[str, Any]]:
    """Mean, sample sd (ddof = 1; 0 for one value), min, max and n of each metric.

    Parameters
    ----------
    per_episode : sequence of dict of str to MetricValue
        One metrics dict per episode; a metric missing from some episodes is summarised over
        those that have it (``n`` says how many).

    Returns
    -------
    dict of str to dict
        ``{name: {"unit", "mean", "sd", "min", "max", "n"}}`` in first-seen order.
    """
    names: list[str] = []
    for m in per_episode:
        names += [n for n in m if n not in names]
    out = {}
    for name in names:
        vals = np.array([m[name].value for m in per_episode if name in m], dtype=np.float64)
        unit = next(m[name].unit for m in per_episode if name in m)
        out[name] = {
            "unit": unit,
            "mean": float(vals.mean()),
            "sd": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
            "min": float(vals.min()),
            "max": float(vals.max()),
            "n": int(vals.size),
        }
    return out


def write_summary_report(
    logs: Sequence[EpisodeLog],
    out_dir: str | Path,
    *,
    title: str = "IGTwin summary report",
    success_radius_mm: float | None = None,
    force_threshold_n: float | None = None,
    names: Sequence[str] | None = None,
    registry: MetricRegistry | None = None,
) -> Path:
    """Write ``summary.json`` and ``summary.html`` over N episodes.

    Parameters
    ----------
    logs : sequence of EpisodeLog
        At least one episode.
    out_dir : str or Path
        Folder, created if missing.
    title : str, default: "IGTwin summary report"
    success_radius_mm, force_threshold_n : float, optional
        As in :func:`~igtwin.assessment.compute_metrics` (per log from its meta if None).
    names : sequence of str, optional
        Metrics to summarise (default all applicable).
    registry : MetricRegistry, optional

    Returns
    -------
    Path
        The ``summary.html`` written.

    Raises
    ------
    ValueError
        If `logs` is empty.
    """
    logs = list(logs)
    if not logs:
        raise ValueError("logs: expected at least one EpisodeLog, got none")
    for i, lg in enumerate(logs):
        if not isinstance(lg, EpisodeLog):
            raise TypeError(f"logs[{i}]: expected EpisodeLog, got {type(lg).__name__}")
    registry = metric_registry if registry is None else registry
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    per = [
        compute_metrics(
            lg,
            success_radius_mm=success_radius_mm,
            force_threshold_n=force_threshold_n,
            names=names,
            registry=registry,
        )
        for lg in logs
    ]
    stats = summarize_metrics(per)
    success_rate = float(np.mean([lg.success for lg in logs]))
    episodes = [
        {
            "scenario": lg.scenario,
            "seed": lg.seed,
            "success": lg.success,
            "reason": lg.reason,
            "n_steps": lg.n_steps,
            "metrics": {k: v.value for k, v in m.items()},
        }
        for lg, m in zip(logs, per, strict=True)
    ]
    summary = {
        "title": title,
        "generated_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "n_episodes": len(logs),
        "success_rate": success_rate,
        "scenarios": sorted({lg.scenario for lg in logs}),
        "metrics": stats,
        "episodes": episodes,
    }
    _write_atomic(
        out_dir / "summary.json",
        json.dumps(_jsonable(summary, name="summary"), indent=2, allow_nan=False),
    )

    rows = [
        "<table><tr><th>metric</th><th>unit</th><th>mean ± sd</th><th>min</th><th>max</th><th>n</th></tr>"
    ]
    for name, s in stats.items():
        try:
            tip = registry.get(name).definition
        except UnknownMetricError:
            tip = ""
        rows.append(
            f'<tr><td title="{html.escape(tip)}">{html.escape(name)}</td><td>{html.escape(s["unit"])}</td>'
            f"<td>{_fmt(s['mean'])} ± {_fmt(s['sd'])}</td><td>{_fmt(s['min'])}</td><td>{_fmt(s['max'])}</td><td>{s['n']}</td></tr>"
        )
    rows.append("</table>")
    key = [
        n
        for n in ("time_to_target_s", "tip_to_target_error_mm", "ka_r_mgy", "wall_force_max_n")
        if n in stats
    ]
    ep_rows = [
        "<table><tr><th>#</th><th>scenario</th><th>seed</th><th>outcome</th><th>steps</th>"
        + "".join(f"<th>{html.escape(k)}</th>" for k in key)
        + "</tr>"
    ]
    for i, e in enumerate(episodes):
        cls = "better" if e["success"] else "worse"
        ep_rows.append(
            f"<tr><td>{i}</td><td>{html.escape(e['scenario'])}</td><td>{e['seed']}</td>"
            f'<td class="{cls}">{"success" if e["success"] else html.escape(e["reason"] or "failure")}</td><td>{e["n_steps"]}</td>'
            + "".join(f"<td>{_fmt(e['metrics'].get(k))}</td>" for k in key)
            + "</tr>"
        )
    ep_rows.append("</table>")
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{len(logs)} episode(s) · scenario(s): {html.escape(", ".join(summary["scenarios"]))}</p>',
        f"<p>Success rate: <b>{100 * success_rate:.1f} %</b> ({sum(lg.success for lg in logs)}/{len(logs)})</p>",
        "<h2>Metrics (mean ± sample sd)</h2>",
        "\n".join(rows),
        "<h2>Episodes</h2>",
        "\n".join(ep_rows),
        f'<p class="note">Generated {summary["generated_utc"]} by IGTwin; data in summary.json.</p>',
    ]
    html_path = out_dir / "summary.html"
    _write_atomic(html_path, _page(title, "\n".join(body)))
    return html_path
