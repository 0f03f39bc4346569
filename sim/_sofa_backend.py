"""Optional SOFA engine (SofaPython3 + BeamAdapter) behind the :class:`RodBackend` protocol.

SOFA is LGPL and not in the default install; it is imported lazily, only when
``RodSimulator(..., backend="sofa")`` is built. Build note: DESIGN.md, "Dependencies and
licences" (SOFA stays an optional extra, ``pip install igtwin[sofa]`` with a SOFA build that
ships the SofaPython3 and BeamAdapter plugins); docs/devices.md, "SOFA backend", says how to
make a build importable (``SOFA_ROOT``, ``PYTHONPATH``) and what is mapped.

One SOFA root node per world (stepped in a loop over the batch), in mm, s, N (so Young's
moduli in MPa = N/mm², mass density in t/mm³):

- ``FreeMotionAnimationLoop`` + ``GenericConstraintSolver`` (constraint forces stored), collision
  pipeline with ``LocalMinDistance`` and ``FrictionContactConstraint`` (Coulomb μ = ``friction``);
- the lumen wall: a triangle mesh extracted from the SDF (marching cubes at 0, LPS mm, normals
  toward the lumen), ``TriangleCollisionModel`` + ``LineCollisionModel``, static;
- each device: ``WireRestShape`` (two sections: the distal segment and the shaft; the distal
  section's rest shape is one uniform arc with the net turning angle of the DeviceSpec's tip
  curves over it) and its own ``WireBeamInterpolation`` + ``AdaptiveBeamForceFieldAndMass``;
- one combined instrument: ``EulerImplicitSolver`` + ``BTDLinearSolver``,
  ``InterventionalRadiologyController`` with every device's interpolation (a coaxial pair:
  catheter first, then the wire, as IGTwin's devices; stEVE's "DualDeviceNav"), ``xtip`` and
  ``rotationInstrument`` per device driven by its commands, clamp at the access
  (``FixedConstraint`` + ``RestShapeSpringsForceField``), ``MultiAdaptiveBeamMapping`` to
  collision points/lines with proximity = the outer device radius.

Per device, the beam nodes are resampled at the device's curvilinear abscissae (beam-node
abscissae from the interpolations' ``curvAbsList``) onto the same N nodes at ``node_spacing`` as
the numba engine (cubic Hermite between beam nodes, tangents from the node frames). A wire inside
the catheter shares the catheter's beam nodes. ``twist``: the beam frames' roll about the
tangent relative to numba's space-parallel frame, plus the device's rotation (BeamAdapter turns
each beam's rest frame by ``rotationInstrument``); ``proximal_torque``: G·J times the twist rate
over the first 10 mm beyond the access.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from ._rod import RodSimulator, RodState

__all__ = ["SofaRodBackend", "check_sofa", "lumen_mesh"]

_HINT = (
    "the 'sofa' rod backend needs SofaPython3 with the BeamAdapter plugin (the optional extra "
    "`igtwin[sofa]` and a SOFA build with BeamAdapter; see DESIGN.md, 'Dependencies and "
    "licences', and docs/devices.md, 'SOFA backend': set SOFA_ROOT and put "
    "<sofa build>/lib/python3/site-packages on PYTHONPATH); use backend='numba' (default) "
    "otherwise"
)

_PLUGINS = (
    "BeamAdapter",
    "Sofa.Component.AnimationLoop",
    "Sofa.Component.Collision.Detection.Algorithm",
    "Sofa.Component.Collision.Detection.Intersection",
    "Sofa.Component.Collision.Geometry",
    "Sofa.Component.Collision.Response.Contact",
    "Sofa.Component.Constraint.Lagrangian.Correction",
    "Sofa.Component.Constraint.Lagrangian.Solver",
    "Sofa.Component.Constraint.Projective",
    "Sofa.Component.IO.Mesh",
    "Sofa.Component.LinearSolver.Direct",
    "Sofa.Component.ODESolver.Backward",
    "Sofa.Component.SolidMechanics.Spring",
    "Sofa.Component.StateContainer",
    "Sofa.Component.Topology.Container.Constant",
    "Sofa.Component.Topology.Container.Dynamic",
    "Sofa.Component.Topology.Container.Grid",
)

_MASS_DENSITY = {  # t/mm³ (kg/m³ × 1e-12)
    "nitinol": 6.45e-9,
    "platinum": 21.45e-9,
    "stainless_steel": 8.0e-9,
    "catheter_polymer": 1.2e-9,
}


def check_sofa() -> None:
    """Import SofaPython3 and load BeamAdapter or raise :class:`SofaNotAvailableError` saying how."""
    from ._rod import SofaNotAvailableError

    try:
        import Sofa  # noqa: F401
        import Sofa.Core  # noqa: F401
        import Sofa.Simulation  # noqa: F401
    except ImportError as e:
        raise SofaNotAvailableError(f"SofaPython3 is not importable ({e}); {_HINT}") from e
    try:
        import SofaRuntime

        SofaRuntime.importPlugin("BeamAdapter")
    except Exception as e:  # plugin missing or SofaRuntime absent
        raise SofaNotAvailableError(f"BeamAdapter plugin not loadable ({e}); {_HINT}") from e


# ------------------------------------------------------------------------------ geometry helpers
def lumen_mesh(sdf, edge: float = 1.0) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Triangle mesh of the lumen wall: marching cubes of ``sdf.values`` at 0.

    Returns vertices (V, 3) LPS mm and triangles (T, 3) wound so that their normals
    ``(p1 - p0) × (p2 - p0)`` point into the lumen (toward decreasing SDF), as SOFA's
    ``LocalMinDistance`` filter expects for a device inside the surface. ``edge`` (mm) sets the
    marching-cubes step (a multiple of the grid spacing).
    """
    from skimage.measure import marching_cubes

    step = max(1, int(round(edge / sdf.spacing)))
    verts, faces, _, _ = marching_cubes(
        np.asarray(sdf.values, dtype=np.float32),
        level=0.0,
        spacing=(sdf.spacing,) * 3,
        step_size=step,
        allow_degenerate=False,
    )
    verts = verts.astype(np.float64) + np.asarray(sdf.origin, dtype=np.float64)
    faces = faces.astype(np.int64)
    p0, p1, p2 = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    n = np.cross(p1 - p0, p2 - p0)
    _, g = sdf.sample_with_gradient((p0 + p1 + p2) / 3.0)
    flip = np.einsum("ij,ij->i", n, g) > 0.0
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return verts, faces


