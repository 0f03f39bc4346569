"""Wall contact and friction of the rod in curved and branching tubes."""

import math

import numpy as np
import pytest

from igtwin.anatomies import VesselBranch, VesselTree, tube_sdf
from igtwin.sim import RodSimulator


def _curved_tube(radius=2.5, bend=math.pi):
    """Straight 60 mm, then an arc of radius 25 mm turning by ``bend``, then straight 80 mm."""
    th = np.linspace(0.0, bend, 40)
    a = np.stack([np.zeros(13), np.zeros(13), np.linspace(0, 60, 13)], 1)
    arc = np.stack([25 - 25 * np.cos(th), np.zeros(40), 60 + 25 * np.sin(th)], 1)
    t = np.array([math.sin(bend), 0.0, math.cos(bend)])
    b = arc[-1] + np.linspace(0, 80, 17)[:, None] * t
    pts = np.concatenate([a, arc[1:], b[1:]])
    tree = VesselTree([VesselBranch("tube", pts, np.full(len(pts), radius))])
    return tree, tube_sdf([pts], [np.full(len(pts), radius)], spacing=0.5)


def arch_phantom():
    """A three-branch arch-like tree: ascending aorta, 180° arch, descending; BCA, LCCA, LSA."""
    th = np.linspace(0, np.pi, 30)
    up = np.stack([np.zeros(20), np.zeros(20), np.linspace(0, 100, 20)], 1)
    arch = np.stack([30 - 30 * np.cos(th), np.zeros(30), 100 + 30 * np.sin(th)], 1)
    down = np.stack([np.full(12, 60.0), np.zeros(12), np.linspace(100, 40, 12)], 1)
    aorta = np.concatenate([up, arch[1:], down[1:]])
    branches = [VesselBranch("aorta", aorta, np.full(len(aorta), 8.0))]
    for name, i in (("BCA", 26), ("LCCA", 32), ("LSA", 38)):
        t = th[i - 19]  # leaves the arch at 45° between its tangent and its outer normal
        d = np.array([math.sin(t) - math.cos(t), 0.0, math.cos(t) + math.sin(t)]) / math.sqrt(2)
        p = aorta[i] + np.linspace(0, 60, 13)[:, None] * d
        branches.append(VesselBranch(name, p, np.full(13, 3.5), parent="aorta", parent_index=i))
    tree = VesselTree(branches)
    sdf = tube_sdf([b.points for b in tree], [b.radii for b in tree], spacing=0.5)
    return tree, sdf


def _mean_push_force(mu):
    tree, sdf = _curved_tube()
    sim = RodSimulator(["guidewire_035_straight"], sdf, tree.path("tube"), friction=mu)
    st = sim.initial_state(inserted_length=50.0)
    forces = []
    for k in range(150):  # 10 s at 10 mm/s: the wire runs through the 180° bend
        st = sim.step(st, np.array([[[10.0, 0.0]]]), 1 / 15)
        if k >= 75:
            forces.append(st.proximal_force[0, 0])
    return float(np.mean(forces)), st


def test_push_force_rises_with_friction_capstan():
    """Pushing through a 180° bend needs more proximal force with μ > 0 (capstan-like)."""
    f0, st0 = _mean_push_force(0.0)
    f3, st3 = _mean_push_force(0.3)
    assert np.isfinite([f0, f3]).all()
    assert f3 > f0 + 0.02, f"push force {f3:.3f} N with μ=0.3 vs {f0:.3f} N with μ=0"
    assert st3.contact_force.max() > 0  # the wire rides the outer wall of the bend


@pytest.mark.parametrize(
    "devices",
    [["guidewire_035_angled"], ["guidewire_014_j"], ["catheter_5fr_cobra", "guidewire_018_j"]],
)
def test_random_actions_stay_in_lumen(devices):
    """Random commands in a branching arch phantom: finite, inside (≤ 0.1 mm), bounded."""
    tree, sdf = arch_phantom()
    sim = RodSimulator(devices, sdf, tree.path("aorta"), n_worlds=4)
    st = sim.initial_state(inserted_length=40.0)
    rng = np.random.default_rng(0)
    lim = np.array([[d.max_translation_speed, d.max_rotation_speed] for d in sim.devices])
    for k in range(600):
        u = rng.uniform([-0.6, -1.0], [1.0, 1.0], size=(4, len(devices), 2)) * lim
        st = sim.step(st, u, 1 / 15)
        if k % 20 == 0 or k == 599:
            assert np.isfinite(st.positions).all()
            inside = sdf.sample(st.positions[st.node_mask])
            assert inside.max() <= 0.1, f"node {inside.max():.3f} mm outside the lumen"
            # bounded: no node far from the tree, forces finite
            assert np.abs(st.positions).max() < 1e3
            assert np.isfinite(st.contact_force).all() and np.isfinite(st.proximal_force).all()


