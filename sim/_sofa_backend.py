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
- the device: ``WireRestShape`` (two sections: the distal segment and the shaft; the distal
  section's rest shape is one uniform arc with the net turning angle of the DeviceSpec's tip
  curves over it), ``WireBeamInterpolation``,
  ``AdaptiveBeamForceFieldAndMass``, ``EulerImplicitSolver`` + ``BTDLinearSolver``,
  ``InterventionalRadiologyController`` (``xtip``/``rotationInstrument`` driven by the
  commands), clamp at the access (``FixedConstraint`` + ``RestShapeSpringsForceField``),
  ``MultiAdaptiveBeamMapping`` to collision points/lines with proximity = device radius.

The beam nodes are resampled along arc length from the tip onto the same N nodes at
``node_spacing`` as the numba engine (cubic Hermite between beam nodes, tangents from the node
frames). Not provided by this adapter: ``twist`` (zeros), ``proximal_torque`` (zeros); coaxial
pairs raise NotImplementedError.
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


def _quat_x_axis(q: NDArray) -> NDArray:
    """Local x axis of SOFA quaternions (..., 4) = (qx, qy, qz, qw)."""
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], -1)


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


class _World:
    """The SOFA scene of one world and handles to the objects the adapter drives or reads."""

    def __init__(self, root, ctrl, dofs, coll, solver) -> None:
        self.root, self.ctrl, self.dofs, self.coll = root, ctrl, dofs, coll
        self.solver = solver
        self.load: list | None = None  # external force on the beam nodes, (n_dofs, 6)
        self.xtip = 0.0
        self.rot = 0.0
        self.fprox = 0.0


