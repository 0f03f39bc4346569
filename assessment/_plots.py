"""Case-report figures drawn from episode logs (matplotlib, object API, no pyplot state).

Each ``plot_*`` function takes a trainee :class:`~igtwin.assessment.EpisodeLog` and optionally
an expert log and returns a :class:`matplotlib.figure.Figure`; :func:`figure_png` turns one into
PNG bytes. Views: AP shows patient LPS x horizontally (patient right on the image's left, as
the clinician sees it) and z vertically (head up); lateral shows y horizontally (anterior left,
posterior right) and z vertically.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from ._metrics import event_mode

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ._recorder import EpisodeLog

__all__ = [
    "figure_png",
    "plot_distance",
    "plot_dose",
    "plot_force",
    "plot_frames",
    "plot_timeline",
    "plot_trajectory",
]

TRAINEE = "#1f77b4"
EXPERT = "#7f7f7f"
TARGET = "#d62728"
DPI = 110


def _figure(w: float, h: float, ncols: int = 1) -> tuple[Figure, list]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def figure_png(fig: Figure) -> bytes:
    """PNG bytes of `fig` (Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def plot_trajectory(
    log: EpisodeLog, expert_log: EpisodeLog | None = None, *, success_radius_mm: float = 5.0
) -> Figure:
    """Tip trajectory in AP (x, z) and lateral (y, z) projections, LPS mm, with the target."""
    fig, (ap, lat) = _figure(10.0, 5.0, 2)
    views = ((ap, 0, "AP view", "x (mm)   patient right \u2190 \u2192 left"),
             (lat, 1, "Lateral view", "y (mm)   anterior \u2190 \u2192 posterior"))  # fmt: skip
    theta = np.linspace(0, 2 * np.pi, 64)
    for ax, h, title, xlabel in views:
        if expert_log is not None and expert_log.n_steps:
            ax.plot(expert_log.tip[:, h], expert_log.tip[:, 2], "--", color=EXPERT, lw=1.5,
                    label="expert tip")  # fmt: skip
        if log.n_steps:
            ax.plot(log.tip[:, h], log.tip[:, 2], "-", color=TRAINEE, lw=2, label="tip")
            ax.plot(log.tip[0, h], log.tip[0, 2], "o", color=TRAINEE, ms=6, label="start")
            ax.plot(log.tip[-1, h], log.tip[-1, 2], "s", color=TRAINEE, ms=6, label="end")
            if log.positions is not None:
                ax.plot(log.positions[-1, :, h], log.positions[-1, :, 2], "-", color=TRAINEE,
                        alpha=0.35, lw=1, label="device at end")  # fmt: skip
            tgt = log.target[-1]
            ax.plot(tgt[h], tgt[2], "*", color=TARGET, ms=14, label="target")
            ax.plot(tgt[h] + success_radius_mm * np.cos(theta),
                    tgt[2] + success_radius_mm * np.sin(theta), ":", color=TARGET, lw=1,
                    label=f"{success_radius_mm:g} mm radius")  # fmt: skip
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("z (mm)   inferior \u2190 \u2192 superior")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(True, alpha=0.3)
    ap.legend(loc="best", fontsize=8)
    return fig


def plot_distance(
    log: EpisodeLog, expert_log: EpisodeLog | None = None, *, success_radius_mm: float = 5.0
) -> Figure:
    """Tip-to-target distance (mm) against time (s)."""
    fig, (ax,) = _figure(7.0, 3.2)
    if expert_log is not None and expert_log.n_steps:
        ax.plot(expert_log.t_s, expert_log.tip_to_target_mm, "--", color=EXPERT, label="expert")
    ax.plot(log.t_s, log.tip_to_target_mm, color=TRAINEE, lw=2, label="trainee")
    ax.axhline(
        success_radius_mm, color=TARGET, ls=":", label=f"success radius {success_radius_mm:g} mm"
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("tip-to-target distance (mm)")
    ax.set_ylim(bottom=0)
    ax.set_title("Distance to target")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_force(
    log: EpisodeLog, expert_log: EpisodeLog | None = None, *, force_threshold_n: float = 1.0
) -> Figure:
    """Wall contact force (N, max and mean over nodes) against time, with the threshold."""
    fig, (ax,) = _figure(7.0, 3.2)
    if expert_log is not None and expert_log.n_steps:
        ax.plot(expert_log.t_s, expert_log.wall_force_max_n, "--", color=EXPERT, label="expert max")
    ax.plot(log.t_s, log.wall_force_max_n, color=TRAINEE, lw=2, label="max over nodes")
    ax.plot(log.t_s, log.wall_force_mean_n, color=TRAINEE, lw=1, alpha=0.5, label="mean in contact")
    ax.axhline(force_threshold_n, color=TARGET, ls=":", label=f"threshold {force_threshold_n:g} N")
    if log.n_steps:
        over = log.wall_force_max_n > force_threshold_n
        ax.fill_between(log.t_s, force_threshold_n, log.wall_force_max_n, where=over,
                        color=TARGET, alpha=0.25, step="mid", label="above threshold")  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("wall contact force (N)")
    ax.set_ylim(bottom=0)
    ax.set_title("Wall contact force")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_dose(log: EpisodeLog, expert_log: EpisodeLog | None = None) -> Figure:
    """Cumulative reference air kerma Ka,r (mGy) and DAP (Gy·cm²) against time, two panels."""
    fig, (ka, dap) = _figure(10.0, 3.2, 2)
    for ax, attr, label in ((ka, "ka_r_mgy", "cumulative Ka,r (mGy)"),
                            (dap, "dap_gycm2", "cumulative DAP (Gy·cm²)")):  # fmt: skip
        if expert_log is not None and expert_log.n_steps:
            ax.plot(expert_log.t_s, getattr(expert_log, attr), "--", color=EXPERT, label="expert")
        ax.plot(log.t_s, getattr(log, attr), color=TRAINEE, lw=2, label="trainee")
        ax.set_xlabel("time (s)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    ka.set_title("Reference air kerma at the IRP")
    dap.set_title("Dose-area product")
    return fig


def plot_timeline(log: EpisodeLog) -> Figure:
    """Fluoroscopy on/off, pulses per step and events (cine, DSA, injections, C-arm moves)."""
    fig, (ax,) = _figure(7.0, 2.8)
    dt = log.dt
    rows = {"fluoro": 3, "cine": 2, "dsa": 2, "injection": 1, "carm_move": 0}
    on = np.flatnonzero(log.fluoro_on)
    if on.size:  # merge consecutive steps into bars
        breaks = np.flatnonzero(np.diff(on) > 1)
        starts = np.r_[on[0], on[breaks + 1]]
        ends = np.r_[on[breaks], on[-1]]
        bars = [(log.t_s[s] - dt, (e - s + 1) * dt) for s, e in zip(starts, ends, strict=True)]
        ax.broken_barh(bars, (rows["fluoro"] - 0.3, 0.6), color=TRAINEE, alpha=0.7)
    for e in log.events:
        kind = e["kind"].lower()
        if kind == "irradiation":
            mode = event_mode(e["data"])
            if mode in ("cine", "dsa"):
                dur = float(e["data"].get("duration_s", dt))
                color = "#9467bd" if mode == "cine" else "#8c564b"
                ax.broken_barh([(e["t_s"], max(dur, dt))], (rows[mode] - 0.3, 0.6), color=color)
                ax.annotate(mode.upper(), (e["t_s"], rows[mode] + 0.35), fontsize=7)
        elif kind in ("injection", "carm_move"):
            marker = "v" if kind == "injection" else "d"
            ax.plot(e["t_s"], rows[kind], marker, color="#2ca02c" if kind == "injection" else "k")
    if log.n_steps:
        pulses = np.diff(np.r_[0, log.n_pulses])
        ax3 = ax.twinx()
        ax3.fill_between(log.t_s, pulses, step="pre", color="#ff7f0e", alpha=0.35, lw=0)
        ax3.set_ylabel("pulses / step", color="#ff7f0e")
        ax3.set_ylim(0, max(1, pulses.max()) * 4)
    ax.set_yticks([0, 1, 2, 3], ["C-arm move", "injection", "cine / DSA", "fluoro on"])
    ax.set_ylim(-0.6, 3.8)
    ax.set_xlim(0, max(log.duration_s, dt))
    ax.set_xlabel("time (s)")
    ax.set_title("Imaging timeline")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def plot_frames(log: EpisodeLog, *, max_frames: int = 6) -> Figure | None:
    """A strip of up to `max_frames` stored fluoroscopy frames (evenly chosen); None if none."""
    n = len(log.frames)
    if n == 0:
        return None
    idx = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int))
    fig, axes = _figure(2.3 * len(idx), 2.8, len(idx))
    for ax, i in zip(axes, idx, strict=True):
        step, t = int(log.frame_steps[i]), float(log.frame_t_s[i])
        ax.imshow(log.frames[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(f"step {step}, {t:.1f} s\n{log.frame_labels[i]}", fontsize=8, pad=3)
        ax.set_axis_off()
    return fig
