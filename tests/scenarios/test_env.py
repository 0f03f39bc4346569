"""The environments: gymnasium contract, determinism, expert success, batched mode, replay."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import igtwin.scenarios  # noqa: F401  (registers the ids)
from igtwin.agents import ExpertAgent
from igtwin.scenarios import InterventionEnv, InterventionVectorEnv, replay_episode

FIXED_IDS = ["igtwin/ArchBCA-v0", "igtwin/ArchLCCA-v0", "igtwin/ArchLSA-v0"]


@pytest.mark.parametrize("env_id", FIXED_IDS + ["igtwin/StrokeAccessLICA-v0"])
def test_env_checker_passes(env_id):
    env = gym.make(env_id, record=False)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_env_checker_passes_in_dict_mode_with_rendering():
    env = InterventionEnv("arch-lcca", obs_mode="dict", render_mode="rgb_array", image_size=64)
    check_env(env, skip_render_check=False)
    obs, _ = env.reset(seed=1)
    assert obs["image"].shape == (1, 64, 64) and obs["image"].dtype == np.uint8
    frame = env.render()
    assert frame.shape == (64, 64, 3)
    assert env.metadata["render_fps"] == 7.5


def _rollout(env, seed, n=40):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    traj = [obs]
    for _ in range(n):
        obs, r, term, trunc, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        traj.append(obs)
        if term or trunc:
            break
    return np.array(traj)


def test_randomised_start_is_drawn_from_the_seed():
    """[start] jitter and random rotation: same seed, same start; other seeds, other starts."""
    from dataclasses import replace

    from igtwin.scenarios._registry import get_scenario

    base = get_scenario("arch-lcca")
    mid, jit = base.start.inserted_mm, min(20.0, base.start.inserted_mm)
    sc = replace(base, start=replace(base.start, inserted_jitter_mm=jit, random_rotation=True))
    env = InterventionEnv(sc, record=False)
    starts = {}
    for seed in (1, 1, 2, 3):
        env.reset(seed=seed)
        rod = env.world.state.rod
        starts.setdefault(seed, []).append((rod.inserted_length[0, 0], rod.rotation[0, 0]))
    assert starts[1][0] == starts[1][1]
    ins = [starts[s][0][0] for s in (1, 2, 3)]
    rot = [starts[s][0][1] for s in (1, 2, 3)]
    assert len(set(ins)) == 3 and all(mid - jit <= v <= mid + jit for v in ins)
    assert len(set(rot)) == 3 and all(0.0 <= v < 2 * np.pi for v in rot)
    # the default scenario starts the same way whatever the seed
    plain = InterventionEnv("arch-lcca", record=False)
    first = [plain.reset(seed=s)[0] for s in (1, 2)]
    np.testing.assert_array_equal(first[0], first[1])


def test_same_seed_same_trajectory():
    a = _rollout(InterventionEnv("arch-lcca", record=False), seed=3)
    b = _rollout(InterventionEnv("arch-lcca", record=False), seed=3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "bad", [[np.nan, 0.0], [0.0, np.inf], [1.5, 0.0], [0.0, -2.0], [0.1, 0.2, 0.3]]
)
def test_bad_actions_are_rejected(bad):
    env = InterventionEnv("arch-lcca", record=False)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(np.array(bad))


def test_unknown_modes_are_rejected():
    with pytest.raises(ValueError, match="obs_mode"):
        InterventionEnv("arch-lcca", obs_mode="pixels")
    with pytest.raises(ValueError, match="render_mode"):
        InterventionEnv("arch-lcca", render_mode="human")


def test_expert_reaches_the_target_and_the_log_replays_exactly():
    env = gym.wrappers.TimeLimit(InterventionEnv("arch-lcca"), max_episode_steps=600)
    expert = ExpertAgent(env)
    obs, info = env.reset(seed=0)
    expert.reset()
    term = trunc = False
    while not (term or trunc):
        obs, r, term, trunc, info = env.step(expert.act(obs))
    assert term and info["is_success"], info
    assert info["distance_mm"] <= 5.0
    assert info["ka_r_mgy"] > 0 and info["dap_gycm2"] > 0  # every pulse is dosed
    log = env.unwrapped.finish_episode(terminated=term, truncated=trunc, reason=info["reason"])
    assert log.positions.shape[0] == log.tip.shape[0]  # the device shape at every step
    assert len(log.events_of("irradiation")) == log.n_pulses[-1]
    again = replay_episode(log)
    np.testing.assert_array_equal(again.tip, log.tip)
    np.testing.assert_array_equal(again.positions, log.positions)
    np.testing.assert_array_equal(again.ka_r_mgy, log.ka_r_mgy)


def test_native_batched_env_matches_the_single_env():
    venv = InterventionVectorEnv("arch-lcca", num_envs=3)
    single = InterventionEnv("arch-lcca", record=False)
    obs_v, _ = venv.reset(seed=0)
    obs_s, _ = single.reset(seed=0)
    np.testing.assert_allclose(obs_v[0], obs_s, atol=1e-5)
    rng = np.random.default_rng(0)
    for _ in range(10):
        a = rng.uniform(-1, 1, (3, 2)).astype(np.float32)
        obs_v, r_v, *_ = venv.step(a)
        obs_s, r_s, *_ = single.step(a[0])
    np.testing.assert_allclose(obs_v[0], obs_s, atol=1e-4)
    assert r_v[0] == pytest.approx(r_s, abs=1e-5)
    assert obs_v.shape == (3,) + single.observation_space.shape


def test_gymnasium_sync_vector_env_runs():
    venv = gym.vector.SyncVectorEnv(
        [lambda: InterventionEnv("arch-bca", record=False) for _ in range(2)]
    )
    obs, _ = venv.reset(seed=[0, 1])
    obs, r, term, trunc, info = venv.step(venv.action_space.sample())
    assert obs.shape[0] == 2 and r.shape == (2,)
    venv.close()


def test_make_vec_uses_the_native_batched_entry_point():
    venv = gym.make_vec("igtwin/ArchLSA-v0", num_envs=3, vectorization_mode="vector_entry_point")
    assert isinstance(venv, InterventionVectorEnv)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3,) + venv.single_observation_space.shape
    obs, r, term, trunc, info = venv.step(venv.action_space.sample())
    assert r.shape == (3,) and np.isfinite(obs).all()


def test_native_batched_env_refuses_per_episode_anatomies():
    from igtwin.scenarios import ScenarioError

    with pytest.raises(ScenarioError, match="AsyncVectorEnv"):
        InterventionVectorEnv("arch-random-lcca", num_envs=2)


def test_random_arch_scenario_draws_training_and_held_out_anatomies():
    from igtwin.scenarios import get_scenario

    sc = get_scenario("arch-random-lsa")
    env = InterventionEnv(sc, record=False)
    _, info_a = env.reset(seed=11)
    _, info_b = env.reset(seed=11)
    assert info_a["anatomy"] == info_b["anatomy"]  # same seed, same patient
    seen = {env.reset(seed=s)[1]["anatomy"] for s in range(12, 15)}
    assert len(seen | {info_a["anatomy"]}) >= 2
    held = InterventionEnv(sc, record=False, held_out=True)
    _, info = held.reset(seed=0)
    seed = int(info["anatomy"].split("seed ")[1].rstrip(")"))
    assert seed in sc.anatomy.held_out_seeds
