"""``make demo``: the default case end to end (arch-II, angled wire, LCCA target, expert).

The case opens as in the angiography suite: an arch DSA run (contrast at the aortic root,
subtracted frames, dosed like any DSA run) gives the roadmap; then the expert navigates under
pulsed fluoroscopy; the report shows frames, trajectory, forces, dose and metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["run_demo", "DEMO_SCENARIO"]

DEMO_SCENARIO = "arch-lcca"


def _to_uint8(subtracted: np.ndarray) -> np.ndarray:
    """A DSA image for display: iodine dark on a grey background (fixed window, no rescale)."""
    return np.clip(255.0 * (0.75 - 1.5 * subtracted), 0, 255).astype(np.uint8)


def run_demo(out: Path, *, episodes: int = 1, seed: int = 0) -> Path:
    """Run the expert on the default scenario and write ``out/report.html``; returns its path."""
    import gymnasium as gym
    from rich.console import Console

    from igtwin.assessment import compute_metrics, metrics_table, write_report
    from igtwin.scenarios import InterventionEnv, get_scenario

    from ._expert import ExpertAgent

    console = Console()
    sc = get_scenario(DEMO_SCENARIO)
    console.print(f"[bold]IGTwin demo[/bold]: {sc.description}")
    console.print("building the anatomy and imager (the first run builds and caches it) ...")
    env = gym.wrappers.TimeLimit(
        InterventionEnv(sc, frame_every=8), max_episode_steps=sc.limits.max_steps
    )
    base = env.unwrapped
    obs, info = env.reset(seed=seed)
    console.print("arch DSA run (roadmap) ...")
    subtracted = base.world.acquire_dsa(0, rng=np.random.default_rng(seed))
    for k in (len(subtracted) // 2, len(subtracted) - 1):
        base.recorder.record_frame(0, _to_uint8(subtracted[k]), f"arch DSA, frame {k + 1}")
    agent = ExpertAgent(env)
    agent.reset()
    console.print("expert navigating to the LCCA under pulsed fluoroscopy ...")
    terminated = truncated = False
    reason = ""
    while not (terminated or truncated):
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        reason = info.get("reason") or reason
    base.recorder.record_frame(base._steps, base.world.render(0, rng=base.np_random).uint8, "final")
    log = base.finish_episode(
        terminated=terminated, truncated=truncated, reason=reason or "step limit"
    )
    out = Path(out)
    report = write_report(
        log, out, title=f"IGTwin demo — {sc.name}: expert on {sc.anatomy.builtin}"
    )
    log.save(out / "episode.npz")
    console.print(metrics_table(compute_metrics(log)))
    return Path(report)
