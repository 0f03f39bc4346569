"""RL baselines with stable-baselines3 on the state observation."""

from __future__ import annotations

from pathlib import Path

__all__ = ["train"]


def train(
    scenario: str,
    *,
    algo: str = "sac",
    steps: int = 20_000,
    out: str | Path = "policy.zip",
    seed: int = 0,
    n_envs: int = 1,
) -> Path:
    """Train ``algo`` (sac | td3 | ppo) for ``steps`` env steps; save the policy to ``out``."""
    import gymnasium as gym
    import stable_baselines3 as sb3
    from stable_baselines3.common.env_util import make_vec_env

    from igtwin.scenarios import InterventionEnv, resolve_scenario

    sc = resolve_scenario(scenario)
    algos = {"sac": sb3.SAC, "td3": sb3.TD3, "ppo": sb3.PPO}
    if algo not in algos:
        raise ValueError(f"unknown algo {algo!r}; expected one of {sorted(algos)}")
    if steps < 1:
        raise ValueError(f"`steps` must be >= 1, got {steps}")

    def make():
        return gym.wrappers.TimeLimit(
            InterventionEnv(sc, record=False), max_episode_steps=sc.limits.max_steps
        )

    venv = make_vec_env(make, n_envs=n_envs, seed=seed)
    model = algos[algo]("MlpPolicy", venv, seed=seed, verbose=0, device="cpu")
    model.learn(total_timesteps=steps, progress_bar=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return out
