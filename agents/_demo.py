"""``make demo``: the default case end to end (arch-II, angled wire, LCCA target, expert)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_demo", "DEMO_SCENARIO"]

DEMO_SCENARIO = "arch-lcca"


def run_demo(out: Path, *, episodes: int = 1, seed: int = 0) -> Path:
    """Run the expert on the default scenario and write ``out/report.html``; returns its path."""
    import gymnasium as gym
    from rich.console import Console

    from igtwin.assessment import compute_metrics, write_report
    from igtwin.scenarios import InterventionEnv, get_scenario

    from ._expert import ExpertAgent
    from ._runner import run_episode

    console = Console()
    sc = get_scenario(DEMO_SCENARIO)
    console.print(f"[bold]IGTwin demo[/bold]: {sc.description}")
    console.print("building the anatomy (first run builds and caches it) ...")
    env = gym.wrappers.TimeLimit(
        InterventionEnv(sc, frame_every=6), max_episode_steps=sc.limits.max_steps
    )
    agent = ExpertAgent(env)
    result = run_episode(env, agent, seed=seed)
    out = Path(out)
    report = write_report(
        result.log,
        out,
        title=f"IGTwin demo — {sc.name}: expert, {sc.anatomy.builtin}",
    )
    metrics = compute_metrics(result.log)
    from igtwin.assessment import metrics_table

    console.print(metrics_table(metrics))
    return Path(report)
