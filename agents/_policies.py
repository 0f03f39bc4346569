"""Agents that act in an env: the scripted expert, a random agent, a trained SB3 policy."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ._expert import ExpertAgent

__all__ = ["Agent", "RandomAgent", "PolicyAgent", "make_agent"]


class Agent(Protocol):
    """What the runner needs: ``reset()`` after each env reset, ``act(obs)`` each step."""

    def reset(self) -> None: ...

    def act(self, observation) -> np.ndarray: ...


class RandomAgent:
    """Uniform random actions in the env's action space, from its own seeded Generator."""

    def __init__(self, env, seed: int = 0) -> None:
        self.env = env
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, observation=None) -> np.ndarray:
        space = self.env.action_space
        return self.rng.uniform(space.low, space.high).astype(np.float32)


class PolicyAgent:
    """A stable-baselines3 policy saved as ``.zip`` (SAC, TD3, PPO or A2C), deterministic."""

    def __init__(self, env, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"policy file {path} does not exist")
        try:
            import stable_baselines3 as sb3
        except ImportError as e:  # pragma: no cover
            raise ImportError("policies need stable-baselines3: pip install 'igtwin[rl]'") from e
        errors = []
        for algo in ("SAC", "TD3", "PPO", "A2C"):
            try:
                self.model = getattr(sb3, algo).load(path, device="cpu")
                break
            except Exception as e:  # noqa: BLE001 - try the next algorithm
                errors.append(f"{algo}: {type(e).__name__}")
        else:
            raise ValueError(f"{path} is not a stable-baselines3 SAC/TD3/PPO/A2C policy ({errors})")
        self.env = env

    def reset(self) -> None:
        pass

    def act(self, observation) -> np.ndarray:
        action, _ = self.model.predict(observation, deterministic=True)
        return np.asarray(action, dtype=np.float32)


def make_agent(spec: str, env, *, seed: int = 0) -> Agent:
    """``"expert"``, ``"random"``, or a path to an SB3 ``policy.zip``."""
    if spec == "expert":
        return ExpertAgent(env)
    if spec == "random":
        return RandomAgent(env, seed=seed)
    if spec.endswith(".zip"):
        return PolicyAgent(env, spec)
    raise ValueError(f"unknown agent {spec!r}; expected 'expert', 'random' or a policy .zip path")