def test_deterministic_for_a_seed():
    tree, sdf = arch_phantom()
    runs = []
    for _ in range(2):
        sim = RodSimulator(["guidewire_035_angled"], sdf, tree.path("LCCA"), n_worlds=2)
        st = sim.initial_state(inserted_length=30.0)
        rng = np.random.default_rng(42)
        for _ in range(100):
            st = sim.step(st, rng.uniform(-1, 1, (2, 1, 2)) * [40.0, 3.0], 1 / 15)
        runs.append(st)
    for name in ("positions", "twist", "contact_force", "proximal_force"):
        np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name))


@pytest.mark.slow
def test_soak_million_steps():
    """10⁶ random-action world-steps (B = 64) in the arch phantom: finite and inside."""
    tree, sdf = arch_phantom()
    b = 64
    sim = RodSimulator(["guidewire_035_angled"], sdf, tree.path("aorta"), n_worlds=b)
    st = sim.initial_state(inserted_length=40.0)
    rng = np.random.default_rng(7)
    lim = np.array([50.0, 2 * math.pi])
    for k in range(10**6 // b):
        st = sim.step(st, rng.uniform([-0.6, -1.0], [1.0, 1.0], size=(b, 1, 2)) * lim, 1 / 15)
        if k % 500 == 0:
            assert np.isfinite(st.positions).all()
            assert sdf.sample(st.positions[st.node_mask]).max() <= 0.1
            mid = 0.5 * (st.positions[..., 1:, :] + st.positions[..., :-1, :])
            m = st.node_mask[..., 1:] & st.node_mask[..., :-1]
            assert sdf.sample(mid[m]).max() <= 0.5  # no edge through a wall


@pytest.mark.slow
def test_soak_coaxial_pair_over_the_builtin_arches():
    """10⁵ random-action world-steps of a 5 Fr Berenstein + 0.035" wire pair (B = 64, each
    device its own commands, 1/7.5 s steps) over arch-I/II/III/bovine: finite, every node ≤ 0.1 mm
    outside, no edge through a wall (midpoint ≤ 0.5 mm outside), node forces < 1 kN.

    Measured on this rod: nodes ≥ 0.33 mm inside, edge midpoints ≤ 0.20 mm outside, node forces
    ≤ 167 N. Before the catheter rode over the wire and the wire's warm start faded out, the
    rigid warm start carried wire nodes through septa: 13.7 kN, and a node 25 mm outside.
    """
    from igtwin.anatomies import load_builtin

    for name in ("arch-I", "arch-II", "arch-III", "arch-bovine"):
        a = load_builtin(name)
        tree = a.vessel_tree
        sim = RodSimulator(["catheter_5fr_berenstein", "guidewire_035_angled"], a.sdf,
                           tree.path(tree.root), n_worlds=64)  # fmt: skip
        st = sim.initial_state(inserted_length=40.0)
        lim = np.array([[d.max_translation_speed, d.max_rotation_speed] for d in sim.devices])
        rng = np.random.default_rng(0)
        for _ in range(10**5 // 4 // 64):
            u = rng.uniform([-0.6, -1.0], [1.0, 1.0], size=(64, 2, 2)) * lim
            st = sim.step(st, u, 1 / 7.5)
            m = st.node_mask
            assert np.isfinite(st.positions).all()
            assert a.sdf.sample(st.positions[m]).max() <= 0.1
            mid = 0.5 * (st.positions[..., 1:, :] + st.positions[..., :-1, :])
            assert a.sdf.sample(mid[m[..., 1:] & m[..., :-1]]).max() <= 0.5, name
            assert st.contact_force.max() < 1000.0, name


def test_force_tolerance_converges_the_node_force_peaks():
    """Random full-range commands in arch-III (16 worlds, 300 steps of 1/7.5 s): a pushed, looped
    wire converges slowly (Gauss-Newton drops the compressive geometric stiffness), so its node
    force peaks are partly unconverged. Iterating until the force residual is < 0.5 N (up to 24
    iterations) lowers them. Measured: p99 46 -> 26 N, max 64 -> 36 N, at 2.4x the time."""
    from igtwin.anatomies import load_builtin

    a = load_builtin("arch-III")
    tree = a.vessel_tree
    p99 = []
    for kw in ({}, {"force_tolerance": 0.5, "max_iterations": 24}):
        sim = RodSimulator(["guidewire_035_angled"], a.sdf, tree.path(tree.root), n_worlds=16, **kw)
        st = sim.initial_state(inserted_length=40.0)
        lim = np.array([[d.max_translation_speed, d.max_rotation_speed] for d in sim.devices])
        rng = np.random.default_rng(0)
        peaks = []
        for _ in range(300):
            u = rng.uniform([-0.6, -1.0], [1.0, 1.0], size=(16, 1, 2)) * lim
            st = sim.step(st, u, 1 / 7.5)
            peaks.append(st.contact_force.max(axis=(1, 2)))
        p99.append(float(np.percentile(peaks, 99)))
    assert p99[1] < 0.7 * p99[0], f"p99 node force {p99[0]:.1f} -> {p99[1]:.1f} N"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"force_tolerance": -1.0}, "force_tolerance"),
        ({"force_tolerance": float("nan")}, "force_tolerance"),
        ({"max_iterations": 2}, "max_iterations"),
        ({"max_iterations": 4.5}, "max_iterations"),
    ],
)
def test_bad_iteration_settings_are_rejected(kw, message):
    tree, sdf = arch_phantom()
    with pytest.raises(ValueError, match=message):
        RodSimulator(["guidewire_035_angled"], sdf, tree.path("aorta"), **kw)


