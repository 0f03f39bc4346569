"""Native batched environment: B worlds of one scenario advanced by the batched physics.

Same spaces and terms as :class:`InterventionEnv`, but one ``World`` with ``n_worlds=B`` steps all
rods in one call. State observations only (images per world would dominate the cost; use
``gymnasium.vector.AsyncVectorEnv`` over ``InterventionEnv`` for image observations). Autoreset
mode: SAME_STEP (a finished world is reset within the step that ended it; its last observation is
in ``info["final_obs"]``).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ._case import build_case, load_case_anatomy
from ._config import Scenario, ScenarioError
from ._env import batched_target, commands_from_actions, snapshot_from_world
from ._registry import resolve_scenario
from ._terms import reward, state_observation, state_size

__all__ = ["InterventionVectorEnv"]


class InterventionVectorEnv(VectorEnv):
    """``num_envs`` copies of a fixed-anatomy scenario on the batched rod physics.

    Parameters
    ----------
    scenario : str or Scenario
        Built-in name, env id, TOML path or Scenario; its anatomy must be fixed (built-in or
        a folder), since one batched world shares one anatomy.
    num_envs : int
        Batch size B.
    max_episode_steps : int, optional
        Truncation limit per world (default: the scenario's ``[limits].max_steps``).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        scenario: str | Scenario = "arch-lcca",
        num_envs: int = 8,
        *,
        max_episode_steps: int | None = None,
        obs_mode: str = "state",
        action_mode: str = "device",
        render_mode: str | None = None,
    ) -> None:
        from igtwin.sim import World

        if obs_mode != "state":
            raise ValueError(
                f"the native batched env supports obs_mode='state' only, got {obs_mode!r}; "
                "use gymnasium.vector.AsyncVectorEnv for image observations"
            )
        if action_mode != "device":
            raise ValueError(
                f"the native batched env supports action_mode='device', got {action_mode!r}"
            )
        if num_envs < 1:
            raise ValueError(f"`num_envs` must be >= 1, got {num_envs}")
        self.scenario = resolve_scenario(scenario)
        if self.scenario.anatomy.procedural:
            raise ScenarioError(
                f"scenario {self.scenario.name!r} draws a new anatomy per episode; the native "
                "batched env shares one anatomy: use gymnasium.vector.AsyncVectorEnv instead"
            )
        self.num_envs = num_envs
        self.max_episode_steps = int(max_episode_steps or self.scenario.limits.max_steps)
        self.render_mode = render_mode
        anatomy = load_case_anatomy(self.scenario)
        self.case = build_case(self.scenario, anatomy)
        sc = self.scenario
        self.world = World(
            anatomy,
            self.case.devices,
            self.case.insertion,
            n_worlds=num_envs,
            substeps=sc.control.substeps,
            carm_angles=(sc.carm.primary_rad, sc.carm.secondary_rad),
            sid_mm=sc.carm.sid_mm,
            protocol=sc.carm.protocol,
            max_inserted_length=self.case.max_inserted_mm,
        )
        D = len(self.case.devices)
        self.single_action_space = spaces.Box(-1.0, 1.0, (2 * D,), np.float32)
        self.single_observation_space = spaces.Box(-10.0, 10.0, (state_size(D),), np.float32)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._steps = np.zeros(num_envs, np.int64)
        self._snap = None
        self._target = batched_target(self.case, num_envs)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        ins, rot = self.scenario.start.draw(self.np_random, (self.num_envs, len(self.case.devices)))
        self.world.reset(inserted_mm=ins, rotation_rad=rot)
        self._steps[:] = 0
        self._snap = snapshot_from_world(self.world, self.case, self._target)
        return state_observation(self._snap), {}

    def step(self, actions):
        commands = commands_from_actions(actions, self.case.devices, "device")
        prev = self._snap
        self.world.step(commands, self.scenario.dt)
        cur = snapshot_from_world(self.world, self.case, self._target)
        self._steps += 1
        fault = ~np.isfinite(cur.tip).reshape(self.num_envs, -1).all(axis=1)
        success = (cur.distance_mm <= self.scenario.target.radius_mm) & ~fault
        rewards = reward(prev, cur, success, self.scenario.reward)
        rewards[fault] = 0.0
        terminated = success
        truncated = fault | (self._steps >= self.max_episode_steps)
        obs = state_observation(cur)
        info = {
            "distance_mm": cur.distance_mm.copy(),
            "is_success": success.copy(),
            "wall_force_max_n": cur.wall_force_max_n.copy(),
        }
        done = terminated | truncated
        if done.any():
            info["final_obs"] = obs.copy()
            info["_final_obs"] = done.copy()
            ins, rot = self.scenario.start.draw(
                self.np_random, (self.num_envs, len(self.case.devices))
            )
            self.world.reset(inserted_mm=ins, rotation_rad=rot, world_mask=done)
            self._steps[done] = 0
            cur = snapshot_from_world(self.world, self.case, self._target)
            obs = state_observation(cur)
        self._snap = cur
        return obs, rewards.astype(np.float64), terminated, truncated, info

    def close_extras(self, **kwargs) -> None:
        self.world = None