def _quat_from_frame(x: NDArray, y: NDArray) -> list[float]:
    """Quaternion (qx, qy, qz, qw) of the rotation taking local x, y to ``x``, ``y``."""
    z = np.cross(x, y)
    r = np.stack([x, y, z], axis=1)
    tr = np.trace(r)
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = math.sqrt(1.0 + r[i, i] - r[j, j] - r[k, k]) * 2
        q = [0.0, 0.0, 0.0, (r[k, j] - r[j, k]) / s]
        q[i] = 0.25 * s
        q[j] = (r[j, i] + r[i, j]) / s
        q[k] = (r[k, i] + r[i, k]) / s
    return [float(v) for v in q]


def _hermite_curve(pos: NDArray, tan: NDArray, per: int = 8) -> tuple[NDArray, NDArray, NDArray]:
    """Dense samples of the cubic Hermite curve through beam nodes (proximal to distal).

    Returns the samples (M, 3), their cumulative arc length (M,) and the arc length at each
    input node (len(pos),). Zero-length segments (nodes stacked at the access) are skipped.
    """
    out = [pos[0]]
    node_s = np.zeros(len(pos))
    s_tot = 0.0
    u = np.linspace(0.0, 1.0, per + 1)[1:, None]
    h00, h10 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u
    h01, h11 = -2 * u**3 + 3 * u**2, u**3 - u**2
    svals = [0.0]
    for j in range(len(pos) - 1):
        c = float(np.linalg.norm(pos[j + 1] - pos[j]))
        if c < 1e-9:
            node_s[j + 1] = s_tot
            continue
        seg = h00 * pos[j] + h10 * c * tan[j] + h01 * pos[j + 1] + h11 * c * tan[j + 1]
        d = np.linalg.norm(np.diff(np.vstack([out[-1][None], seg]), axis=0), axis=1)
        cs = s_tot + np.cumsum(d)
        out.extend(seg)
        svals.extend(cs)
        s_tot = float(cs[-1])
        node_s[j + 1] = s_tot
    return np.asarray(out), np.asarray(svals), node_s


def _quat_axes(q: NDArray) -> tuple[NDArray, NDArray]:
    """Local x and z axes of SOFA quaternions (..., 4) = (qx, qy, qz, qw)."""
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    ex = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], -1)
    ez = np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], -1)
    return ex, ez