def test_coaxial_wire_inside_catheter_then_leading():
    """[catheter, wire]: the wire follows the catheter while inside it and leads beyond it."""
    tree, sdf = arch_phantom()
    sim = RodSimulator(["catheter_5fr_berenstein", "guidewire_035_angled"], sdf, tree.path("LCCA"))
    st = sim.initial_state(inserted_length=[[60.0, 40.0]])
    for _ in range(30):  # both advance, the catheter ahead: the wire stays inside
        st = sim.step(st, np.array([[[10.0, 0.0], [10.0, 1.0]]]), 1 / 15)
    cat, wire = st.positions[0, 0], st.positions[0, 1]
    # every inserted wire node lies on the catheter centreline
    w = wire[st.node_mask[0, 1]]
    seg_d = np.min(np.linalg.norm(w[:, None, :] - cat[None, st.node_mask[0, 0]], axis=-1), 1)
    assert seg_d.max() < 0.8  # ≤ half a node spacing from the nearest catheter node
    for _ in range(45):  # the wire advances alone (up to 120 mm, capped by the simulated length)
        st = sim.step(st, np.array([[[0.0, 0.0], [40.0, 0.0]]]), 1 / 15)
    lead = st.inserted_length[0, 1] - st.inserted_length[0, 0]
    assert lead > 50.0
    assert np.linalg.norm(st.tip_position[0, 1] - st.tip_position[0, 0]) > 20.0
    assert sdf.sample(st.positions[st.node_mask]).max() <= 0.1
    assert np.isfinite(st.proximal_force).all()


def test_wire_inside_straightens_the_catheter_tip():
    """The combined section is stiffer: a 0.035" wire up to the tip straightens a Berenstein."""
    pts = np.stack([np.zeros(41), np.zeros(41), np.linspace(0.0, 200.0, 41)], 1)
    tree = VesselTree([VesselBranch("tube", pts, np.full(41, 10.0))])
    sdf = tube_sdf([pts], [np.full(41, 10.0)], spacing=1.0)
    pair = ["catheter_5fr_berenstein", "guidewire_035_straight"]
    sim = RodSimulator(pair, sdf, tree.path("tube"), max_inserted_length=150.0)
    angles = []
    for wire_len in (20.0, 140.0):  # wire behind the curve / its stiffer part in the curve
        st = sim.initial_state(inserted_length=[[100.0, wire_len]])
        for _ in range(20):
            st = sim.step(st, np.zeros((1, 2, 2)), 1 / 15)
        angles.append(math.degrees(math.acos(np.clip(st.tip_direction[0, 0, 2], -1, 1))))
    assert angles[0] > 25.0, f"free Berenstein tip only {angles[0]:.1f}° off axis"
    assert angles[1] < 0.7 * angles[0], f"wire inside: {angles[1]:.1f}° vs {angles[0]:.1f}°"
