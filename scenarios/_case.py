"""From a scenario to a concrete case: anatomy, devices, insertion path, target, geodesic.

Frame: patient LPS, mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from igtwin.anatomies import Anatomy, VesselPath, VesselTree
from igtwin.anatomies._geodesic import TreeGeodesic

from ._config import ACCESS_SITES, Scenario, ScenarioError

__all__ = ["Case", "build_case", "load_case_anatomy"]


@dataclass(frozen=True)
class Case:
    """A scenario made concrete.

    Attributes
    ----------
    anatomy : Anatomy
    devices : list of DeviceSpec
        Outer device first (catheter), then the inner wire.
    insertion : VesselPath
        Path of the access branch from the access site (where devices enter): the aorta for
        femoral access, the subclavian artery run backwards for radial access.
    target : ndarray (3,)
        Target point (LPS mm).
    target_path : VesselPath
        Centerline path from the access site to the target (for the expert and SPL).
    geodesic : TreeGeodesic
        Distance along the vessel tree to the target (mm).
    tree : VesselTree
        The vessel tree rooted at the access site (``anatomy.vessel_tree`` itself for femoral
        access; :meth:`VesselTree.rerooted` for radial access): every branch runs away from the
        access, as the devices travel. Branch names are the anatomy's.
    """

    anatomy: Anatomy
    devices: list
    insertion: VesselPath
    target: NDArray[np.float64]
    target_path: VesselPath
    geodesic: TreeGeodesic
    tree: VesselTree

    @property
    def max_inserted_mm(self) -> float:
        """Longest inserted length the physics needs (mm): the target path plus 60 mm."""
        return float(self.target_path.length + 60.0)


@lru_cache(maxsize=16)
def _procedural(kind: str, arch_type: str, seed: int, with_ct: bool) -> Anatomy:
    from igtwin.anatomies import generate

    return generate(kind, seed=seed, arch_type=arch_type, with_ct=with_ct)


@lru_cache(maxsize=8)
def _builtin(name: str) -> Anatomy:
    from igtwin.anatomies import load_builtin

    return load_builtin(name)


def load_case_anatomy(
    scenario: Scenario,
    rng: np.random.Generator | None = None,
    *,
    held_out: bool = False,
    with_ct: bool = True,
) -> Anatomy:
    """The scenario's anatomy; procedural ones draw a type and a seed from ``rng``.

    ``held_out=True`` draws from the scenario's held-out seeds (evaluation) instead of the
    training range. ``with_ct=False`` skips the synthetic CT of procedural anatomies (seconds per
    anatomy) when no image will be rendered.
    """
    a = scenario.anatomy
    if a.builtin:
        return _builtin(a.builtin)
    if a.path:
        return Anatomy.load(a.path)
    rng = rng if rng is not None else np.random.default_rng(0)
    arch_type = str(rng.choice(list(a.types)))
    if held_out:
        if not a.held_out_seeds:
            raise ScenarioError(f"{scenario.source}: no held_out_seeds to evaluate on")
        seed = int(rng.choice(list(a.held_out_seeds)))
    else:
        seed = int(rng.integers(a.seeds[0], a.seeds[1]))
    return _procedural(a.procedural, arch_type, seed, with_ct)


def _target_point(scenario: Scenario, anatomy: Anatomy) -> NDArray[np.float64]:
    t = scenario.target
    if t.point is not None:
        if t.point not in anatomy.targets:
            raise ScenarioError(
                f"{scenario.source}: target point {t.point!r} not in anatomy "
                f"{anatomy.name!r}; it has {sorted(anatomy.targets)}"
            )
        return np.asarray(anatomy.targets[t.point], dtype=np.float64)
    branch = anatomy.vessel_tree[t.branch]
    seg = np.linalg.norm(np.diff(branch.points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    depth = min(t.depth_mm, s[-1])
    return np.array([np.interp(depth, s, branch.points[:, d]) for d in range(3)])


def build_case(scenario: Scenario, anatomy: Anatomy) -> Case:
    """Resolve devices, insertion path, target and geodesic for ``anatomy``."""
    from igtwin.sim import get_device

    if anatomy.vessel_tree is None or anatomy.sdf is None:
        raise ScenarioError(
            f"{scenario.source}: anatomy {anatomy.name!r} has no vessel tree/lumen SDF; "
            "endovascular scenarios need one"
        )
    devices = [get_device(d.name) for d in scenario.devices]
    tree = _access_tree(scenario, anatomy)
    target = _target_point(scenario, anatomy)
    geodesic = TreeGeodesic(anatomy.vessel_tree, target)
    target_branch = scenario.target.branch or anatomy.vessel_tree.names[0]
    full = tree.path(target_branch)
    s_target, dist = full.project(target[None])
    if f"{target_branch}_distal" in tree.names and dist[0] > 1.0:
        full = tree.path(f"{target_branch}_distal")  # beyond the access route's junction
        s_target, _ = full.project(target[None])
    keep = full.arclength <= s_target[0] + 1e-6
    target_path = VesselPath(
        points=np.vstack([full.points[keep], target]),
        radii=np.concatenate([full.radii[keep], [full.radii[keep][-1]]]),
        branches=full.branches,
    )
    insertion = tree.path(tree.root)
    return Case(
        anatomy=anatomy,
        devices=devices,
        insertion=insertion,
        target=target,
        target_path=target_path,
        geodesic=geodesic,
        tree=tree,
    )


def _access_tree(scenario: Scenario, anatomy: Anatomy) -> VesselTree:
    """The anatomy's vessel tree rooted at the scenario's access site."""
    tree = anatomy.vessel_tree
    branch = ACCESS_SITES[scenario.start.access]
    if branch is None:
        return tree
    if branch not in tree.names:
        raise ScenarioError(
            f"{scenario.source}: [start].access {scenario.start.access!r} enters at the end of "
            f"{branch!r}, which anatomy {anatomy.name!r} does not have (it has {tree.names})"
        )
    rooted = tree.rerooted(branch)
    if scenario.start.inserted_mm >= rooted[rooted.root].length:
        raise ScenarioError(
            f"{scenario.source}: [start].inserted_mm {scenario.start.inserted_mm} mm must be "
            f"shorter than the access branch {branch!r} ({rooted[rooted.root].length:.0f} mm)"
        )
    return rooted
