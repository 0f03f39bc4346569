"""Steering: a scripted push-and-rotate controller brings an angled wire into each branch."""

import math

import numpy as np
import pytest
from test_rod_contact import arch_phantom

from igtwin.anatomies import VesselPath
from igtwin.sim import RodSimulator


def _point_at(path, s):
    return np.array([np.interp(s, path.arclength, path.points[:, a]) for a in range(3)])


def _inside(tree, name, tip):
    """Tip more than 5 mm down branch ``name`` and inside its lumen."""
    b = tree[name]
    s, d = VesselPath(b.points, b.radii, (name,)).project(tip[None])
    return s[0] > 5.0 and d[0] < float(b.radii.min())


def _past(aorta, tip, ost_aorta):
    """Tip in the aorta more than 10 mm beyond the target's ostium."""
    s, d = aorta.project(tip[None])
    r = float(np.interp(s[0], aorta.arclength, aorta.radii))
    return s[0] > ost_aorta + 10.0 and d[0] < r


def steer(sim, tree, target, *, max_steps=1500, dt=1 / 15, log=None):
    """Privileged controller: push along the path, rotate the tip toward the branch, retry.

    Far from the ostium the tip is turned to point along the path (so that it passes the other
    ostia); near it, toward a point 10 mm inside the target branch; a tip found outside the
    target path's lumen (another branch) is pulled back while rotating. Returns (success,
    steps used, final state).
    """
    path = tree.path(target).resample(1.0)
    branch = tree[target]
    ost = float(path.project(branch.points[:1])[0][0])  # arc length of the ostium (mm)
    r_branch = float(branch.radii.min())
    goal = _point_at(path, ost + 10.0)
    aorta = tree.path(tree.root)
    ost_aorta = float(aorta.project(branch.points[:1])[0][0])
    others = [b for b in tree.names if b not in (target, tree.root)]
    st = sim.initial_state(inserted_length=30.0)
    retract = 0
    spin = 0  # steps spent turning without finding the wanted side
    for k in range(max_steps):
        tip = st.tip_position[0, 0]
        tdir = st.tip_direction[0, 0]
        s, dist = path.project(tip[None])
        s, dist = float(s[0]), float(dist[0])
        if s > ost + 25.0 and dist < r_branch:
            return True, k, st
        if retract > 0:
            retract -= 1
            cmd = (-30.0, 2.0)
        elif any(_inside(tree, b, tip) for b in others) or _past(aorta, tip, ost_aorta):
            retract = 15  # in another branch or past the ostium: pull back, turning
            cmd = (-30.0, 2.0)
        elif s < ost - 45.0:
            cmd = (30.0, 0.0)
        else:
            # compare the tip's bend with the wanted side, both across the local vessel axis
            axis = _point_at(path, s + 1.0) - _point_at(path, s - 1.0)
            axis /= np.linalg.norm(axis)
            centre = _point_at(path, s)
            want = (_point_at(path, s + 15.0) if s < ost - 10.0 else goal) - centre
            # the tip's own bend: its direction relative to the wire ~6 mm behind the tip
            back = st.tangents[0, 0, -5]
            bend = tdir - (tdir @ back) * back
            bend -= (bend @ axis) * axis
            side = want - (want @ axis) * axis
            if np.linalg.norm(side) < 1.0:  # straight here: no side to prefer
                cos = 1.0
            else:
                cos = bend @ side / max(np.linalg.norm(bend) * np.linalg.norm(side), 1e-9)
            if cos > (0.5 if s < ost - 10.0 else 0.7) or spin > 60:
                cmd = (15.0, 0.0) if s < ost - 10.0 else (10.0, 0.0)
                spin = spin + 1 if spin > 60 and spin < 75 else 0  # a full turn failed: push
            else:
                spin += 1
                cmd = ((0.0 if s < ost - 4.0 else -5.0), 2.0)
        if log is not None:
            log.append(
                (
                    k,
                    round(s, 1),
                    round(dist, 2),
                    cmd,
                    round(float(st.inserted_length[0, 0]), 1),
                    spin,
                )
            )
        st = sim.step(st, np.array([[cmd]]), dt)
    return False, max_steps, st


_HARD = pytest.mark.xfail(
    reason="known gap: the scripted controller still drops the wire into the BCA ostium on "
    "its way to the more distal branches (the wire rides the outer wall of the arch)",
    strict=False,
)


@pytest.mark.parametrize(
    "target", ["BCA", pytest.param("LCCA", marks=_HARD), pytest.param("LSA", marks=_HARD)]
)
def test_angled_wire_reaches_each_branch(target):
    tree, sdf = arch_phantom()
    sim = RodSimulator(["guidewire_035_angled"], sdf, tree.path(target))
    ok, steps, st = steer(sim, tree, target, max_steps=900)
    assert ok, f"did not reach {target} in {steps} steps; tip at {st.tip_position[0, 0]}"
    assert sdf.sample(st.positions[st.node_mask]).max() <= 0.1
    assert math.isfinite(st.proximal_force[0, 0])


# Every built-in arch type (arch-I/II/III/bovine) x BCA/LCCA/LSA is steered at env level by the
# privileged expert in tests/agents/test_steering_arches.py (it follows the vessel tree and
# handles the ostia this phantom controller does not).
