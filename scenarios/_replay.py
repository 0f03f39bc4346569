"""Replay a recorded episode: same scenario, same reset seed, the same actions, bit for bit."""

from __future__ import annotations

import numpy as np

__all__ = ["replay_episode"]


def replay_episode(log, *, obs_mode: str = "state"):
    """Re-run ``log``'s actions in a fresh env; returns the new log (identical on CPU).

    Parameters
    ----------
    log : EpisodeLog
        A finished episode (from ``InterventionEnv.finish_episode`` or ``EpisodeLog.load``).
    """
    from ._env import InterventionEnv

    env = InterventionEnv(log.scenario, obs_mode=obs_mode, held_out=bool(log.meta.get("held_out")))
    env.reset(seed=log.reset_seed)
    terminated = truncated = False
    reason = ""
    for action in np.asarray(log.actions_for_replay):
        _, _, terminated, truncated, info = env.step(action)
        reason = info["reason"] or reason
        if terminated or truncated:
            break
    if not (terminated or truncated):
        truncated, reason = True, log.reason
    return env.finish_episode(terminated=terminated, truncated=truncated, reason=reason)
