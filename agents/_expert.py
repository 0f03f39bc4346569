"""The expert: a privileged, model-predictive controller that follows the centerline path.

It reads the true device state and the vessel tree (not the images). Every ``replan_every``
control steps it copies the world's device state into a small batched copy of the physics, tries
a handful of manoeuvres at once (push while rotating left/right/not at all, pull back while
rotating) for a short horizon, and keeps the one that brings the lead tip closest to the target
*along the vessel tree* (geodesic distance, so entering a wrong branch or overshooting a branch
point scores badly by construction), with a penalty on wall force. When no manoeuvre makes
progress for a while it backs out a little and turns the tip a quarter turn. In a coaxial pair
the catheter follows a fixed distance behind the wire. Distances mm, angles rad, frame LPS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["ExpertAgent", "ExpertConfig"]


@dataclass(frozen=True)
class ExpertConfig:
    """Tuning of the expert (fractions of the device's max speeds; mm; N; control steps).

    ``candidates`` are (translation, rotation) pairs for the lead device, tried in parallel.
    """

    candidates: tuple[tuple[float, float], ...] = (
        (0.3, 0.0),
        (0.3, 0.1),
        (0.3, -0.1),
        (0.3, 0.25),
        (0.3, -0.25),
        (0.1, 0.5),
        (-0.3, 0.25),
        (-0.3, -0.25),
    )
    horizon: int = 4
    replan_every: int = 2
    force_weight_mm_per_n: float = 0.5
    force_free_n: float = 1.0
    min_progress_mm: float = 0.5
    patience: int = 4
    backout_steps: int = 5
    catheter_lag_mm: float = 25.0


def _tile(state, k: int):
    """The world-0 state repeated ``k`` times along the batch axis."""
    from dataclasses import fields, replace

    return replace(
        state, **{f.name: np.repeat(getattr(state, f.name)[:1], k, axis=0) for f in fields(state)}
    )


class ExpertAgent:
    """Privileged model-predictive path follower for an :class:`InterventionEnv`.

    Parameters
    ----------
    env : gymnasium.Env
        The env (wrappers allowed); the expert reads ``env.unwrapped.world`` and ``.case``.
    config : ExpertConfig, optional
    """

    def __init__(self, env, config: ExpertConfig | None = None) -> None:
        self.env = env
        self.cfg = config or ExpertConfig()
        self._planner = None
        self._planner_for = None
        self.reset()

    def reset(self) -> None:
        """Forget the manoeuvre in progress (call after env.reset)."""
        self._plan: list[NDArray] = []
        self._no_progress = 0
        self._backout = 0
        self._turn = 1.0

    def _planner_sim(self, env):
        from igtwin.sim import RodSimulator

        rods = env.world.rods
        if self._planner_for is not rods:
            self._planner = RodSimulator(
                rods.devices,
                rods.sdf,
                rods.insertion,
                n_worlds=len(self.cfg.candidates),
                substeps=rods.substeps,
                max_inserted_length=rods.max_inserted_length,
            )
            self._planner_for = rods
        return self._planner

    def _catheter_command(self, env) -> float:
        dt = env.scenario.dt
        ins = np.asarray(env.world.state.rod.inserted_length[0], dtype=np.float64)
        gap = ins[-1] - ins[0] - self.cfg.catheter_lag_mm
        vmax_c = env.case.devices[0].max_translation_speed
        return float(np.clip(gap / (vmax_c * dt), -1.0, 1.0))

    def _full_action(self, env, lead_action: NDArray) -> NDArray[np.float32]:
        D = len(env.case.devices)
        action = np.zeros(env.action_space.shape, np.float32)
        action[2 * (D - 1) : 2 * D] = lead_action
        if D == 2:
            action[0] = self._catheter_command(env)
        return np.clip(action, -1.0, 1.0)

    def _replan(self, env) -> list[NDArray]:
        cfg = self.cfg
        sim = self._planner_sim(env)
        dt = env.scenario.dt
        K = len(cfg.candidates)
        D = len(env.case.devices)
        cand = np.asarray(cfg.candidates, dtype=np.float64)
        vmax = np.array([d.max_translation_speed for d in env.case.devices])
        wmax = np.array([d.max_rotation_speed for d in env.case.devices])
        commands = np.zeros((K, D, 2))
        commands[:, -1, 0] = cand[:, 0] * vmax[-1]
        commands[:, -1, 1] = cand[:, 1] * wmax[-1]
        if D == 2:  # the catheter follows as it would in the env
            commands[:, 0, 0] = self._catheter_command(env) * vmax[0]
        state = _tile(env.world.state.rod, K)
        now = float(env.case.geodesic.distance(state.tip_position[0, -1][None])[0])
        fmax = np.zeros(K)
        for _ in range(cfg.horizon):
            state = sim.step(state, commands, dt)
            fmax = np.maximum(fmax, state.contact_force.reshape(K, -1).max(axis=1))
        geo = env.case.geodesic.distance(state.tip_position[:, -1])
        fine = np.isfinite(state.tip_position).all(axis=(1, 2))
        cost = geo + cfg.force_weight_mm_per_n * np.maximum(fmax - cfg.force_free_n, 0.0)
        cost = np.where(fine, cost, np.inf)
        best = int(np.argmin(cost))
        if now - geo[best] < cfg.min_progress_mm:
            self._no_progress += 1
        else:
            self._no_progress = 0
        if self._no_progress >= cfg.patience:  # stuck: back out and turn a quarter turn
            self._no_progress = 0
            self._turn = -self._turn
            turn = self._turn * (np.pi / 2) / (wmax[-1] * dt * cfg.backout_steps)
            back = np.array([-0.3, float(np.clip(turn, -1, 1))])
            return [back] * cfg.backout_steps
        return [cand[best]] * cfg.replan_every

    def act(self, observation=None) -> NDArray[np.float32]:
        """The next normalised action for the env's action space."""
        env = self.env.unwrapped
        if not self._plan:
            self._plan = self._replan(env)
        return self._full_action(env, self._plan.pop(0))
