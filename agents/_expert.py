"""The scripted expert: a privileged controller that follows the centerline path to the target.

It reads the true device state and the target path (not the images) and drives the lead device
with push / pull / rotate manoeuvres: advance while the tip stays on the path, rotate the angled
tip toward the next stretch of the path (a look-ahead point), pull back and re-aim when the tip
has entered a wrong branch. In a coaxial pair the outer catheter follows the wire, staying a
fixed distance behind it. All distances in mm, angles in rad, frame LPS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["ExpertAgent", "ExpertConfig"]


@dataclass(frozen=True)
class ExpertConfig:
    """Tuning of the expert (mm, rad, fractions of max speed)."""

    lookahead_mm: float = 12.0
    off_path_margin_mm: float = 2.5
    aim_tolerance_rad: float = 0.6
    rotate_gain: float = 1.2
    push: float = 0.6
    slow_push: float = 0.15
    retract: float = -0.6
    retract_mm: float = 15.0
    catheter_lag_mm: float = 25.0
    shaft_back_mm: float = 8.0


def _signed_angle(a: NDArray, b: NDArray, axis: NDArray) -> float:
    """Angle (rad) from a to b about ``axis`` (vectors perpendicular to axis)."""
    return float(np.arctan2(np.dot(np.cross(a, b), axis), np.dot(a, b)))


class ExpertAgent:
    """Privileged path-following controller for an :class:`InterventionEnv`.

    Parameters
    ----------
    env : gymnasium.Env
        The env (wrappers allowed); the expert reads ``env.unwrapped.world`` and ``.case``.
    config : ExpertConfig, optional
    """

    def __init__(self, env, config: ExpertConfig | None = None) -> None:
        self.env = env
        self.cfg = config or ExpertConfig()
        self._retracting = 0.0
        self._path = None

    def reset(self) -> None:
        """Forget the manoeuvre in progress (call after env.reset)."""
        self._retracting = 0.0
        self._path = self.env.unwrapped.case.target_path.resample(1.0)

    def act(self, observation=None) -> NDArray[np.float32]:
        """The next normalised action for the env's action space."""
        env = self.env.unwrapped
        if self._path is None or env.case.target_path is not getattr(self, "_src", None):
            self._src = env.case.target_path
            self._path = env.case.target_path.resample(1.0)
        cfg = self.cfg
        world = env.world
        rod = world.state.rod
        D = len(env.case.devices)
        lead = D - 1
        pts = rod.positions[lead][0][rod.inserted[lead][0]]
        tip = pts[-1]
        tdir = np.asarray(rod.tip_direction[0, lead], dtype=np.float64)
        path = self._path
        s_tip, off = path.project(tip[None])
        s_tip, off = float(s_tip[0]), float(off[0])
        r_local = float(np.interp(s_tip, path.arclength, path.radii))
        action = np.zeros(env.action_space.shape, np.float32)

        if self._retracting > 0:
            trans, rot = cfg.retract, 0.8
            vmax = env.case.devices[lead].max_translation_speed_mm_s
            self._retracting -= abs(cfg.retract) * vmax * env.scenario.dt
        elif off > r_local + cfg.off_path_margin_mm:
            self._retracting = cfg.retract_mm
            trans, rot = cfg.retract, 0.0
        else:
            s_look = min(s_tip + cfg.lookahead_mm, path.length)
            q = np.array([np.interp(s_look, path.arclength, path.points[:, d]) for d in range(3)])
            # shaft direction from a point a little behind the tip
            seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
            back = np.concatenate([[0.0], np.cumsum(seg[::-1])])
            rev = pts[::-1]
            p_back = np.array([np.interp(cfg.shaft_back_mm, back, rev[:, d]) for d in range(3)])
            shaft = tip - p_back
            shaft /= max(np.linalg.norm(shaft), 1e-9)
            want = q - tip
            want_perp = want - np.dot(want, shaft) * shaft
            bend = tdir - np.dot(tdir, shaft) * shaft
            if (
                np.linalg.norm(want_perp) < 0.25 * np.linalg.norm(want)
                or np.linalg.norm(bend) < 1e-3
            ):
                err = 0.0
            else:
                err = _signed_angle(bend, want_perp, shaft)
            rot = float(np.clip(cfg.rotate_gain * err, -1.0, 1.0))
            trans = cfg.push if abs(err) < cfg.aim_tolerance_rad else cfg.slow_push
            if np.linalg.norm(env.case.target - tip) < 15.0:
                trans = min(trans, 0.3)
        action[2 * lead] = trans
        action[2 * lead + 1] = rot
        if D == 2:
            ins = np.asarray(rod.inserted_length[0], dtype=np.float64)
            gap = ins[lead] - ins[0] - cfg.catheter_lag_mm
            vmax_c = env.case.devices[0].max_translation_speed_mm_s
            action[0] = float(np.clip(gap / (vmax_c * env.scenario.dt), -1.0, 1.0))
        return np.clip(action, -1.0, 1.0)
