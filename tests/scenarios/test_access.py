"""Access sites: femoral (the tree's root) and right/left radial (the subclavian's distal end).

The radial tree is the anatomy's tree re-rooted at the access; the devices enter there and run
through the subclavian and the brachiocephalic trunk into the arch (LPS mm).
"""

import dataclasses

import numpy as np
import pytest

from igtwin.anatomies import VesselBranch, VesselTree, load_builtin
from igtwin.scenarios import InterventionEnv, ScenarioError, parse_scenario, resolve_scenario
from igtwin.scenarios._case import build_case


def _y_tree() -> VesselTree:
    """A root with a side branch (at index 3) that has its own child, and a distal branch."""
    line = lambda a, b, n: np.linspace(a, b, n)  # noqa: E731
    return VesselTree(
        [
            VesselBranch("root", line([0, 0, 0], [0, 0, 90], 10), np.full(10, 8.0)),
            VesselBranch("side", line([0, 0, 30], [40, 0, 60], 6), np.full(6, 4.0), "root", 3),
            VesselBranch("twig", line([40, 0, 60], [40, 0, 90], 4), np.full(4, 2.0), "side", 5),
            VesselBranch("near", line([0, 0, 10], [-30, 0, 10], 4), np.full(4, 3.0), "root", 1),
            VesselBranch("far", line([0, 0, 70], [-30, 0, 80], 4), np.full(4, 3.0), "root", 7),
        ]
    )


def test_rerooted_tree_keeps_every_vessel_and_reverses_the_way_in():
    tree = _y_tree()
    r = tree.rerooted("side")
    assert r.root == "side"
    assert set(r.names) == {"side", "root", "root_distal", "twig", "near", "far"}
    # the way from the access to the old root is reversed, nothing else moves
    np.testing.assert_array_equal(r["side"].points, tree["side"].points[::-1])
    np.testing.assert_array_equal(r["root"].points, tree["root"].points[:4][::-1])
    np.testing.assert_array_equal(r["root_distal"].points, tree["root"].points[3:])
    np.testing.assert_array_equal(r["twig"].points, tree["twig"].points)
    assert (r["root"].parent, r["root"].parent_index) == ("side", 5)
    assert (r["root_distal"].parent, r["root_distal"].parent_index) == ("side", 5)
    assert (r["twig"].parent, r["twig"].parent_index) == ("side", 0)  # at the access itself
    assert (r["near"].parent, r["near"].parent_index) == ("root", 2)
    assert (r["far"].parent, r["far"].parent_index) == ("root_distal", 4)
    total = lambda t: sum(b.length for b in t)  # noqa: E731
    assert total(r) == pytest.approx(total(tree), abs=1e-9)
    p = r.path("far")
    assert p.branches == ("side", "root_distal", "far")
    assert np.linalg.norm(np.diff(p.points, axis=0), axis=1).max() < 11.0  # contiguous
    assert tree.rerooted("root") is tree


def test_radial_case_enters_at_the_subclavian_and_reaches_the_lcca_through_the_trunk():
    sc = resolve_scenario("arch-lcca")
    sc = dataclasses.replace(sc, start=dataclasses.replace(sc.start, access="right-radial"))
    anatomy = load_builtin("arch-II")
    case = build_case(sc, anatomy)
    rsa = anatomy.vessel_tree["RSA"]
    np.testing.assert_allclose(case.insertion.points[0], rsa.points[-1])
    assert case.insertion.branches == ("RSA",)
    assert case.target_path.branches[:2] == ("RSA", "BCT")
    assert case.target_path.branches[-1] == "LCCA"
    np.testing.assert_allclose(case.target_path.points[-1], case.target)
    femoral = build_case(resolve_scenario("arch-lcca"), anatomy)
    assert femoral.tree is anatomy.vessel_tree
    np.testing.assert_allclose(femoral.target, case.target)  # same target, other way in


def test_wire_pushed_in_from_the_right_radial_access_stays_in_the_lumen_to_the_aorta():
    sc = resolve_scenario("arch-lcca")
    sc = dataclasses.replace(sc, start=dataclasses.replace(sc.start, access="right-radial"))
    env = InterventionEnv(sc, record=False)
    env.reset(seed=0)
    sdf = env.case.anatomy.sdf
    tree = env.case.tree
    for _ in range(120):  # 16 s at a quarter of the wire's top speed, no rotation
        env.step(np.array([0.25, 0.0], np.float32))
        rod = env.world.state.rod
        pts = rod.positions[0, -1][rod.node_mask[0, -1]]
        assert np.isfinite(pts).all()
        assert sdf.sample(pts).max() <= 0.1
    # the tip has left the subclavian: it lies in the trunk or beyond it (aorta or a carotid)
    tip = env.world.state.rod.tip_position[0, -1]
    near = {b.name: np.linalg.norm(b.points - tip, axis=1).min() for b in tree}
    assert min(near, key=near.get) != "RSA", near
    assert env.world.state.rod.inserted_length[0, -1] > tree["RSA"].length + 10.0


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ({"access": "right_radial"}, "did you mean 'right-radial'"),
        ({"access": "jugular"}, "[start].access 'jugular' is not one of"),
    ],
)
def test_unknown_access_site_is_rejected(start, message):
    data = {
        "scenario": {"name": "t"},
        "anatomy": {"builtin": "arch-II"},
        "devices": [{"name": "guidewire_035_angled"}],
        "start": start,
        "target": {"branch": "LCCA"},
    }
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(data, source="t.toml")


def test_radial_access_needs_the_subclavian_and_a_start_inside_it():
    sc = resolve_scenario("arch-lcca")
    anatomy = load_builtin("arch-II")
    deep = dataclasses.replace(sc.start, access="right-radial", inserted_mm=500.0)
    with pytest.raises(ScenarioError, match="shorter than the access branch 'RSA'"):
        build_case(dataclasses.replace(sc, start=deep), anatomy)
    tree = anatomy.vessel_tree
    no_rsa = VesselTree([b for b in tree if b.name not in ("RSA",)])
    bare = dataclasses.replace(anatomy, vessel_tree=no_rsa)
    radial = dataclasses.replace(sc.start, access="right-radial")
    with pytest.raises(ScenarioError, match="does not have"):
        build_case(dataclasses.replace(sc, start=radial), bare)


@pytest.mark.parametrize("arch", ["arch-I", "arch-II", "arch-III", "arch-bovine"])
@pytest.mark.parametrize("access", ["RSA", "LSA"])
def test_every_builtin_arch_reroots_at_either_subclavian(arch, access):
    """Every vessel kept (total length), every path from the access contiguous (< 2 mm steps)."""
    tree = load_builtin(arch).vessel_tree
    r = tree.rerooted(access)
    assert r.root == access
    assert sum(b.length for b in r) == pytest.approx(sum(b.length for b in tree), abs=1e-6)
    for leaf in r.leaves():
        p = r.path(leaf)
        assert p.branches[0] == access
        assert np.linalg.norm(np.diff(p.points, axis=0), axis=1).max() < 2.0, (arch, leaf)