class _Device:
    """SOFA parameters of one instrument: two sections, rest arc, beam and collision sampling."""

    def __init__(self, spec, total: float, beam_tip: float, beam_shaft: float, coll: float):
        self.spec = spec
        # two sections: the distal region (tip segment, widened to hold every tip curve) and
        # the shaft; each gets the length-weighted harmonic mean of E·I over its span
        region = min(spec.segments[0].length, 0.5 * total)
        self.region = region
        self.straight = total - region
        # net rest turning angle over the distal section, as one uniform arc (the procedural
        # spire; v23.06's loader-defined shapes break the collision sampling)
        ss = np.linspace(0.0, region, 2001)
        kap = spec.rest_curvature_at(0.5 * (ss[1:] + ss[:-1]))[:, 0]
        self.tip_angle = float(np.sum(kap * np.diff(ss)))
        self.sign = 1.0 if self.tip_angle >= 0 else -1.0
        self.radius = r_out = 0.5 * spec.outer_diameter
        secs = []
        for a, b in ((0.0, region), (region, total)):
            s = np.linspace(a, b, 400)
            ei = spec.bending_stiffness_at(s)
            ei_h = 1.0 / np.mean(1.0 / ei)
            di = float(np.max(spec._per_segment("inner_diameter", s)))
            ri = float(0.5 * di)
            inertia = math.pi * (r_out**4 - ri**4) / 4.0
            nu = float(np.mean(spec._per_segment("poisson", s)))
            mats = spec.material_at(s[len(s) // 2])
            rho = _MASS_DENSITY.get(mats[0], 6.45e-9)
            secs.append(
                {"E": float(ei_h / inertia), "ri": ri, "nu": nu, "rho": rho, "EI": float(ei_h)}
            )
        self.sections = secs  # [distal, shaft]
        self.n_beams = [
            max(int(math.ceil(self.straight / beam_shaft)), 1),
            max(int(math.ceil(region / beam_tip)), 1),
        ]
        self.n_coll = [
            max(int(math.ceil(self.straight / coll)), 1),
            max(int(math.ceil(region / coll)), 1),
        ]
        self.offset = 0.0  # added to rotationInstrument (π: the spire bends the other way)


class _World:
    """The SOFA scene of one world and handles to the objects the adapter drives or reads."""

    def __init__(self, root, ctrl, dofs, coll, solver, interps, n_dev: int) -> None:
        self.root, self.ctrl, self.dofs, self.coll = root, ctrl, dofs, coll
        self.solver = solver
        self.interps = interps  # WireBeamInterpolation per device
        self.load: list | None = None  # external force on the beam nodes, (n_dofs, 6)
        self.xtip = [0.0] * n_dev
        self.rot = [0.0] * n_dev
        self.fprox = [0.0] * n_dev


class _Geom:
    """The combined beam of one world after a step: curve, beam-node abscissae and frames."""

    def __init__(self, backend: SofaRodBackend, wd: _World) -> None:
        q = np.array(wd.dofs.position.value, dtype=np.float64)
        ex, ez = _quat_axes(q[:, 3:7])
        self.curve, self.cs, node_s = _hermite_curve(q[:, :3], ex)
        # curvilinear abscissa (from the access) of every simulated beam node, from the beams
        # each instrument holds (edge e joins DOFs e and e+1; abscissae local to the instrument)
        nd = len(q)
        ab = np.full(nd, np.nan)
        for k, it in enumerate(wd.interps):
            e = np.asarray(it.edgeList.value, dtype=np.int64)
            if not len(e):
                continue
            ca = np.asarray(it.curvAbsList.value, dtype=np.float64).reshape(-1, 2)
            xb = max(wd.xtip[k], _XTIP_MIN) - backend.total
            ab[e] = ca[:, 0] + xb
            ab[e + 1] = ca[:, 1] + xb
        ok = np.flatnonzero(np.isfinite(ab))
        if len(ok) < 2:  # nothing simulated yet
            ok = np.array([nd - 1])
            ab[ok] = 0.0
        self.node_abs = ab[ok]
        self.node_s = node_s[ok]
        # each beam node's director that is numba's m1 at zero rotation: the pose maps local
        # -z to s0·u0 (s0: the sign of device 0's rest arc)
        self.a_axis = -backend.s0 * ez[ok]
        self.dof_idx = ok

    def arc(self, a: NDArray) -> NDArray:
        """Arc length along the curve (from the access) of curvilinear abscissae ``a``."""
        if len(self.node_abs) < 2:
            return np.zeros_like(a)
        return np.interp(a, self.node_abs, self.node_s)

    def abscissa(self, sa: NDArray) -> NDArray:
        """Curvilinear abscissa of arc lengths ``sa`` along the curve."""
        if len(self.node_abs) < 2:
            return np.zeros_like(sa)
        return np.interp(sa, self.node_s, self.node_abs)

    def points(self, sa: NDArray) -> NDArray:
        """Curve points (M, 3) at arc lengths ``sa``."""
        return np.stack([np.interp(sa, self.cs, self.curve[:, k]) for k in range(3)], 1)

    def director(self, sa: NDArray) -> NDArray:
        """Beam-frame director (M, 3) at arc lengths ``sa`` (linear between beam nodes)."""
        if len(self.node_s) < 2:
            return np.repeat(self.a_axis[:1], len(sa), 0)
        return np.stack([np.interp(sa, self.node_s, self.a_axis[:, k]) for k in range(3)], 1)


_XTIP_MIN = 1e-3  # SOFA keeps a strictly positive tip abscissa (a zero-length device has no beam)
_TORQUE_SPAN = 10.0  # mm of device beyond the access over which the proximal torque is measured
_LEAD = 3.0  # mm: on a reset, the device fed less stays this far behind the other one


class SofaRodBackend:
    """SOFA BeamAdapter engine for :class:`RodSimulator` (``backend="sofa"``).

    Parameters
    ----------
    sim : RodSimulator
        The front end: devices (one, or a coaxial ``[catheter, wire]`` pair), SDF, insertion
        path, batch size, node spacing and count, friction, grip limit.
    sofa_dt : float, default: 0.006
        Largest SOFA time step (s); a control step ``dt`` runs ``max(substeps,
        ceil(dt / sofa_dt))`` SOFA steps (stEVE uses 0.006 s).
    beam_length_tip, beam_length_shaft : float, default: 1.5, 3.0
        Beam element length (mm) in the distal section and in the shaft.
    collision_spacing : float, default: 2.0
        Spacing (mm) of the device's collision points.
    mesh_edge : float, default: 2.0
        Edge length (mm) of the lumen mesh (marching-cubes step).
    rayleigh_stiffness, rayleigh_mass : float, default: 0.0, 0.1
        Rayleigh damping of the implicit Euler solver (a stiffness term relaxes the beam toward
        equilibrium only by h / (h + β) per step, which lags the quasi-static numba engine).
    """

    name = "sofa"

    def __init__(
        self,
        sim: RodSimulator,
        *,
        sofa_dt: float = 0.006,
        beam_length_tip: float = 1.5,
        beam_length_shaft: float = 3.0,
        collision_spacing: float = 2.0,
        mesh_edge: float = 2.0,
        rayleigh_stiffness: float = 0.0,
        rayleigh_mass: float = 0.1,
    ) -> None:
        check_sofa()
        import Sofa.Core
        import Sofa.Simulation

        self._Sofa = Sofa
        self.sim = sim
        self.sofa_dt = float(sofa_dt)
        self.rayleigh_stiffness = float(rayleigh_stiffness)
        self.rayleigh_mass = float(rayleigh_mass)
        n, l = sim.n_nodes, sim.node_spacing
        self.total = (n - 1) * l  # simulated length of every device, as the numba engine
        self.devs = [
            _Device(spec, self.total, beam_length_tip, beam_length_shaft, collision_spacing)
            for spec in sim.devices
        ]
        # one pose for the controller: its local -z is s0·u0 (numba's ±m1 at zero rotation),
        # s0 the sign of device 0's rest arc; a device whose arc bends the other way gets π
        # added to its rotation (the spire bends toward local -z), local x along the access
        self.s0 = self.devs[0].sign
        for dv in self.devs:
            dv.offset = 0.0 if dv.sign == self.s0 else math.pi
        # one collision proximity for the combined beam: the outer (largest) radius
        self.radius = max(dv.radius for dv in self.devs)
        self._verts, self._tris = lumen_mesh(sim.sdf, mesh_edge)
        u = self.s0 * sim._u0
        self._pose = [*map(float, sim._a0), *_quat_from_frame(sim._d0, np.cross(sim._d0, u))]
        # twist/torque: the torsional stiffness of each output edge (numba's G·J per edge)
        self._gj = [np.asarray(p.gj, dtype=np.float64) for p in sim._params]
        self.worlds = [self._build(w) for w in range(sim.n_worlds)]

    # -------------------------------------------------------------------------- scene
    def _build(self, w: int) -> _World:
        Sofa = self._Sofa
        sim = self.sim
        root = Sofa.Core.Node(f"igtwin_world_{w}")
        root.gravity = [0.0, 0.0, 0.0]
        root.dt = self.sofa_dt
        root.addObject("RequiredPlugin", pluginName=list(_PLUGINS))
        root.addObject("FreeMotionAnimationLoop")
        solver = root.addObject(
            "GenericConstraintSolver",
            maxIterations=1000,
            tolerance=1e-6,
            computeConstraintForces=True,
        )
        root.addObject("CollisionPipeline", draw=False, depth=6, verbose=False)
        root.addObject("BruteForceBroadPhase")
        root.addObject("BVHNarrowPhase")
        root.addObject("LocalMinDistance", contactDistance=0.05, alarmDistance=1.0, angleCone=0.02)
        root.addObject(
            "DefaultContactManager",
            response="FrictionContactConstraint",
            responseParams=f"mu={sim.friction}",
        )
        # lumen wall
        wall = root.addChild("lumen")
        wall.addObject("MeshTopology", position=self._verts.tolist(), triangles=self._tris.tolist())
        wall.addObject("MechanicalObject", name="dofs", position=self._verts.tolist())
        wall.addObject("TriangleCollisionModel", moving=False, simulated=False)
        wall.addObject("LineCollisionModel", moving=False, simulated=False)
        # rest shape and topology of each device (outer catheter first, as IGTwin's devices)
        for k, dv in enumerate(self.devs):
            sec_tip, sec_shaft = dv.sections
            topo = root.addChild(f"rest{k}")
            ang = abs(dv.tip_angle)
            spire = 2.0 * dv.region / ang if ang > 1e-9 else 1e9
            topo.addObject(
                "WireRestShape",
                name="shape",
                template="Rigid3d",
                isAProceduralShape=True,
                spireDiameter=float(spire),
                spireHeight=0.0,
                straightLength=dv.straight,
                length=self.total,
                youngModulus=sec_shaft["E"],
                youngModulusExtremity=sec_tip["E"],
                radius=dv.radius,
                radiusExtremity=dv.radius,
                innerRadius=sec_shaft["ri"],
                innerRadiusExtremity=sec_tip["ri"],
                massDensity=sec_shaft["rho"],
                massDensityExtremity=sec_tip["rho"],
                poissonRatio=sec_shaft["nu"],
                keyPoints=[0.0, dv.straight, self.total],
                densityOfBeams=dv.n_beams,
                numEdgesCollis=dv.n_coll,
                numEdges=10,
            )
            topo.addObject("EdgeSetTopologyContainer", name="edges")
            topo.addObject("EdgeSetTopologyModifier")
            topo.addObject("EdgeSetGeometryAlgorithms", template="Rigid3d")
            topo.addObject("MechanicalObject", template="Rigid3d", name="dofs")
        # the combined instrument: one beam, every device's beams on it (stEVE's DualDeviceNav)
        ins = root.addChild("device")
        ins.addObject(
            "EulerImplicitSolver",
            rayleighStiffness=self.rayleigh_stiffness,
            rayleighMass=self.rayleigh_mass,
        )
        ins.addObject("BTDLinearSolver", verification=False, subpartSolve=False, verbose=False)
        nx = sum(sum(dv.n_beams) for dv in self.devs) + 2 * len(self.devs)
        ins.addObject(
            "RegularGridTopology", name="grid", nx=nx, ny=1, nz=1,
            xmin=0.0, xmax=1.0, ymin=0.0, ymax=0.0, zmin=1.0, zmax=1.0,
        )  # fmt: skip
        dofs = ins.addObject("MechanicalObject", name="DOFs", template="Rigid3d")
        interps = []
        for k, dv in enumerate(self.devs):
            interps.append(
                ins.addObject(
                    "WireBeamInterpolation", name=f"interp{k}",
                    WireRestShape=f"@../rest{k}/shape", radius=dv.radius,
                )
            )  # fmt: skip
            ins.addObject(
                "AdaptiveBeamForceFieldAndMass", name=f"ff{k}",
                massDensity=dv.sections[1]["rho"], interpolation=f"@interp{k}",
            )  # fmt: skip
        nd = len(self.devs)
        ctrl = ins.addObject(
            "InterventionalRadiologyController",
            name="ctrl",
            template="Rigid3d",
            instruments=[f"interp{k}" for k in range(nd)],
            startingPos=self._pose,
            xtip=[0.0] * nd,
            rotationInstrument=[dv.offset for dv in self.devs],
            speed=0.0,
            listening=True,
            controlledInstrument=0,
        )
        ins.addObject("LinearSolverConstraintCorrection", wire_optimization=True)
        ins.addObject("FixedConstraint", indices=[0])
        ins.addObject(
            "RestShapeSpringsForceField", points="@ctrl.indexFirstNode", stiffness=1e8,
            angularStiffness=1e8, external_points=[0], external_rest_shape="@DOFs",
        )  # fmt: skip
        col = ins.addChild("collision")
        col.addObject("EdgeSetTopologyContainer", name="edges")
        col.addObject("EdgeSetTopologyModifier")
        coll = col.addObject("MechanicalObject", name="points", template="Vec3d")
        col.addObject("MultiAdaptiveBeamMapping", controller="../ctrl", useCurvAbs=True)
        col.addObject("LineCollisionModel", proximity=self.radius)
        col.addObject("PointCollisionModel", proximity=self.radius)
        Sofa.Simulation.init(root)
        return _World(root, ctrl, dofs, coll, solver, interps, nd)

    # -------------------------------------------------------------------------- protocol
    def initial_state(self, inserted_length: NDArray, rotation: NDArray) -> RodState:
        """A fresh state; ``inserted_length`` (B, D) mm, ``rotation`` (B, D) rad."""
        from ._rod import RodState

        b, d, n = self.sim.n_worlds, self.sim.n_devices, self.sim.n_nodes
        st = RodState.zeros(b, d, n)
        self.reset(st, np.ones(b, bool), inserted_length, rotation)
        return st

    def reset(
        self,
        state: RodState,
        world_mask: NDArray,
        inserted_length: NDArray,
        rotation: NDArray | float = 0.0,
    ) -> None:
        """Re-initialise the masked worlds in place: the devices are pulled back to the access,
        set to ``rotation`` and fed to ``inserted_length`` together, each at its maximal speed
        (SOFA cannot be given a deployed shape directly; the feed lets it settle in the lumen)."""
        Sofa = self._Sofa
        b, nd = self.sim.n_worlds, self.sim.n_devices
        lin = np.broadcast_to(np.asarray(inserted_length, dtype=np.float64), (b, nd))
        rot = np.broadcast_to(np.asarray(rotation, dtype=np.float64), (b, nd))
        v = [dv.spec.max_translation_speed for dv in self.devs]
        for w in np.flatnonzero(np.asarray(world_mask, bool)):
            wd = self.worlds[w]
            Sofa.Simulation.reset(wd.root)
            wd.ctrl.indexFirstNode.value = 0
            wd.xtip = [0.0] * nd
            wd.rot = [float(r) for r in rot[w]]
            wd.fprox = [0.0] * nd
            target = [float(np.clip(x, 0.0, self.sim.max_inserted_length)) for x in lin[w]]
            self._set_controls(wd)
            # the device going further leads; the other follows _LEAD mm behind it until its
            # own target (two tips moving together at one abscissa upset the controller's
            # node re-interpolation: "Case 1 should never happen")
            lead = int(np.argmax(target))
            while any(wd.xtip[k] < target[k] - 1e-9 for k in range(nd)):
                for k in range(nd):
                    x = min(target[k], wd.xtip[k] + v[k] * self.sofa_dt)
                    if k != lead and target[k] < target[lead]:
                        x = min(x, max(wd.xtip[lead] - _LEAD, wd.xtip[k]))
                    wd.xtip[k] = x
                self._set_controls(wd)
                Sofa.Simulation.animate(wd.root, self.sofa_dt)
            for _ in range(5):  # settle
                Sofa.Simulation.animate(wd.root, self.sofa_dt)
            self._read(wd, state, w, None)

    def step(
        self, state: RodState, commands: NDArray, dt: float, external_force: NDArray | None
    ) -> RodState:
        """A new state after ``dt`` s under validated ``commands`` (B, D, 2) [mm/s, rad/s]."""
        Sofa = self._Sofa
        nsub = max(self.sim.substeps, int(math.ceil(dt / self.sofa_dt - 1e-9)))
        h = dt / nsub
        fmax = self.sim.max_proximal_force
        lmax = self.sim.max_inserted_length
        nd = self.sim.n_devices
        for w, wd in enumerate(self.worlds):
            ext = None if external_force is None else external_force[w]
            self._apply_load(wd, ext)
            v = [float(commands[w, k, 0]) for k in range(nd)]
            om = [float(commands[w, k, 1]) for k in range(nd)]
            for _ in range(nsub):  # the grip limit uses the push of the last control step
                for k in range(nd):
                    fp = wd.fprox[k]
                    jammed = (v[k] > 0 and fp > fmax) or (v[k] < 0 and fp < -fmax)
                    if not jammed:
                        wd.xtip[k] = float(np.clip(wd.xtip[k] + v[k] * h, 0.0, lmax))
                    wd.rot[k] += om[k] * h
                self._set_controls(wd)
                if wd.load is not None:
                    wd.dofs.externalForce.value = wd.load
                Sofa.Simulation.animate(wd.root, h)
            self._read(wd, state, w, ext)
        return state

    # -------------------------------------------------------------------------- internals
    def _set_controls(self, wd: _World) -> None:
        wd.ctrl.xtip.value = [max(x, _XTIP_MIN) for x in wd.xtip]
        wd.ctrl.rotationInstrument.value = [
            r + dv.offset for r, dv in zip(wd.rot, self.devs, strict=True)
        ]

    def _s_tip(self) -> NDArray:
        n, l = self.sim.n_nodes, self.sim.node_spacing
        return (n - 1 - np.arange(n)) * l  # arc length of each output node from its tip

    def _apply_load(self, wd: _World, ext: NDArray | None) -> None:
        nd = len(wd.dofs.position.value)
        f = np.zeros((nd, 6))
        if ext is not None and np.any(ext):
            geo = _Geom(self, wd)
            s_tip = self._s_tip()
            for k in range(len(self.devs)):
                a = wd.xtip[k] - s_tip  # abscissa of each node of device k
                for i in np.flatnonzero((a > 0.0) & np.any(ext[k] != 0.0, axis=1)):
                    j = int(np.argmin(np.abs(geo.node_abs - a[i])))
                    f[geo.dof_idx[j], :3] += ext[k, i]
        # MechanicalObject.externalForce: cleared by SOFA after every step, so set before each
        # (ConstantForceField in v23.06 respreads a force vector evenly over its indices)
        wd.load = f.tolist() if np.any(f) else None

    def _wall_forces(self, wd: _World) -> tuple[NDArray, NDArray]:
        """Constraint force (N) on each collision point and the points (P, 3)."""
        pts = np.array(wd.coll.position.value, dtype=np.float64)
        f = np.zeros_like(pts)
        lam = np.asarray(wd.solver.constraintForces.value, dtype=np.float64)
        txt = wd.coll.constraint.getValueString() if len(lam) else ""
        for line in txt.splitlines():
            tok = line.split()
            if len(tok) < 2:
                continue
            row, ncol = int(tok[0]), int(tok[1])
            if row >= len(lam) or lam[row] == 0.0:
                continue
            for c in range(ncol):
                j = int(tok[2 + 4 * c])
                vec = np.array([float(t) for t in tok[3 + 4 * c : 6 + 4 * c]])
                if j < len(f):
                    f[j] += lam[row] * vec
        return f, pts

    def _read(self, wd: _World, state: RodState, w: int, ext: NDArray | None) -> None:
        from ._rod_kernels import _frames

        sim = self.sim
        n, l = sim.n_nodes, sim.node_spacing
        a0, d0 = sim._a0, sim._d0
        nd = len(self.devs)
        geo = _Geom(self, wd)
        s_tip = self._s_tip()
        # wall forces on the collision points, their abscissa and the device they press on:
        # the outermost device there (the catheter up to its tip, the wire beyond it)
        f, pts = self._wall_forces(wd)
        has_f = len(pts) > 0 and bool(np.any(f))
        if has_f:
            j = np.argmin(((pts[:, None, :] - geo.curve[None, :, :]) ** 2).sum(-1), axis=1)
            p_abs = geo.abscissa(geo.cs[j])
            p_dev = np.zeros(len(pts), np.int64)
            if nd == 2:
                p_dev[p_abs > wd.xtip[0] + 1e-6] = 1
            _, g = sim.sdf.sample_with_gradient(pts)
            nrm = -g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
            fn = np.maximum(np.einsum("ij,ij->i", f, nrm), 0.0)
        for k in range(nd):
            lin = wd.xtip[k]
            a = lin - s_tip  # curvilinear abscissa of each output node (from the access)
            ins = a > 1e-9
            pos = a0 + np.minimum(a, 0.0)[:, None] * d0  # behind the access: on the line
            if ins.any():
                pos[ins] = geo.points(geo.arc(a[ins]))
            state.positions[w, k] = pos
            state.node_mask[w, k] = ins
            e = np.diff(pos, axis=0)
            e /= np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
            tg = state.tangents[w, k]
            tg[0], tg[-1] = e[0], e[-1]
            mid = e[1:] + e[:-1]
            tg[1:-1] = mid / np.maximum(np.linalg.norm(mid, axis=-1, keepdims=True), 1e-12)
            # twist: the beam frames' roll about the tangent relative to numba's space-parallel
            # frame (transported from u0 along the output edges), plus the instrument rotation
            # (BeamAdapter turns each beam's rest frame by rotationInstrument about its axis)
            tt = np.empty((n - 1, 3))
            uu = np.empty((n - 1, 3))
            _frames(np.ascontiguousarray(pos), np.zeros(n - 1), sim._u0, tt, uu,
                    np.empty((n - 1, 3)), np.empty((n - 1, 3)))  # fmt: skip
            a_mid = 0.5 * (a[1:] + a[:-1])
            on = a[1:] > 1e-9  # edges reaching beyond the access
            psi = np.zeros(n - 1)
            if on.any():
                dr = geo.director(geo.arc(np.maximum(a_mid[on], 0.0)))
                vv = np.cross(tt[on], uu[on])
                psi[on] = np.arctan2(
                    np.einsum("ij,ij->i", dr, vv), np.einsum("ij,ij->i", dr, uu[on])
                )
                psi = np.unwrap(psi)
            state.twist[w, k] = psi + wd.rot[k]
            state.inserted_length[w, k] = lin
            state.rotation[w, k] = wd.rot[k]
            # proximal torque: G·J times the twist rate over the first _TORQUE_SPAN mm beyond
            # the access (uniform along a shaft without wall torque; numba takes one edge)
            idx = np.flatnonzero(on)
            tq = 0.0
            if len(idx) >= 2:
                m = max(1, min(int(round(_TORQUE_SPAN / l)), len(idx) - 1))
                span = idx[: m + 1]
                compliance = float(np.sum(l / self._gj[k][span[1:]]))
                tq = -(psi[span[-1]] - psi[span[0]]) / compliance
            state.proximal_torque[w, k] = tq
            # wall normal force per node: constraint force on each collision point along the
            # wall normal (-∇sdf), summed on the device's node at the nearest abscissa
            cf = np.zeros(n)
            if has_f and ins.any():
                sel = p_dev == k
                i_node = np.rint(n - 1 - (lin - p_abs[sel]) / l).astype(np.int64)
                i_node = np.clip(i_node, int(np.argmax(ins)), n - 1)
                np.add.at(cf, i_node, fn[sel])
            state.contact_force[w, k] = cf
            state.tip_position[w, k] = pos[-1]
            state.tip_direction[w, k] = e[-1]
        # proximal force, quasi-static: the grips balance the wall and external loads along the
        # access direction; a wire leading out of the catheter carries the axial load on its
        # free part (frictionless in the catheter lumen: the axial force is the same all along),
        # the catheter the rest
        ftot = f.sum(axis=0) if len(pts) else np.zeros(3)
        if ext is not None:
            ftot = ftot + ext.sum(axis=(0, 1))
        total = float(-(ftot @ d0))
        if nd == 1:
            wd.fprox = [total]
        else:
            xc, xw = wd.xtip
            fw = 0.0
            if xw > xc + 1e-6:
                fb = f[p_abs > xc + 1e-6].sum(axis=0) if has_f else np.zeros(3)
                if ext is not None:
                    fb = fb + ext[1][(xw - s_tip) > xc].sum(axis=0)
                if xc > 1e-6:  # tangent of the combined beam at the catheter tip
                    sa = geo.arc(np.array([xc - 0.5, xc + 0.5]))
                    pp = geo.points(sa)
                    t = pp[1] - pp[0]
                    t /= max(float(np.linalg.norm(t)), 1e-12)
                else:
                    t = d0
                fw = float(-(fb @ t))
            wd.fprox = [total - fw, fw]
        state.proximal_force[w] = wd.fprox
