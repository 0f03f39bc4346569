"""Run episodes of a scenario with an agent; score them and write reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["EpisodeResult", "run_episode", "run_episodes"]


@dataclass
class EpisodeResult:
    """One finished episode: its log, metrics, total reward and steps."""

    log: object
    metrics: dict
    total_reward: float
    steps: int


def run_episode(env, agent, *, seed: int | None, max_steps: int | None = None) -> EpisodeResult:
    """Run one episode to its end (terminated, truncated or ``max_steps``)."""
    from igtwin.assessment import compute_metrics

    obs, info = env.reset(seed=seed)
    agent.reset()
    base = env.unwrapped
    limit = max_steps or base.scenario.limits.max_steps
    total, steps = 0.0, 0
    terminated = truncated = False
    reason = ""
    while not (terminated or truncated):
        obs, r, terminated, truncated, info = env.step(agent.act(obs))
        total += r
        steps += 1
        reason = info.get("reason", "")
        if steps >= limit and not terminated:
            truncated, reason = True, reason or "step limit"
    if truncated and not reason:
        reason = "step limit"
    log = base.finish_episode(terminated=terminated, truncated=truncated, reason=reason)
    sc = base.scenario.scoring
    metrics = compute_metrics(
        log, success_radius_mm=sc.success_radius_mm, force_threshold_n=sc.force_threshold_n
    )
    return EpisodeResult(log=log, metrics=metrics, total_reward=total, steps=steps)


def run_episodes(
    scenario: str,
    agent_spec: str,
    *,
    episodes: int = 1,
    seed: int = 0,
    report_dir: str | Path | None = None,
    obs_mode: str = "state",
    held_out: bool = False,
    compare_expert: bool = True,
    frame_every: int = 8,
    progress: bool = True,
) -> list[EpisodeResult]:
    """Run ``episodes`` episodes (seeds ``seed, seed+1, ...``), write reports, return results.

    With ``compare_expert`` (and an agent other than the expert), the expert runs the same case
    (same seed) and each report shows both side by side.
    """
    import gymnasium as gym
    from rich.progress import Progress

    from igtwin.assessment import write_report, write_summary_report
    from igtwin.scenarios import InterventionEnv, resolve_scenario

    from ._policies import make_agent

    sc = resolve_scenario(scenario)
    env = gym.wrappers.TimeLimit(
        InterventionEnv(sc, obs_mode=obs_mode, held_out=held_out, frame_every=frame_every),
        max_episode_steps=sc.limits.max_steps,
    )
    agent = make_agent(agent_spec, env, seed=seed)
    expert_env = expert = None
    if compare_expert and agent_spec != "expert":
        expert_env = gym.wrappers.TimeLimit(
            InterventionEnv(sc, held_out=held_out, frame_every=0),
            max_episode_steps=sc.limits.max_steps,
        )
        expert = make_agent("expert", expert_env)
    results, expert_logs = [], []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"{sc.name} · {agent_spec}", total=episodes)
        for i in range(episodes):
            res = run_episode(env, agent, seed=seed + i)
            results.append(res)
            exp_log = None
            if expert is not None:
                exp_log = run_episode(expert_env, expert, seed=seed + i).log
            expert_logs.append(exp_log)
            if report_dir is not None:
                out = Path(report_dir) / f"episode-{i:03d}"
                write_report(
                    res.log,
                    out,
                    expert_log=exp_log,
                    title=f"{sc.name} — {agent_spec} — episode {i} (seed {seed + i})",
                )
            bar.advance(task)
    if report_dir is not None and episodes > 1:
        write_summary_report([r.log for r in results], Path(report_dir))
    env.close()
    return results


def success_rate(results: list[EpisodeResult]) -> float:
    """Fraction of episodes that reached the target."""
    return float(np.mean([bool(r.log.success) for r in results])) if results else 0.0
