"""The world in time: device physics, C-arm, imager, dose meter and contrast in one ``step``.

``World`` owns ``n_worlds`` independent copies of one case (same anatomy, same devices) that advance
together (the batch axis is first everywhere). Frame: patient LPS, mm; time in s; angles rad.
Imaging is on demand (``render``), so state-only training pays nothing for it, while dose is
accrued for every fluoroscopy pulse whether or not a frame is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from igtwin.anatomies import Anatomy, VesselPath

__all__ = ["World", "WorldCommands", "WorldState"]

#: Device catalogue material -> imaging material (radiopaque filler of catheter shafts).
_IMAGING_MATERIAL = {"catheter_polymer": "polymer_barium"}


@dataclass
class WorldCommands:
    """Inputs for one control step, batch first.

    Attributes
    ----------
    device : ndarray, shape (B, D, 2)
        Per device: translation speed (mm/s, + advances) and rotation speed (rad/s).
    fluoro : ndarray, shape (B,), bool
        Fluoroscopy pedal pressed: one pulse this step (dose, and a frame when rendered).
    cine : ndarray, shape (B,), bool
        Cine acquisition this step (higher dose per frame, logged as cine).
    inject_ml : ndarray, shape (B,)
        Contrast volume (mL) injected at the lead catheter/wire tip this step.
    carm_delta : ndarray, shape (B, 2)
        Change of C-arm primary (LAO +) and secondary (CRAN +) angles this step (rad).
    """

    device: NDArray[np.float64]
    fluoro: NDArray[np.bool_] | None = None
    cine: NDArray[np.bool_] | None = None
    inject_ml: NDArray[np.float64] | None = None
    carm_delta: NDArray[np.float64] | None = None


@dataclass
class WorldState:
    """What the world is at the end of a step (batch first). ``rod`` is the physics state."""

    t: NDArray[np.float64]
    rod: object
    carm_angles: NDArray[np.float64]
    ka_r_mgy: NDArray[np.float64]
    dap_gycm2: NDArray[np.float64]
    n_pulses: NDArray[np.int64]
    fluoro_time_s: NDArray[np.float64]
    contrast_ml: NDArray[np.float64]
    events: list[list] = field(default_factory=list)


class World:
    """A batch of identical cases: anatomy + devices + C-arm + imager + dose + contrast.

    Parameters
    ----------
    anatomy : Anatomy
        The patient (needs a vessel tree and a lumen SDF).
    devices : list of DeviceSpec
        One device, or ``[catheter, wire]`` coaxial.
    insertion : VesselPath
        Path from the access site; devices enter at ``insertion.points[0]``.
    n_worlds : int, default: 1
        Batch size B.
    substeps : int, default: 4
        Physics substeps per control step.
    carm_angles : tuple of float, default: (0, 0)
        Initial primary (LAO +) and secondary (CRAN +) angles (rad).
    sid_mm : float, default: 1000
        Source-image distance (mm).
    protocol : str, default: "fluoro-low"
        Fluoroscopy protocol preset name.
    image_size : int, default: 256
        Output frame size (pixels, square).
    backend : str, default: "auto"
        Rod physics backend.
    max_inserted_length : float, optional
        Longest inserted length (mm) the physics allocates nodes for (default: the rod
        simulator's, the insertion path length + 30 mm).
    """

    def __init__(
        self,
        anatomy: Anatomy,
        devices: list,
        insertion: VesselPath,
        *,
        n_worlds: int = 1,
        substeps: int = 4,
        carm_angles: tuple[float, float] = (0.0, 0.0),
        sid_mm: float = 1000.0,
        protocol: str = "fluoro-low",
        image_size: int = 256,
        backend: str = "auto",
        max_inserted_length: float | None = None,
    ) -> None:
        from ._carm import CArm
        from ._dose import DoseMeter, XRayProtocol
        from ._rod import RodSimulator

        if anatomy.sdf is None or anatomy.vessel_tree is None:
            raise ValueError(f"anatomy {anatomy.name!r} needs a vessel tree and a lumen SDF")
        if n_worlds < 1:
            raise ValueError(f"`n_worlds` must be >= 1, got {n_worlds}")
        self.anatomy = anatomy
        self.devices = list(devices)
        self.insertion = insertion
        self.n_worlds = n_worlds
        self.rods = RodSimulator(
            self.devices,
            anatomy.sdf,
            insertion,
            n_worlds=n_worlds,
            substeps=substeps,
            backend=backend,
            max_inserted_length=max_inserted_length,
        )
        self.initial_angles = np.asarray(carm_angles, dtype=np.float64)
        self.sid_mm = float(sid_mm)
        self.protocol_name = protocol
        self.image_size = int(image_size)
        self._carm_cls = CArm
        self._dose_cls = DoseMeter
        self._isocenter = None
        self._carm_cache: dict[int, tuple[tuple[float, float], object]] = {}
        self._protocol = XRayProtocol.preset(protocol)
        self._cine = XRayProtocol.preset("cine")
        self._imager = None
        self.dose_meters = [DoseMeter() for _ in range(n_worlds)]
        self.contrast = [None] * n_worlds
        self._dsa_ml = np.zeros(n_worlds)
        self.state: WorldState | None = None
        #: noise source of frames rendered without an explicit ``rng`` (reseeded by reset(seed))
        self.rng = np.random.default_rng(0)

    # ------------------------------------------------------------------ helpers
    @property
    def n_devices(self) -> int:
        return len(self.devices)

    def carm(self, b: int = 0):
        """The C-arm of world ``b`` at its current angles."""
        a = self.state.carm_angles[b] if self.state is not None else self.initial_angles
        key = (float(a[0]), float(a[1]))
        cached = self._carm_cache.get(b)
        if cached is not None and cached[0] == key:  # CArm is immutable: reuse it while it holds
            return cached[1]
        carm = self._carm_cls(alpha=key[0], beta=key[1], sid=self.sid_mm, isocenter=self.isocenter)
        self._carm_cache[b] = (key, carm)
        return carm

    @property
    def isocenter(self) -> NDArray[np.float64]:
        """C-arm isocentre (LPS mm): 20 mm below the arch apex, else the vessel tree's centre."""
        if self._isocenter is None:
            if "arch_apex" in self.anatomy.landmarks:  # centre the arch, as for arch angiography
                self._isocenter = np.asarray(self.anatomy.landmarks["arch_apex"], float) - [
                    0.0,
                    0.0,
                    20.0,
                ]
            else:
                pts = np.concatenate([b.points for b in self.anatomy.vessel_tree])
                self._isocenter = 0.5 * (pts.min(0) + pts.max(0))
        return self._isocenter

    @property
    def protocol(self):
        """The fluoroscopy protocol (tube settings, pulse rate) of the case."""
        return self._protocol

    # ------------------------------------------------------------------ lifecycle
    def reset(
        self,
        *,
        inserted_mm: float | NDArray[np.float64],
        world_mask: NDArray[np.bool_] | None = None,
        seed: int | None = None,
        rotation_rad: float | NDArray[np.float64] = 0.0,
    ) -> WorldState:
        """Start (or restart the masked) worlds with ``inserted_mm`` of each device inserted.

        ``inserted_mm`` and ``rotation_rad`` (each device's initial axial rotation) broadcast to
        (B, D).

        ``seed`` reseeds :attr:`rng`, the noise source of frames rendered without an ``rng``.
        """
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        B = self.n_worlds
        mask = np.ones(B, bool) if world_mask is None else np.asarray(world_mask, bool)
        if self.state is None:
            rod = self.rods.initial_state(inserted_length=inserted_mm, rotation=rotation_rad)
            self.state = WorldState(
                t=np.zeros(B),
                rod=rod,
                carm_angles=np.tile(self.initial_angles, (B, 1)),
                ka_r_mgy=np.zeros(B),
                dap_gycm2=np.zeros(B),
                n_pulses=np.zeros(B, np.int64),
                fluoro_time_s=np.zeros(B),
                contrast_ml=np.zeros(B),
                events=[[] for _ in range(B)],
            )
        else:
            self.rods.reset(
                self.state.rod, mask, inserted_length=inserted_mm, rotation=rotation_rad
            )
        s = self.state
        for b in np.flatnonzero(mask):
            s.t[b] = 0.0
            s.carm_angles[b] = self.initial_angles
            s.ka_r_mgy[b] = s.dap_gycm2[b] = s.fluoro_time_s[b] = s.contrast_ml[b] = 0.0
            s.n_pulses[b] = 0
            s.events[b] = []
            self.dose_meters[b] = self._dose_cls()
            self.contrast[b] = None
            self._dsa_ml[b] = 0.0
        return s

    def step(self, commands: WorldCommands, dt: float) -> WorldState:
        """Advance every world by one control step of ``dt`` seconds."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"`dt` must be a positive finite time (s), got {dt}")
        s = self.state
        B = self.n_worlds
        s.rod = self.step_rods(s.rod, commands.device, dt)
        s.t += dt
        if commands.carm_delta is not None:
            s.carm_angles += np.asarray(commands.carm_delta, dtype=np.float64).reshape(B, 2)
            s.carm_angles[:, 0] = np.clip(s.carm_angles[:, 0], -np.pi / 2, np.pi / 2)
            s.carm_angles[:, 1] = np.clip(s.carm_angles[:, 1], -np.pi / 4, np.pi / 4)
        fluoro = np.ones(B, bool) if commands.fluoro is None else np.asarray(commands.fluoro, bool)
        cine = np.zeros(B, bool) if commands.cine is None else np.asarray(commands.cine, bool)
        for b in np.flatnonzero(fluoro | cine):
            protocol = self._cine if cine[b] else self.protocol
            n_pulses = max(int(round(protocol.pulse_rate_hz * dt)), 1)
            carm = self.carm(b)
            dm = self.dose_meters[b]
            for k in range(n_pulses):
                t_pulse = float(s.t[b]) - dt + (k + 1) * dt / n_pulses
                s.events[b].append(dm.record_pulse(carm, protocol, t_pulse))
            s.ka_r_mgy[b] = dm.ka_r_mgy
            s.dap_gycm2[b] = dm.dap_gycm2
            s.n_pulses[b] = dm.n_pulses
            s.fluoro_time_s[b] = dm.fluoro_time_s
        if commands.inject_ml is not None:
            inj = np.asarray(commands.inject_ml, dtype=np.float64).reshape(B)
            for b in np.flatnonzero(inj > 0):
                self._contrast(b).inject(float(inj[b]), 5.0, at=self.tip(b))
        for b in range(B):
            if self.contrast[b] is not None:
                self.contrast[b].step(dt)
                s.contrast_ml[b] = self._dsa_ml[b] + self.contrast[b].total_ml
        return s

    def step_rods(self, rod, device_commands: NDArray[np.float64], dt: float):
        """Advance only the device physics of ``rod`` (a ``RodState``) by ``dt`` s, as ``step`` does.

        ``device_commands`` (B, D, 2): mm/s and rad/s. Returns the new ``RodState``.
        """
        return self.rods.step(rod, device_commands, dt)

    def _contrast(self, b: int):
        if self.contrast[b] is None:
            from ._contrast import ContrastAgent

            # blood enters at the aortic root, the distal end of the root branch (access first)
            self.contrast[b] = ContrastAgent(self.anatomy.vessel_tree, inflow="root_end")
        return self.contrast[b]

    def tip(self, b: int = 0, device: int = -1) -> NDArray[np.float64]:
        """Tip position (LPS mm) of ``device`` (default: the innermost, lead device) in world b."""
        return np.asarray(self.state.rod.tip_position[b, device], dtype=np.float64)

    # ------------------------------------------------------------------ imaging
    @property
    def imager(self):
        """The imager (built on first use: the anatomy's material decomposition takes time)."""
        if self._imager is None:
            from ._imager import Imager

            self._imager = Imager(self.anatomy, output_shape=(self.image_size, self.image_size))
        return self._imager

    def device_geometry(self, b: int = 0) -> list:
        """Render geometry of each device in world ``b`` (inserted nodes only)."""
        from ._device_chords import device_shapes

        out = []
        rod = self.state.rod
        for d, spec in enumerate(self.devices):
            pts = rod.positions[b, d][rod.node_mask[b, d]]
            if len(pts) < 2:
                continue
            seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
            s_from_tip = np.concatenate([np.cumsum(seg[::-1])[::-1], [0.0]])
            materials = [_IMAGING_MATERIAL.get(m, m) for m in spec.material_at(s_from_tip)]
            radius = 0.5 * spec.outer_diameter_at(s_from_tip)
            inner = 0.5 * spec.inner_diameter if spec.kind == "catheter" else 0.0
            out += device_shapes(pts, radius, materials, name=spec.name, inner_radius=inner)
        return out

    def acquire_dsa(
        self,
        b: int = 0,
        *,
        volume_ml: float = 12.0,
        rate_ml_s: float = 12.0,
        duration_s: float = 2.0,
        at: NDArray[np.float64] | None = None,
        rng: np.random.Generator | None = None,
    ) -> list[NDArray[np.float32]]:
        """A DSA run in world ``b``: mask frame, injection, subtracted frames at the DSA rate.

        Iodine (``volume_ml`` at ``rate_ml_s``) is injected at ``at`` (LPS mm; default the aortic
        root, as from a pigtail catheter for an arch angiogram); frames follow at the ``dsa``
        protocol's rate for ``duration_s`` seconds, each a dosed pulse logged in the world's dose
        meter and events. Returns the log-subtracted images (dimensionless, iodine positive).
        The devices stay where they are; world time does not advance (the run is instantaneous
        for the physics).
        """
        from ._contrast import ContrastAgent, dsa
        from ._dose import XRayProtocol

        protocol = XRayProtocol.preset("dsa")
        rng = self.rng if rng is None else rng
        tree = self.anatomy.vessel_tree
        agent = ContrastAgent(tree, inflow="root_end")
        at = tree[tree.root].points[-1] if at is None else np.asarray(at, dtype=np.float64)
        carm, devices, s = self.carm(b), self.device_geometry(b), self.state
        dm = self.dose_meters[b]
        t0 = float(s.t[b])
        s.events[b].append(dm.record_pulse(carm, protocol, t0))
        mask = self.imager.render(carm, protocol, devices=devices, rng=rng).signal
        agent.inject(volume_ml, rate_ml_s, at=at)
        n_frames = max(int(round(duration_s * protocol.pulse_rate_hz)), 1)
        out = []
        for k in range(n_frames):
            agent.step(protocol.frame_interval_s)
            s.events[b].append(
                dm.record_pulse(carm, protocol, t0 + (k + 1) * protocol.frame_interval_s)
            )
            live = self.imager.render(carm, protocol, devices=devices, contrast=agent, rng=rng)
            out.append(dsa(live.signal, mask).astype(np.float32))
        self._dsa_ml[b] += agent.total_ml
        s.contrast_ml[b] += agent.total_ml
        s.ka_r_mgy[b], s.dap_gycm2[b] = dm.ka_r_mgy, dm.dap_gycm2
        s.n_pulses[b], s.fluoro_time_s[b] = dm.n_pulses, dm.fluoro_time_s
        return out

    def render(self, b: int = 0, *, rng: np.random.Generator | None = None, ground_truth=False):
        """The fluoroscopy frame of world ``b`` as the operator sees it (see ``Imager.render``)."""
        return self.imager.render(
            self.carm(b),
            self.protocol,
            devices=self.device_geometry(b),
            contrast=self.contrast[b],
            rng=self.rng if rng is None else rng,
            ground_truth=ground_truth,
        )
