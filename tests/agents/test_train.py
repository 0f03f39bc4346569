"""The RL baseline path: a short SB3 training run saves a policy that the runner can load."""

import numpy as np

from igtwin.agents import PolicyAgent
from igtwin.agents._train import train
from igtwin.scenarios import InterventionEnv


def test_short_sac_run_saves_a_loadable_policy(tmp_path):
    path = train("arch-lsa", algo="sac", steps=120, out=tmp_path / "p.zip", seed=0)
    assert path.is_file()
    env = InterventionEnv("arch-lsa", record=False)
    obs, _ = env.reset(seed=0)
    agent = PolicyAgent(env, path)
    action = agent.act(obs)
    assert action.shape == env.action_space.shape
    assert np.all(np.abs(action) <= 1.0)
    env.step(action)


def test_policy_agent_rejects_a_missing_or_foreign_file(tmp_path):
    import pytest

    env = InterventionEnv("arch-lsa", record=False)
    with pytest.raises(FileNotFoundError):
        PolicyAgent(env, tmp_path / "none.zip")
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a stable-baselines3"):
        PolicyAgent(env, bogus)
