"""Guidewire and catheter physics in the vessel lumen: a batched elastic rod with twist.

Conventions
-----------
- Frame: patient LPS, mm; time s; forces N; torques N·mm; angles rad.
- Batch axis first: B worlds, D devices per world (1, or ``[catheter, wire]``), N nodes per
  device, numbered proximal (0) to distal (N-1); the tip is node N-1.
- Insertion: a device is fed from the access point ``insertion.points[0]`` along the path's
  initial direction. Nodes not yet inserted lie on the straight line behind the access point
  and are held there (the introducer sheath); only the distal ``(N-1)·l`` mm of the device is
  simulated, so the inserted length is limited to ``max_inserted_length`` (mm).
- Translation commands are mm/s (positive = advance), rotation commands rad/s (positive =
  counter-clockwise looking from the operator toward the patient, about the insertion direction).

See docs/devices.md for the model, its numerics and its validation.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace

import numpy as np
from numpy.typing import NDArray

from igtwin.anatomies import SDFGrid, VesselPath

from ._devices import DeviceSpec, get_device

__all__ = [
    "RodSimulator",
    "RodState",
    "SofaNotAvailableError",
    "WarpDeviceUnavailableError",
    "WarpNotAvailableError",
]

_BACKENDS = ("auto", "numba", "numpy", "sofa", "warp")


class SofaNotAvailableError(ImportError):
    """SofaPython3 with the BeamAdapter plugin is not importable."""


class WarpNotAvailableError(ImportError):
    """warp-lang (``pip install 'igtwin[gpu]'``) is not importable, for ``backend="warp"``."""


class WarpDeviceUnavailableError(RuntimeError):
    """``backend="warp"`` on a CUDA device that warp does not see (no driver or GPU)."""


@dataclass
class RodState:
    """State of B worlds of D devices (numpy arrays, batch axis first).

    Attributes
    ----------
    positions : ndarray, (B, D, N, 3), float64
        Node positions (LPS mm), proximal to distal; not-inserted nodes lie behind the access.
    node_mask : ndarray, (B, D, N), bool
        True for inserted nodes (beyond the access point, inside the patient); for a wire this
        includes the part held inside the catheter.
    tangents : ndarray, (B, D, N, 3)
        Unit tangent at each node (distal direction), averaged over the adjacent edges.
    twist : ndarray, (B, D, N-1)
        Material-frame angle of each edge (rad) relative to the parallel-transported frame.
    inserted_length : ndarray, (B, D)
        Length (mm) of each device beyond the access point.
    rotation : ndarray, (B, D)
        Axial rotation (rad) applied at the proximal end since the start.
    contact_force : ndarray, (B, D, N)
        Wall normal force on each node (N).
    proximal_force : ndarray, (B, D)
        Axial force (N) the operator applies at the access (positive = pushing), at most
        ``max_proximal_force`` in magnitude: beyond it the grip slips and the feed stops.
    proximal_torque : ndarray, (B, D)
        Axial torque (N·mm) the operator applies at the access.
    tip_position : ndarray, (B, D, 3)
        Distal tip (LPS mm).
    tip_direction : ndarray, (B, D, 3)
        Unit direction of the distal edge.
    """

    positions: NDArray[np.float64]
    node_mask: NDArray[np.bool_]
    tangents: NDArray[np.float64]
    twist: NDArray[np.float64]
    inserted_length: NDArray[np.float64]
    rotation: NDArray[np.float64]
    contact_force: NDArray[np.float64]
    proximal_force: NDArray[np.float64]
    proximal_torque: NDArray[np.float64]
    tip_position: NDArray[np.float64]
    tip_direction: NDArray[np.float64]

    @classmethod
    def zeros(cls, b: int, d: int, n: int) -> RodState:
        """An all-zero state of ``b`` worlds of ``d`` devices with ``n`` nodes each."""
        return cls(
            positions=np.zeros((b, d, n, 3)),
            node_mask=np.zeros((b, d, n), bool),
            tangents=np.zeros((b, d, n, 3)),
            twist=np.zeros((b, d, n - 1)),
            inserted_length=np.zeros((b, d)),
            rotation=np.zeros((b, d)),
            contact_force=np.zeros((b, d, n)),
            proximal_force=np.zeros((b, d)),
            proximal_torque=np.zeros((b, d)),
            tip_position=np.zeros((b, d, 3)),
            tip_direction=np.zeros((b, d, 3)),
        )

    def copy(self) -> RodState:
        """A deep copy."""
        return replace(self, **{f.name: getattr(self, f.name).copy() for f in fields(self)})

    @property
    def n_worlds(self) -> int:
        return self.positions.shape[0]


def _python_kernels():
    """The kernels' plain-Python twin: the same source executed without numba (reference)."""
    import types

    from . import _rod_kernels

    with open(_rod_kernels.__file__, encoding="utf-8") as fh:
        src = fh.read().replace("import numba as nb\n", "")

    def _ident(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

    shim = types.SimpleNamespace(njit=_ident, prange=range)
    ns: dict = {"nb": shim, "__name__": "igtwin.sim._rod_kernels_py"}
    exec(compile(src, _rod_kernels.__file__, "exec"), ns)  # noqa: S102
    return types.SimpleNamespace(**ns)


@contextmanager
def _serial_kernels(serial: bool) -> Iterator[None]:
    """Run the numba kernels called inside on the calling thread only, when ``serial``.

    The rod kernel spreads worlds over numba's thread pool (``prange``). With one world there is
    nothing to spread, but every call still wakes the pool and waits at its barrier: on a busy
    machine (a second process on the other core) that wait cost 3–10 ms per step against 0.3 ms
    of work. ``numba.set_num_threads`` is thread-local and is restored on exit.
    """
    if not serial:
        yield
        return
    import numba

    n = numba.get_num_threads()
    if n == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(n)


class _DeviceParams:
    """Per-node parameter arrays of one device as simulated with N nodes at spacing l."""

    def __init__(self, spec: DeviceSpec, n: int, l: float, drag: float) -> None:
        s_node = (n - 1 - np.arange(n)) * l  # arc length from the tip (mm)
        s_edge = s_node[:-1] - 0.5 * l
        self.ei = np.ascontiguousarray(spec.bending_stiffness_at(s_node), dtype=np.float64)
        self.gj = np.ascontiguousarray(spec.torsional_stiffness_at(s_edge), dtype=np.float64)
        self.ks = np.ascontiguousarray(spec.axial_stiffness_at(s_edge) / l, dtype=np.float64)
        self.kap = np.ascontiguousarray(spec.rest_curvature_at(s_node), dtype=np.float64)
        self.rad = np.ascontiguousarray(0.5 * spec.outer_diameter_at(s_node), dtype=np.float64)
        self.drag = np.full(n, drag * l, dtype=np.float64)


class RodSimulator:
    """Batched guidewire/catheter physics in a vessel lumen.

    Parameters
    ----------
    devices : list of DeviceSpec or str
        One device, or ``[catheter, wire]`` for a coaxial pair (names are looked up with
        :func:`get_device`).
    sdf : SDFGrid
        Lumen signed-distance field (mm, negative inside).
    insertion : VesselPath
        Path whose first point is the access site; its first 5 mm give the insertion direction.
    n_worlds : int, default: 1
        Batch size B.
    node_spacing : float, default: 1.5
        Rest distance between nodes (mm).
    substeps : int, default: 4
        Physics substeps per :meth:`step`.
    backend : {"auto", "numba", "numpy", "sofa", "warp"}, default: "auto"
        "auto" and "numba": compiled kernels, worlds in parallel; "numpy": the same algorithm
        run as plain Python (reference, slow); "sofa": SofaPython3 + BeamAdapter, one SOFA scene
        per world (:class:`~igtwin.sim._sofa_backend.SofaRodBackend`; one device or a coaxial
        pair);
        "warp": the same algorithm as warp-lang kernels, one thread per world, on ``device``
        (:class:`~igtwin.sim._rod_warp.WarpRodKernels`; needs ``pip install 'igtwin[gpu]'``,
        else :class:`WarpNotAvailableError`).
    device : {"cpu", "cuda", "cuda:<n>"}, default: "cpu"
        Where the "warp" backend runs (other backends accept only "cpu"). A CUDA device that
        warp does not see raises :class:`WarpDeviceUnavailableError` (no fallback to the CPU).
    max_inserted_length : float, optional
        Longest inserted length (mm) to simulate; default: the path length + 30 mm, capped by
        the device length. Sets the node count N = ceil(max/l) + 3.
    friction : float, default: 0.1
        Coulomb friction coefficient with the wall (hydrophilic wire in blood ~ 0.05–0.15).
    newton_iterations : int, default: 3
        Gauss-Newton iterations per substep.
    drag : float, default: 1e-6
        Viscous drag per unit length (N·s/mm²) acting on the nodes (numerical damping; quasi-
        static equilibrium does not depend on it).
    contact_stiffness : float, default: 1e5
        Penalty stiffness of the wall inside the solve (N/mm); positions are then projected.
    max_proximal_force : float, default: 5.0
        Largest axial force (N) the operator's grip transmits: while the device pushes back
        harder (jammed), translation commands in that direction do not feed it further.
    max_iterations : int, optional
        Most Gauss-Newton iterations per substep (default ``3 * newton_iterations``).
    force_tolerance : float, default: 0.0
        With a value > 0 (N), a substep also iterates until the largest force residual at a free
        node is below it (up to ``max_iterations``): converged wall and proximal forces for a
        haptic rig, at a cost in speed (docs/devices.md, "Force accuracy"). 0: the 0.1 mm step
        criterion alone.
    ride_stiffness : float, default: 20.0
        Coaxial pair only: where the wire leads out of the catheter, the catheter's last three
        nodes are held on the wire's centreline by this stiffness (N/mm), so a catheter
        advanced over a wire follows it into a branch (0 turns it off).

    Examples
    --------
    >>> import numpy as np
    >>> from igtwin.anatomies import VesselBranch, VesselTree, tube_sdf
    >>> pts = np.stack([np.zeros(41), np.zeros(41), np.linspace(0, 200, 41)], 1)
    >>> tree = VesselTree([VesselBranch("aorta", pts, np.full(41, 5.0))])
    >>> sdf = tube_sdf([pts], [np.full(41, 5.0)], spacing=1.0)
    >>> sim = RodSimulator(["guidewire_035_angled"], sdf, tree.path("aorta"))
    >>> state = sim.initial_state(inserted_length=20.0)
    >>> state = sim.step(state, np.array([[[10.0, 0.0]]]), 1 / 15)
    >>> round(float(state.inserted_length[0, 0]), 3)
    20.667
    """

    def __init__(
        self,
        devices: list[DeviceSpec | str],
        sdf: SDFGrid,
        insertion: VesselPath,
        *,
        n_worlds: int = 1,
        node_spacing: float = 1.5,
        substeps: int = 4,
        backend: str = "auto",
        device: str = "cpu",
        max_inserted_length: float | None = None,
        friction: float = 0.1,
        newton_iterations: int = 3,
        drag: float = 1e-6,
        contact_stiffness: float = 1.0e5,
        max_proximal_force: float = 5.0,
        ride_stiffness: float = 20.0,
        max_iterations: int | None = None,
        force_tolerance: float = 0.0,
    ) -> None:
        if isinstance(devices, (DeviceSpec, str)):
            devices = [devices]
        devs = [get_device(d) if isinstance(d, str) else d for d in devices]
        if not 1 <= len(devs) <= 2 or not all(isinstance(d, DeviceSpec) for d in devs):
            raise ValueError(f"`devices` must be 1 DeviceSpec or [catheter, wire], got {devices!r}")
        if len(devs) == 2 and not (devs[0].kind == "catheter" and devs[1].kind == "guidewire"):
            raise ValueError(
                f"a coaxial pair must be [catheter, guidewire], got [{devs[0].kind}, {devs[1].kind}]"
            )
        if not isinstance(sdf, SDFGrid):
            raise TypeError(f"`sdf` must be an SDFGrid, got {type(sdf).__name__}")
        if not isinstance(insertion, VesselPath):
            raise TypeError(f"`insertion` must be a VesselPath, got {type(insertion).__name__}")
        if backend not in _BACKENDS:
            close = difflib.get_close_matches(str(backend), _BACKENDS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown backend {backend!r}; expected one of {_BACKENDS}.{hint}")
        if backend == "sofa":
            from ._sofa_backend import check_sofa

            check_sofa()
        from ._rod_warp import check_device

        check_device(device)
        if device != "cpu" and backend != "warp":
            raise ValueError(f"`device={device!r}` needs backend='warp', got backend={backend!r}")
        if backend == "warp":
            from ._rod_warp import check_warp

            check_warp()
        for name, v, lo in (
            ("n_worlds", n_worlds, 1),
            ("substeps", substeps, 1),
            ("newton_iterations", newton_iterations, 1),
        ):
            if int(v) != v or v < lo:
                raise ValueError(f"`{name}` must be an integer >= {lo}, got {v}")
        if not (0.2 <= node_spacing <= 10.0):
            raise ValueError(f"`node_spacing` must be in [0.2, 10] mm, got {node_spacing}")
        if not (0.0 <= friction <= 2.0):
            raise ValueError(f"`friction` must be in [0, 2], got {friction}")
        self.devices = devs
        self.sdf = sdf
        self.insertion = insertion
        self.n_worlds = int(n_worlds)
        self.node_spacing = float(node_spacing)
        self.substeps = int(substeps)
        self.backend = "numba" if backend == "auto" else backend
        self.device = device
        self.friction = float(friction)
        self.newton_iterations = int(newton_iterations)
        self.contact_stiffness = float(contact_stiffness)
        if not max_proximal_force > 0:
            raise ValueError(f"`max_proximal_force` must be > 0 N, got {max_proximal_force}")
        self.max_proximal_force = float(max_proximal_force)
        if not (math.isfinite(ride_stiffness) and ride_stiffness >= 0):
            raise ValueError(f"`ride_stiffness` must be >= 0 N/mm, got {ride_stiffness}")
        self.ride_stiffness = float(ride_stiffness)
        if max_iterations is None:
            max_iterations = 3 * int(newton_iterations)
        if int(max_iterations) != max_iterations or max_iterations < newton_iterations:
            raise ValueError(
                f"`max_iterations` must be an integer >= newton_iterations ({newton_iterations}), "
                f"got {max_iterations}"
            )
        self.max_iterations = int(max_iterations)
        if not (math.isfinite(force_tolerance) and force_tolerance >= 0):
            raise ValueError(f"`force_tolerance` must be >= 0 N, got {force_tolerance}")
        self.force_tolerance = float(force_tolerance)
        l = self.node_spacing
        dev_len = min(d.length for d in devs)
        if max_inserted_length is None:
            max_inserted_length = min(insertion.length + 30.0, dev_len)
        if not (0 < max_inserted_length <= dev_len):
            raise ValueError(
                f"`max_inserted_length` must be in (0, {dev_len}] mm, got {max_inserted_length}"
            )
        self.n_nodes = int(math.ceil(max_inserted_length / l)) + 3
        self.max_inserted_length = (self.n_nodes - 3) * l
        self._params = [_DeviceParams(d, self.n_nodes, l, drag) for d in devs]
        self._stacked = {
            k: np.ascontiguousarray(np.stack([getattr(p, k) for p in self._params]))
            for k in ("ei", "gj", "ks", "kap", "rad", "drag")
        }
        # access point, direction (mean over the first 5 mm), reference director
        p = insertion.points
        s = insertion.arclength
        k = max(int(np.searchsorted(s, min(5.0, s[-1]))), 1)
        d0 = p[k] - p[0]
        self._a0 = np.ascontiguousarray(p[0], dtype=np.float64)
        self._d0 = d0 / np.linalg.norm(d0)
        ref = np.array([0.0, 1.0, 0.0]) if abs(self._d0[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
        u0 = ref - (ref @ self._d0) * self._d0
        self._u0 = u0 / np.linalg.norm(u0)
        # command bounds with the same 1e-9 relative slack as before (D, 2)
        self._speed_limits = np.array(
            [[d.max_translation_speed, d.max_rotation_speed] for d in devs]
        ) * (1 + 1e-9)
        self._sdf_v = np.ascontiguousarray(sdf.values, dtype=np.float32)
        self._sdf_o = np.ascontiguousarray(sdf.origin, dtype=np.float64)
        if self.backend == "numpy":
            self._k = _python_kernels()
        elif self.backend == "warp":
            from ._rod_warp import WarpRodKernels

            self._k = WarpRodKernels(device)
        else:
            from . import _rod_kernels

            self._k = _rod_kernels
        self._sofa = None
        if self.backend == "sofa":
            from ._sofa_backend import SofaRodBackend

            self._sofa = SofaRodBackend(self)

    # ------------------------------------------------------------------ public API
    @property
    def n_devices(self) -> int:
        return len(self.devices)

    def initial_state(
        self, inserted_length: float | NDArray = 0.0, rotation: float | NDArray = 0.0
    ) -> RodState:
        """A fresh state with every device laid along the insertion path.

        Parameters
        ----------
        inserted_length : float or array broadcastable to (B, D)
            Length (mm) beyond the access point, clipped to [0, max_inserted_length].
        rotation : float or array broadcastable to (B, D)
            Initial axial rotation (rad).
        """
        b, d, n = self.n_worlds, self.n_devices, self.n_nodes
        st = RodState.zeros(b, d, n)
        self.reset(st, np.ones(b, bool), inserted_length=inserted_length, rotation=rotation)
        return st

    def reset(
        self,
        state: RodState,
        world_mask: NDArray[np.bool_],
        *,
        inserted_length: float | NDArray = 0.0,
        rotation: float | NDArray = 0.0,
    ) -> None:
        """Re-initialise, in place, the worlds where ``world_mask`` (B,) is True."""
        b, d, n = self.n_worlds, self.n_devices, self.n_nodes
        mask = np.asarray(world_mask, dtype=bool)
        if mask.shape != (b,):
            raise ValueError(f"`world_mask` must have shape ({b},), got {mask.shape}")
        lin = self._broadcast("inserted_length", inserted_length)
        rot = self._broadcast("rotation", rotation)
        if not mask.any():
            return
        lin = np.clip(lin, 0.0, self.max_inserted_length)
        if self._sofa is not None:
            self._sofa.reset(state, mask, lin, rot)
            return
        l = self.node_spacing
        path = self.insertion
        for w in np.flatnonzero(mask):
            for k in range(d):
                off = (n - 1) * l - lin[w, k]
                sigma = np.arange(n) * l - off  # arc length beyond the access
                pos = self._a0 + np.minimum(sigma, 0.0)[:, None] * self._d0
                ins = sigma > 0
                sig = np.minimum(sigma[ins], path.length)
                pos[ins] = np.stack(
                    [np.interp(sig, path.arclength, path.points[:, a]) for a in range(3)], 1
                )
                # beyond the path end (should not happen): continue straight
                over = np.flatnonzero(ins)[sigma[ins] > path.length]
                if len(over):
                    t = path.points[-1] - path.points[-2]
                    t /= np.linalg.norm(t)
                    pos[over] = path.points[-1] + (sigma[over] - path.length)[:, None] * t
                state.positions[w, k] = pos
                state.twist[w, k] = rot[w, k]
                state.inserted_length[w, k] = lin[w, k]
                state.rotation[w, k] = rot[w, k]
                state.contact_force[w, k] = 0.0
                state.proximal_force[w, k] = 0.0
                state.proximal_torque[w, k] = 0.0
        # relax the rest shape in place (no motion commands) for the reset worlds only
        sub = self._subset(state, mask)
        zero = np.zeros((int(mask.sum()), d, 2))
        for _ in range(3):
            sub = self._advance(sub, zero, 1.0 / 15.0, None)
        self._scatter(state, sub, mask)

    def step(
        self,
        state: RodState,
        commands: NDArray[np.floating],
        dt: float,
        *,
        external_force: NDArray[np.floating] | None = None,
    ) -> RodState:
        """Advance every world by ``dt`` seconds; returns a new state.

        Parameters
        ----------
        state : RodState
        commands : ndarray, (B, D, 2)
            Per device [translation speed mm/s (+ advances), rotation speed rad/s].
        dt : float
            Control step (s), split into ``substeps`` physics substeps.
        external_force : ndarray, (B, D, N, 3), optional
            Extra force on each node (N), e.g. a test load.

        Raises
        ------
        ValueError
            Commands of the wrong shape, not finite, or beyond a device's maximum speeds; the
            state is left untouched.
        """
        cmd = self.check_commands(commands)
        if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and 0 < dt <= 1):
            raise ValueError(f"`dt` must be a finite time step in (0, 1] s, got {dt!r}")
        if external_force is not None:
            ef = np.asarray(external_force, dtype=np.float64)
            shp = (self.n_worlds, self.n_devices, self.n_nodes, 3)
            if ef.shape != shp or not np.isfinite(ef).all():
                raise ValueError(
                    f"`external_force` must be finite with shape {shp}, got shape {ef.shape}"
                )
            external_force = ef
        if self._sofa is not None:
            return self._sofa.step(state.copy(), cmd, float(dt), external_force)
        return self._advance(state.copy(), cmd, float(dt), external_force)

    def check_commands(self, commands: NDArray[np.floating]) -> NDArray[np.float64]:
        """Validated commands (B, D, 2) as float64; ValueError naming the value and the bound."""
        cmd = np.asarray(commands, dtype=np.float64)
        shp = (self.n_worlds, self.n_devices, 2)
        if cmd.shape != shp:
            raise ValueError(
                f"`commands` must have shape {shp} (worlds, devices, [mm/s, rad/s]), "
                f"got {cmd.shape}"
            )
        lim = self._speed_limits  # (D, 2): mm/s, rad/s
        if np.isfinite(cmd).all() and (np.abs(cmd) <= lim).all():
            return cmd  # the common case: one vectorised check
        bad = ~np.isfinite(cmd)
        if bad.any():
            w, k, c = np.argwhere(bad)[0]
            raise ValueError(
                f"`commands[{w}, {k}, {c}]` is {cmd[w, k, c]}; expected a finite value"
            )
        w, k, c = np.argwhere(np.abs(cmd) > lim)[0]
        dev = self.devices[k]
        what, unit = ("translation", "mm/s") if c == 0 else ("rotation", "rad/s")
        raise ValueError(
            f"`commands[{w}, {k}, {c}]` = {cmd[w, k, c]} {unit} exceeds the {what} speed limit "
            f"±{(dev.max_translation_speed, dev.max_rotation_speed)[c]:.4g} {unit} of {dev.name!r}"
        )

    # ------------------------------------------------------------------ internals
    def _broadcast(self, name: str, v: float | NDArray) -> NDArray[np.float64]:
        a = np.asarray(v, dtype=np.float64)
        shp = (self.n_worlds, self.n_devices)
        try:
            out = np.broadcast_to(a if a.ndim != 1 else a[:, None], shp).copy()
        except ValueError:
            raise ValueError(f"`{name}` must broadcast to {shp}, got shape {a.shape}") from None
        if not np.isfinite(out).all():
            raise ValueError(f"`{name}` must be finite, got {v!r}")
        return out

    def _subset(self, state: RodState, mask: NDArray[np.bool_]) -> RodState:
        return RodState(**{f.name: getattr(state, f.name)[mask] for f in fields(state)})

    def _scatter(self, state: RodState, sub: RodState, mask: NDArray[np.bool_]) -> None:
        for f in fields(state):
            getattr(state, f.name)[mask] = getattr(sub, f.name)

    def _advance(self, st: RodState, cmd: NDArray, dt: float, ext: NDArray | None) -> RodState:
        """Run the kernels on ``st`` in place (B' worlds) and refresh the derived fields."""
        bw, n, d = st.positions.shape[0], self.n_nodes, self.n_devices
        xs = np.ascontiguousarray(st.positions)
        th = np.ascontiguousarray(st.twist)
        lin = np.ascontiguousarray(st.inserted_length)
        phi = np.ascontiguousarray(st.rotation)
        cf = np.ascontiguousarray(st.contact_force)
        fp = np.ascontiguousarray(st.proximal_force)
        fe = np.zeros((bw, d, n, 3)) if ext is None else np.ascontiguousarray(ext)
        tp = np.zeros((bw, d))
        nfirst = np.zeros((bw, d), np.int64)
        pr = self._stacked
        with _serial_kernels(self.backend == "numba" and bw == 1):
            self._k.rod_step_batch(
                xs, th, lin, phi, cf,
                np.ascontiguousarray(cmd[:, :, 0]), np.ascontiguousarray(cmd[:, :, 1]),
                fe, dt, self.substeps, self.newton_iterations, self.max_iterations,
                self.force_tolerance, self.max_inserted_length,
                self.max_proximal_force, pr["ei"], pr["gj"], pr["ks"], pr["kap"], pr["rad"],
                pr["drag"], self.friction, self.contact_stiffness, self.ride_stiffness,
                self.node_spacing, self._a0,
                self._d0, self._u0, self._sdf_v, self._sdf_o, self.sdf.spacing,
                self.sdf.outside_value, fp, tp, nfirst,
            )  # fmt: skip
        st.positions, st.twist, st.inserted_length, st.rotation = xs, th, lin, phi
        # the grip transmits at most ±max_proximal_force: beyond it the device slips in the
        # operator's hand (the feed stops), so that is the force the operator feels
        np.clip(fp, -self.max_proximal_force, self.max_proximal_force, out=fp)
        st.contact_force, st.proximal_force, st.proximal_torque = cf, fp, tp
        # inserted = beyond the access point (a wire inside the catheter counts as inserted)
        sigma = np.arange(n)[None, None, :] * self.node_spacing - ((n - 1) * self.node_spacing
                                                                 - lin[:, :, None])  # fmt: skip
        st.node_mask = sigma > 1e-9
        e = np.diff(st.positions, axis=2)
        e /= np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
        st.tangents[:, :, 0] = e[:, :, 0]
        st.tangents[:, :, -1] = e[:, :, -1]
        mid = e[:, :, 1:] + e[:, :, :-1]
        st.tangents[:, :, 1:-1] = mid / np.maximum(
            np.linalg.norm(mid, axis=-1, keepdims=True), 1e-12
        )
        st.tip_position[:] = st.positions[:, :, -1]
        st.tip_direction[:] = e[:, :, -1]
        return st
