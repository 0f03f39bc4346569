"""A scenario as a gymnasium environment.

Description
-----------
Navigate endovascular devices from the access site (descending aorta) to a target in a branch
of the patient's vessel tree, under fluoroscopy. Physics: elastic rods in the lumen SDF
(``igtwin.sim``); imaging and dose from the same world.

Action Space
------------
``Box(-1, 1, (2·D,))`` in ``action_mode="device"``: per device (outer first) translation speed
and rotation speed, as fractions of the device's maximum (mm/s, rad/s). ``action_mode="extended"``
appends five trainee controls: fluoro pedal (> 0 pulses), cine (> 0.5), contrast injection
(> 0.5 injects 2 mL), C-arm primary and secondary rates (fractions of 10 °/s). In device mode
fluoroscopy pulses every step. Values outside [-1, 1] or non-finite raise ``ValueError``.

Observation Space
-----------------
``obs_mode="state"``: ``Box(-10, 10, (state_size(D),), float32)``, see
:func:`igtwin.scenarios._terms.state_observation` (positions /100 mm, lengths /1000 mm).
``"image"``: ``Box(0, 255, (1, H, W), uint8)``, the fluoroscopy frame as displayed.
``"dict"``: ``{"state": ..., "image": ...}``.

Rewards
-------
Progress along the vessel tree (per mm), a success bonus, penalties for wall force, time and dose;
weights from the scenario's ``[reward]`` table.

Starting State
--------------
Devices inserted ``[start].inserted_mm`` from the access site along the path, unrotated (or
drawn per reset from the seed: ``[start].inserted_jitter_mm``, ``[start].random_rotation``).

Episode End
-----------
Terminated when the lead tip is within ``[target].radius_mm`` of the target. Truncated by the
``TimeLimit`` wrapper at ``[limits].max_steps``, or at once on a simulation fault
(``info["reason"] = "simulation fault: ..."``).

Arguments
---------
``scenario`` (name, env id, TOML path or Scenario), ``obs_mode``, ``action_mode``,
``render_mode`` (``"rgb_array"``), ``image_size`` (px), ``held_out`` (evaluate on held-out
anatomies), ``record`` (keep an episode log for reports and replay).

Version History
---------------
v0: first release.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ._case import Case, build_case, load_case_anatomy
from ._config import Scenario
from ._registry import resolve_scenario
from ._terms import SHAPE_SAMPLES_MM, Snapshot, reward, state_observation, state_size

__all__ = [
    "InterventionEnv",
    "ObsMode",
    "ActionMode",
    "snapshot_from_world",
    "commands_from_actions",
]

ObsMode = ("state", "image", "dict")
ActionMode = ("device", "extended")
N_EXTENDED = 5
CARM_RATE_RAD_S = np.deg2rad(10.0)
INJECTION_ML = 2.0


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {list(choices)}")
    return value


def snapshot_from_world(world, case: Case, target: np.ndarray | None = None) -> Snapshot:
    """Gather the term inputs from the world state (B worlds).

    ``target``: ``case.target`` as (B, 3) (see :func:`batched_target`); built here if omitted.
    """
    rod = world.state.rod
    tip = np.asarray(rod.tip_position, dtype=np.float64)  # (B, D, 3)
    B = tip.shape[0]
    samples = np.asarray(SHAPE_SAMPLES_MM)
    shape = np.empty((B, len(SHAPE_SAMPLES_MM), 3))
    lead_pos = rod.positions[:, -1]
    lead_mask = rod.node_mask[:, -1]
    for b in range(B):
        back = lead_pos[b][lead_mask[b]][::-1]  # inserted nodes, tip first
        if len(back) < 2:
            shape[b] = tip[b, -1]
            continue
        d = back[1:] - back[:-1]
        seg = np.sqrt(np.add.reduce(d * d, axis=1))  # np.linalg.norm(d, axis=1), cheaper
        s_from_tip = np.empty(len(back))
        s_from_tip[0] = 0.0
        np.cumsum(seg, out=s_from_tip[1:])  # arc length from the tip backwards
        for j in range(3):
            shape[b, :, j] = np.interp(samples, s_from_tip, back[:, j])
    force = np.asarray(rod.contact_force, dtype=np.float64)  # (B, D, N)
    return Snapshot(
        tip=tip,
        tip_dir=np.asarray(rod.tip_direction, dtype=np.float64),
        inserted_mm=np.asarray(rod.inserted_length, dtype=np.float64),
        rotation=np.asarray(rod.rotation, dtype=np.float64),
        shape=shape,
        target=np.tile(case.target, (B, 1)) if target is None else target,
        geodesic_mm=case.geodesic.distance(tip[:, -1]),
        wall_force_max_n=force.reshape(B, -1).max(axis=1),
        ka_r_mgy=np.array(world.state.ka_r_mgy, dtype=np.float64),
    )


def batched_target(case: Case, B: int) -> np.ndarray:
    """``case.target`` tiled to (B, 3) and read-only: build it once per case and pass it to
    :func:`snapshot_from_world` as ``target``."""
    t = np.tile(case.target, (B, 1))
    t.flags.writeable = False
    return t


def commands_from_actions(actions: np.ndarray, devices: list, action_mode: str):
    """Map normalised actions (B, A) to world commands (physical units)."""
    from igtwin.sim import WorldCommands

    a = np.asarray(actions, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    B = a.shape[0]
    D = len(devices)
    expected = 2 * D + (N_EXTENDED if action_mode == "extended" else 0)
    if a.shape[1] != expected:
        raise ValueError(
            f"action must have {expected} values ({action_mode} mode), got {a.shape[1]}"
        )
    amax = np.abs(a).max()
    if not amax <= 1.0 + 1e-6:  # also catches NaN and inf in one reduction
        if not np.isfinite(a).all():
            raise ValueError(f"action contains NaN or inf: {a.tolist()}")
        raise ValueError(f"action values must lie in [-1, 1], got max |a| = {amax:.4g}")
    a = a.clip(-1.0, 1.0)
    scale = np.array([[d.max_translation_speed, d.max_rotation_speed] for d in devices])
    dev = a[:, : 2 * D].reshape(B, D, 2) * scale[None]
    if action_mode == "extended":
        ext = a[:, 2 * D :]
        return WorldCommands(
            device=dev,
            fluoro=ext[:, 0] > 0,
            cine=ext[:, 1] > 0.5,
            inject_ml=np.where(ext[:, 2] > 0.5, INJECTION_ML, 0.0),
            carm_delta=ext[:, 3:5] * CARM_RATE_RAD_S,
        )
    return WorldCommands(device=dev, fluoro=np.ones(B, bool))


class InterventionEnv(gym.Env):
    """One scenario as a gymnasium env (see the module docstring for the full contract)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 7.5}

    def __init__(
        self,
        scenario: str | Scenario = "arch-lcca",
        *,
        obs_mode: str = "state",
        action_mode: str = "device",
        render_mode: str | None = None,
        image_size: int | None = None,
        held_out: bool = False,
        record: bool = True,
        frame_every: int = 0,
    ) -> None:
        self.scenario = resolve_scenario(scenario)
        self.obs_mode = _check_choice(obs_mode, ObsMode, "obs_mode")
        self.action_mode = _check_choice(action_mode, ActionMode, "action_mode")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"unknown render_mode {render_mode!r}; expected one of {self.metadata['render_modes']}"
            )
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": self.scenario.carm.pulse_rate_hz}
        self.image_size = int(image_size or self.scenario.carm.image_size)
        self.held_out = held_out
        self.record = record
        self.frame_every = int(frame_every)
        self.n_devices = len(self.scenario.devices)
        n_act = 2 * self.n_devices + (N_EXTENDED if action_mode == "extended" else 0)
        self.action_space = spaces.Box(-1.0, 1.0, (n_act,), np.float32)
        state_space = spaces.Box(-10.0, 10.0, (state_size(self.n_devices),), np.float32)
        image_space = spaces.Box(0, 255, (1, self.image_size, self.image_size), np.uint8)
        self.observation_space = {
            "state": state_space,
            "image": image_space,
            "dict": spaces.Dict({"state": state_space, "image": image_space}),
        }[obs_mode]
        self.world = None
        self.case: Case | None = None
        self._anatomy = None
        self._anatomy_name: str | None = None
        self._snap: Snapshot | None = None
        self._frame = None
        self._steps = 0
        self.recorder = None
        self.episode_log = None
        self._actions: list[np.ndarray] = []
        self._reset_seed: int | None = None
        self._target_b: np.ndarray | None = None
        self._path_length_mm = 0.0

    # ------------------------------------------------------------------ helpers
    def _build_world(self) -> None:
        from igtwin.sim import World

        needs_images = self.obs_mode != "state" or self.render_mode is not None or self.frame_every
        anatomy = load_case_anatomy(
            self.scenario, self.np_random, held_out=self.held_out, with_ct=bool(needs_images)
        )
        if self.world is not None and anatomy is self._anatomy:
            return
        sc = self.scenario
        self.case = build_case(sc, anatomy)
        self.world = World(
            anatomy,
            self.case.devices,
            self.case.insertion,
            n_worlds=1,
            substeps=sc.control.substeps,
            carm_angles=(sc.carm.primary_rad, sc.carm.secondary_rad),
            sid_mm=sc.carm.sid_mm,
            protocol=sc.carm.protocol,
            max_inserted_length=self.case.max_inserted_mm,
            image_size=self.image_size,
        )
        self._anatomy = anatomy
        self._target_b = batched_target(self.case, 1)
        self._path_length_mm = float(self.case.target_path.length)
        seed = anatomy.meta.get("seed")
        self._anatomy_name = anatomy.name if seed is None else f"{anatomy.name} (seed {seed})"

    def _image(self) -> np.ndarray:
        frame = self.world.render(0, rng=self.np_random)
        self._frame = frame
        return frame.uint8[None]

    def _obs(self):
        if self.obs_mode == "state":
            return state_observation(self._snap)[0]
        if self.obs_mode == "image":
            return self._image()
        return {"state": state_observation(self._snap)[0], "image": self._image()}

    def _info(self, success: bool, reason: str = "") -> dict[str, Any]:
        s = self._snap
        w = self.world.state
        return {
            "tip_mm": s.lead_tip[0].copy(),
            "target_mm": s.target[0].copy(),
            "distance_mm": float(s.distance_mm[0]),
            "geodesic_mm": float(s.geodesic_mm[0]),
            "wall_force_max_n": float(s.wall_force_max_n[0]),
            "ka_r_mgy": float(w.ka_r_mgy[0]),
            "dap_gycm2": float(w.dap_gycm2[0]),
            "contrast_ml": float(w.contrast_ml[0]),
            "is_success": bool(success),
            "reason": reason,
            "anatomy": self._anatomy_name,
        }

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._reset_seed = seed
        self._build_world()
        ins, rot = self.scenario.start.draw(self.np_random, (1, len(self.case.devices)))
        self.world.reset(inserted_mm=ins, rotation_rad=rot)
        self._snap = snapshot_from_world(self.world, self.case, self._target_b)
        self._steps = 0
        self._actions = []
        self.episode_log = None
        if self.record:
            from igtwin.assessment import EpisodeRecorder

            self.recorder = EpisodeRecorder(
                scenario=self.scenario.name,
                seed=seed,
                dt=self.scenario.dt,
                meta={
                    "anatomy": self._anatomy_name,
                    "devices": [d.name for d in self.scenario.devices],
                    "obs_mode": self.obs_mode,
                    "action_mode": self.action_mode,
                    "target_path_length_mm": float(self.case.target_path.length),
                    "start_geodesic_mm": float(self._snap.geodesic_mm[0]),
                    "start_tip_mm": self._snap.lead_tip[0].tolist(),
                    "success_radius_mm": self.scenario.target.radius_mm,
                    "force_threshold_n": self.scenario.scoring.force_threshold_n,
                    "held_out": self.held_out,
                },
            )
        return self._obs(), self._info(False)

    def step(self, action):
        if self.world is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, dtype=np.float64)
        commands = commands_from_actions(action, self.case.devices, self.action_mode)
        prev = self._snap
        reason = ""
        try:
            self.world.step(commands, self.scenario.dt)
            self._snap = snapshot_from_world(self.world, self.case, self._target_b)
            fault = not np.isfinite(self._snap.tip).all()
            if fault:
                reason = "simulation fault: non-finite device state"
        except FloatingPointError as e:  # pragma: no cover - defensive
            fault, reason = True, f"simulation fault: {e}"
            self._snap = prev
        self._steps += 1
        self._actions.append(action.copy())  # float64 already
        success = bool(self._snap.distance_mm[0] <= self.scenario.target.radius_mm) and not fault
        r = float(reward(prev, self._snap, np.array([success]), self.scenario.reward)[0])
        if fault:
            r = 0.0
        terminated = success
        truncated = fault
        if success:
            reason = "target reached"
        obs = self._obs()
        info = self._info(success, reason)
        if self.recorder is not None:
            self._record(action, r, commands)
        return obs, r, terminated, truncated, info

    def _record(self, action, r, commands) -> None:
        w = self.world.state
        s = self._snap
        rod = w.rod
        t = float(w.t[0])
        force = np.asarray(rod.contact_force[0], dtype=np.float64).ravel()  # (D*N,) N
        in_contact = force[force > 0]
        self.recorder.record_step(
            t_s=t,
            action=action,
            tip=s.lead_tip[0],
            target=s.target[0],
            path_progress_mm=float(self.recorder.meta["start_geodesic_mm"] - s.geodesic_mm[0]),
            path_length_mm=self._path_length_mm,
            inserted_length_mm=s.inserted_mm[0],
            wall_force_max_n=float(s.wall_force_max_n[0]),
            wall_force_mean_n=float(in_contact.mean()) if in_contact.size else 0.0,
            proximal_force_n=np.asarray(rod.proximal_force[0], dtype=np.float64),
            reward=r,
            fluoro_on=bool(commands.fluoro[0]) if commands.fluoro is not None else True,
            ka_r_mgy=float(w.ka_r_mgy[0]),
            dap_gycm2=float(w.dap_gycm2[0]),
            contrast_ml=float(w.contrast_ml[0]),
            n_pulses=int(w.n_pulses[0]),
            positions=np.asarray(rod.positions[0, -1], dtype=np.float64),
        )
        events = w.events[0]
        for ev in events:
            self.recorder.record_event("irradiation", t, _event_dict(ev))
        events.clear()
        if self.frame_every and self._steps % self.frame_every == 1:
            frame = (
                self._frame if self._frame is not None else self.world.render(0, rng=self.np_random)
            )
            img = frame.uint8
            self.recorder.record_frame(self._steps, img, f"t = {w.t[0]:.1f} s")

    def finish_episode(self, *, terminated: bool, truncated: bool, reason: str):
        """Close the episode log (called by runners at episode end); returns the EpisodeLog."""
        if self.recorder is None:
            return None
        success = reason == "target reached"
        self.episode_log = self.recorder.finish(
            success=success,
            terminated=terminated,
            truncated=truncated,
            reason=reason,
            reset_seed=self._reset_seed,
            actions_for_replay=np.array(self._actions),
        )
        return self.episode_log

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        img = self.world.render(0, rng=self.np_random).uint8
        return np.repeat(img[..., None], 3, axis=-1)

    def close(self) -> None:
        self.world = None


def _event_dict(ev) -> dict:
    if hasattr(ev, "to_dict"):
        return ev.to_dict()
    if hasattr(ev, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(ev)
    return dict(ev)