class SofaRodBackend:
    """SOFA BeamAdapter engine for :class:`RodSimulator` (``backend="sofa"``).

    Parameters
    ----------
    sim : RodSimulator
        The front end: devices, SDF, insertion path, batch size, node spacing and count,
        friction, grip limit.
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
        if sim.n_devices != 1:
            raise NotImplementedError(
                "the SOFA backend simulates one device per world; a coaxial [catheter, wire] "
                "pair (several instruments on one InterventionalRadiologyController) is not "
                "implemented yet; use backend='numba' for pairs"
            )
        import Sofa.Core
        import Sofa.Simulation

        self._Sofa = Sofa
        self.sim = sim
        self.sofa_dt = float(sofa_dt)
        self.rayleigh_stiffness = float(rayleigh_stiffness)
        self.rayleigh_mass = float(rayleigh_mass)
        spec = sim.devices[0]
        self.spec = spec
        n, l = sim.n_nodes, sim.node_spacing
        self.total = (n - 1) * l  # simulated length, as the numba engine
        # two sections: the distal region (tip segment, widened to hold every tip curve) and
        # the shaft; each gets the length-weighted harmonic mean of E·I over its span
        region = min(spec.segments[0].length, 0.5 * self.total)
        self.region = region
        self.straight = self.total - region
        # net rest turning angle over the distal section, as one uniform arc (the procedural
        # spire; v23.06's loader-defined shapes break the collision sampling)
        ss = np.linspace(0.0, region, 2001)
        kap = spec.rest_curvature_at(0.5 * (ss[1:] + ss[:-1]))[:, 0]
        self.tip_angle = float(np.sum(kap * np.diff(ss)))
        r_out = 0.5 * spec.outer_diameter
        self.radius = r_out
        secs = []
        for a, b in ((0.0, region), (region, self.total)):
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
            max(int(math.ceil(self.straight / beam_length_shaft)), 1),
            max(int(math.ceil(region / beam_length_tip)), 1),
        ]
        self.n_coll = [
            max(int(math.ceil(self.straight / collision_spacing)), 1),
            max(int(math.ceil(region / collision_spacing)), 1),
        ]
        self._verts, self._tris = lumen_mesh(sim.sdf, mesh_edge)
        # the spire bends toward local -z: map it to +u0 (numba's m1 at zero rotation), or to
        # -u0 for a negative angle; local x to the access direction
        u = sim._u0 if self.tip_angle >= 0 else -sim._u0
        self._pose = [*map(float, sim._a0), *_quat_from_frame(sim._d0, np.cross(sim._d0, u))]
        self.worlds = [self._build(w) for w in range(sim.n_worlds)]

    # -------------------------------------------------------------------------- scene
    def _build(self, w: int) -> _World:
        Sofa = self._Sofa
        sim, sec_tip, sec_shaft = self.sim, self.sections[0], self.sections[1]
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
        # device rest shape and topology
        topo = root.addChild("rest")
        ang = abs(self.tip_angle)
        spire = 2.0 * self.region / ang if ang > 1e-9 else 1e9
        topo.addObject(
            "WireRestShape",
            name="shape",
            template="Rigid3d",
            isAProceduralShape=True,
            spireDiameter=float(spire),
            spireHeight=0.0,
            straightLength=self.straight,
            length=self.total,
            youngModulus=sec_shaft["E"],
            youngModulusExtremity=sec_tip["E"],
            radius=self.radius,
            radiusExtremity=self.radius,
            innerRadius=sec_shaft["ri"],
            innerRadiusExtremity=sec_tip["ri"],
            massDensity=sec_shaft["rho"],
            massDensityExtremity=sec_tip["rho"],
            poissonRatio=sec_shaft["nu"],
            keyPoints=[0.0, self.straight, self.total],
            densityOfBeams=self.n_beams,
            numEdgesCollis=self.n_coll,
            numEdges=10,
        )
        topo.addObject("EdgeSetTopologyContainer", name="edges")
        topo.addObject("EdgeSetTopologyModifier")
        topo.addObject("EdgeSetGeometryAlgorithms", template="Rigid3d")
        topo.addObject("MechanicalObject", template="Rigid3d", name="dofs")
        # instrument
        ins = root.addChild("device")
        ins.addObject(
            "EulerImplicitSolver",
            rayleighStiffness=self.rayleigh_stiffness,
            rayleighMass=self.rayleigh_mass,
        )
        ins.addObject("BTDLinearSolver", verification=False, subpartSolve=False, verbose=False)
        nx = sum(self.n_beams) + 2
        ins.addObject(
            "RegularGridTopology", name="grid", nx=nx, ny=1, nz=1,
            xmin=0.0, xmax=1.0, ymin=0.0, ymax=0.0, zmin=1.0, zmax=1.0,
        )  # fmt: skip
        dofs = ins.addObject("MechanicalObject", name="DOFs", template="Rigid3d")
        ins.addObject(
            "WireBeamInterpolation", name="interp", WireRestShape="@../rest/shape",
            radius=self.radius,
        )  # fmt: skip
        ins.addObject(
            "AdaptiveBeamForceFieldAndMass", name="ff", massDensity=sec_shaft["rho"],
            interpolation="@interp",
        )  # fmt: skip
        ctrl = ins.addObject(
            "InterventionalRadiologyController",
            name="ctrl",
            template="Rigid3d",
            instruments=["interp"],
            startingPos=self._pose,
            xtip=[0.0],
            rotationInstrument=[0.0],
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
        return _World(root, ctrl, dofs, coll, solver)

    # -------------------------------------------------------------------------- protocol
    def initial_state(self, inserted_length: NDArray, rotation: NDArray) -> RodState:
        """A fresh state; ``inserted_length`` (B, D) mm, ``rotation`` (B, D) rad."""
        from ._rod import RodState

        b, n = self.sim.n_worlds, self.sim.n_nodes
        st = RodState(
            positions=np.zeros((b, 1, n, 3)),
            node_mask=np.zeros((b, 1, n), bool),
            tangents=np.zeros((b, 1, n, 3)),
            twist=np.zeros((b, 1, n - 1)),
            inserted_length=np.zeros((b, 1)),
            rotation=np.zeros((b, 1)),
            contact_force=np.zeros((b, 1, n)),
            proximal_force=np.zeros((b, 1)),
            proximal_torque=np.zeros((b, 1)),
            tip_position=np.zeros((b, 1, 3)),
            tip_direction=np.zeros((b, 1, 3)),
        )
        self.reset(st, np.ones(b, bool), inserted_length, rotation)
        return st

    def reset(
        self,
        state: RodState,
        world_mask: NDArray,
        inserted_length: NDArray,
        rotation: NDArray | float = 0.0,
    ) -> None:
        """Re-initialise the masked worlds in place: the device is pulled back to the access,
        set to ``rotation`` and fed to ``inserted_length`` at its maximal speed (SOFA cannot
        be given a deployed shape directly; the feed lets it settle in the lumen)."""
        Sofa = self._Sofa
        b = self.sim.n_worlds
        lin = np.broadcast_to(np.asarray(inserted_length, dtype=np.float64), (b, 1))
        rot = np.broadcast_to(np.asarray(rotation, dtype=np.float64), (b, 1))
        v = self.spec.max_translation_speed
        for w in np.flatnonzero(np.asarray(world_mask, bool)):
            wd = self.worlds[w]
            Sofa.Simulation.reset(wd.root)
            wd.ctrl.indexFirstNode.value = 0
            wd.xtip, wd.rot, wd.fprox = 0.0, float(rot[w, 0]), 0.0
            target = float(np.clip(lin[w, 0], 0.0, self.sim.max_inserted_length))
            self._set_controls(wd)
            while wd.xtip < target - 1e-9:
                wd.xtip = min(target, wd.xtip + v * self.sofa_dt)
                self._set_controls(wd)
                Sofa.Simulation.animate(wd.root, self.sofa_dt)
            for _ in range(5):  # settle
                Sofa.Simulation.animate(wd.root, self.sofa_dt)
            self._read(wd, state, w, None)

    def step(
        self, state: RodState, commands: NDArray, dt: float, external_force: NDArray | None
    ) -> RodState:
        """A new state after ``dt`` s under validated ``commands`` (B, 1, 2) [mm/s, rad/s]."""
        Sofa = self._Sofa
        nsub = max(self.sim.substeps, int(math.ceil(dt / self.sofa_dt - 1e-9)))
        h = dt / nsub
        fmax = self.sim.max_proximal_force
        for w, wd in enumerate(self.worlds):
            ext = None if external_force is None else external_force[w, 0]
            self._apply_load(wd, state, w, ext)
            v, om = float(commands[w, 0, 0]), float(commands[w, 0, 1])
            for _ in range(nsub):  # the grip limit uses the push of the last control step
                jammed = (v > 0 and wd.fprox > fmax) or (v < 0 and wd.fprox < -fmax)
                if not jammed:
                    wd.xtip = float(np.clip(wd.xtip + v * h, 0.0, self.sim.max_inserted_length))
                wd.rot += om * h
                self._set_controls(wd)
                if wd.load is not None:
                    wd.dofs.externalForce.value = wd.load
                Sofa.Simulation.animate(wd.root, h)
            self._read(wd, state, w, ext)
        return state

    # -------------------------------------------------------------------------- internals
    def _set_controls(self, wd: _World) -> None:
        # SOFA keeps a strictly positive tip abscissa (a zero-length device has no beam)
        wd.ctrl.xtip.value = [max(wd.xtip, 1e-3)]
        wd.ctrl.rotationInstrument.value = [wd.rot]

    def _curve(self, wd: _World):
        q = np.array(wd.dofs.position.value, dtype=np.float64)
        return _hermite_curve(q[:, :3], _quat_x_axis(q[:, 3:7]))

    def _apply_load(self, wd: _World, state: RodState, w: int, ext: NDArray | None) -> None:
        nd = len(wd.dofs.position.value)
        f = np.zeros((nd, 6))
        if ext is not None and np.any(ext):
            _, _, node_s = self._curve(wd)
            s_tip_dof = node_s[-1] - node_s  # arc length of each beam node from the tip
            n, l = self.sim.n_nodes, self.sim.node_spacing
            s_nodes = (n - 1 - np.arange(n)) * l
            ins = s_nodes < wd.xtip
            for k in np.flatnonzero(ins & np.any(ext != 0.0, axis=1)):
                j = int(np.argmin(np.abs(s_tip_dof - s_nodes[k])))
                f[j, :3] += ext[k]
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

    def _proximal_force(self, wd: _World, ext: NDArray | None) -> None:
        f, _ = self._wall_forces(wd)
        tot = f.sum(axis=0)
        if ext is not None:
            tot = tot + ext.sum(axis=0)
        # quasi-static balance: the grip balances wall and external loads
        wd.fprox = float(-(tot @ self.sim._d0))

    def _read(self, wd: _World, state: RodState, w: int, ext: NDArray | None) -> None:
        sim = self.sim
        n, l = sim.n_nodes, sim.node_spacing
        a0, d0 = sim._a0, sim._d0
        curve, cs, _ = self._curve(wd)
        total = float(cs[-1])
        lin = wd.xtip
        s_tip = (n - 1 - np.arange(n)) * l  # arc length of each output node from the tip
        ins = s_tip < lin - 1e-9
        pos = a0 + (-(s_tip - lin))[:, None] * d0  # behind the access: held on the line
        if total > 1e-9 and ins.any():
            sa = np.clip(total - s_tip[ins], 0.0, total)  # arc length from the access
            pos[ins] = np.stack([np.interp(sa, cs, curve[:, a]) for a in range(3)], 1)
        st_pos = state.positions[w, 0]
        st_pos[:] = pos
        state.node_mask[w, 0] = ins
        e = np.diff(pos, axis=0)
        e /= np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
        tg = state.tangents[w, 0]
        tg[0], tg[-1] = e[0], e[-1]
        mid = e[1:] + e[:-1]
        tg[1:-1] = mid / np.maximum(np.linalg.norm(mid, axis=-1, keepdims=True), 1e-12)
        state.twist[w, 0] = 0.0
        state.inserted_length[w, 0] = lin
        state.rotation[w, 0] = wd.rot
        # wall normal force per node: constraint force on each collision point along the wall
        # normal (-∇sdf), summed on the nearest inserted node
        f, pts = self._wall_forces(wd)
        cf = np.zeros(n)
        if len(pts) and ins.any() and np.any(f):
            _, g = sim.sdf.sample_with_gradient(pts)
            gn = np.linalg.norm(g, axis=1, keepdims=True)
            nrm = -g / np.maximum(gn, 1e-12)
            fn = np.maximum(np.einsum("ij,ij->i", f, nrm), 0.0)
            idx = np.flatnonzero(ins)
            d2 = ((pts[:, None, :] - pos[idx][None, :, :]) ** 2).sum(-1)
            np.add.at(cf, idx[np.argmin(d2, axis=1)], fn)
        state.contact_force[w, 0] = cf
        self._proximal_force(wd, ext)
        state.proximal_force[w, 0] = wd.fprox
        state.proximal_torque[w, 0] = 0.0
        state.tip_position[w, 0] = pos[-1]
        state.tip_direction[w, 0] = e[-1]
