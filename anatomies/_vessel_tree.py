"""The vessel tree: named centerline branches with radii, and paths from the access site.

Frame: patient LPS, mm. Each branch runs from its proximal end (at its parent, or the access
site for the root) to its distal end. Branch names follow clinical use: ``aorta``, ``BCT``,
``RCCA``, ``RSA``, ``LCCA``, ``LSA``, ``LICA`` ...
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

__all__ = ["VesselBranch", "VesselPath", "VesselTree", "UnknownBranchError"]


class UnknownBranchError(KeyError):
    """A branch name that the tree does not contain."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True)
class VesselBranch:
    """One centerline branch.

    Attributes
    ----------
    name : str
        Clinical name, unique in the tree.
    points : ndarray, shape (N, 3)
        Centerline points (LPS mm), proximal to distal.
    radii : ndarray, shape (N,)
        Lumen radius (mm) at each point.
    parent : str or None
        Name of the parent branch; None for the root.
    parent_index : int
        Index of the point on the parent where this branch starts (0 for the root).
    """

    name: str
    points: NDArray[np.float64]
    radii: NDArray[np.float64]
    parent: str | None = None
    parent_index: int = 0

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        rad = np.asarray(self.radii, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 2:
            raise ValueError(f"branch {self.name!r}: `points` must be (N>=2, 3), got {pts.shape}")
        if rad.shape != (len(pts),):
            raise ValueError(
                f"branch {self.name!r}: `radii` must be ({len(pts)},), got {rad.shape}"
            )
        if not (np.isfinite(pts).all() and np.isfinite(rad).all() and (rad > 0).all()):
            raise ValueError(f"branch {self.name!r}: points/radii must be finite, radii > 0 mm")
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "radii", rad)

    @property
    def length(self) -> float:
        """Arc length (mm)."""
        return float(np.linalg.norm(np.diff(self.points, axis=0), axis=1).sum())


@dataclass(frozen=True)
class VesselPath:
    """An ordered centerline path from the access site to the end of a branch.

    Attributes
    ----------
    points : ndarray, shape (N, 3)
        LPS mm, from the access site (index 0) to the distal end.
    radii : ndarray, shape (N,)
        Lumen radius (mm).
    branches : tuple of str
        Names of the branches traversed, proximal first.
    arclength : ndarray, shape (N,)
        Cumulative length (mm) from the access site.
    """

    points: NDArray[np.float64]
    radii: NDArray[np.float64]
    branches: tuple[str, ...]
    arclength: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        seg = np.linalg.norm(np.diff(self.points, axis=0), axis=1)
        object.__setattr__(self, "arclength", np.concatenate([[0.0], np.cumsum(seg)]))

    @property
    def length(self) -> float:
        """Total length (mm)."""
        return float(self.arclength[-1])

    def resample(self, step: float) -> VesselPath:
        """The same path with points every ``step`` mm (ends kept)."""
        if step <= 0:
            raise ValueError(f"`step` must be > 0 mm, got {step}")
        s = np.linspace(0.0, self.length, max(int(np.ceil(self.length / step)) + 1, 2))
        pts = np.stack([np.interp(s, self.arclength, self.points[:, d]) for d in range(3)], 1)
        rad = np.interp(s, self.arclength, self.radii)
        return VesselPath(points=pts, radii=rad, branches=self.branches)

    def project(self, points: NDArray[np.floating]) -> tuple[NDArray, NDArray]:
        """Arc length (mm) of the closest path point and distance (mm) to it, for (M, 3) points."""
        p = np.atleast_2d(np.asarray(points, dtype=np.float64))
        a, b = self.points[:-1], self.points[1:]
        ab = b - a
        ab2 = np.maximum((ab * ab).sum(1), 1e-12)
        t = np.clip(np.einsum("msk,sk->ms", p[:, None, :] - a[None], ab) / ab2, 0, 1)
        closest = a[None] + t[..., None] * ab[None]
        d = np.linalg.norm(p[:, None, :] - closest, axis=-1)
        j = d.argmin(1)
        rows = np.arange(len(p))
        s = self.arclength[j] + t[rows, j] * np.sqrt(ab2[j])
        return s, d[rows, j]


class VesselTree:
    """A rooted tree of named centerline branches (LPS mm).

    Parameters
    ----------
    branches : sequence of VesselBranch
        Exactly one root (``parent is None``); every parent must be present.
    access : str, optional
        Name of the access site (a landmark name such as ``"femoral_right"``); informational.
    """

    def __init__(self, branches: list[VesselBranch], *, access: str = "root") -> None:
        self.branches: dict[str, VesselBranch] = {}
        for b in branches:
            if b.name in self.branches:
                raise ValueError(f"duplicate branch name {b.name!r}")
            self.branches[b.name] = b
        roots = [b.name for b in branches if b.parent is None]
        if len(roots) != 1:
            raise ValueError(f"a vessel tree needs exactly one root branch, got {roots}")
        self.root = roots[0]
        for b in branches:
            if b.parent is not None:
                if b.parent not in self.branches:
                    raise ValueError(f"branch {b.name!r} names unknown parent {b.parent!r}")
                n = len(self.branches[b.parent].points)
                if not 0 <= b.parent_index < n:
                    raise ValueError(
                        f"branch {b.name!r}: parent_index {b.parent_index} outside 0..{n - 1}"
                    )
        self.access = access

    def __repr__(self) -> str:
        return f"VesselTree(root={self.root!r}, branches={list(self.branches)})"

    def __getitem__(self, name: str) -> VesselBranch:
        return self.branches[self._check(name)]

    def __iter__(self):
        return iter(self.branches.values())

    def __len__(self) -> int:
        return len(self.branches)

    @property
    def names(self) -> list[str]:
        """Branch names, in insertion order."""
        return list(self.branches)

    def children(self, name: str) -> list[str]:
        """Names of the branches that leave ``name``."""
        self._check(name)
        return [b.name for b in self.branches.values() if b.parent == name]

    def leaves(self) -> list[str]:
        """Branches with no children (their distal ends are default targets)."""
        parents = {b.parent for b in self.branches.values()}
        return [n for n in self.branches if n not in parents]

    def lineage(self, name: str) -> list[str]:
        """Branch names from the root to ``name`` inclusive."""
        self._check(name)
        out = [name]
        while self.branches[out[-1]].parent is not None:
            out.append(self.branches[out[-1]].parent)  # type: ignore[arg-type]
        return out[::-1]

    def path(self, name: str) -> VesselPath:
        """Centerline path (points, radii) from the root's proximal end to the end of ``name``.

        Raises
        ------
        UnknownBranchError
            If ``name`` is not a branch; the message lists close matches.
        """
        chain = self.lineage(name)
        pts, rad = [], []
        for k, bname in enumerate(chain):
            b = self.branches[bname]
            stop = self.branches[chain[k + 1]].parent_index + 1 if k + 1 < len(chain) else None
            start = 1 if k > 0 else 0  # the child's first point continues from the parent's
            pts.append(b.points[start:stop] if k > 0 else b.points[:stop])
            rad.append(b.radii[start:stop] if k > 0 else b.radii[:stop])
        return VesselPath(
            points=np.concatenate(pts), radii=np.concatenate(rad), branches=tuple(chain)
        )

    def rerooted(self, access_branch: str) -> VesselTree:
        """The same vessels seen from an access at the distal end of ``access_branch``.

        A radial or brachial access enters the arterial tree at an arm artery and runs against
        the blood flow through the subclavian into the arch; this re-roots the tree there so
        that every branch again runs away from the access (proximal to distal for the device).
        On the way from the access to the old root each branch is reversed and keeps its name;
        the part of a branch beyond the junction that the way leaves it by (e.g. the ascending
        aorta beyond the brachiocephalic trunk) becomes ``"<name>_distal"``. Branches off the way
        keep their orientation. Points and radii are unchanged (LPS mm); only the order and the
        parent links change. ``tree.rerooted(tree.root)`` is the tree itself.

        Raises
        ------
        UnknownBranchError
            If ``access_branch`` is not a branch.
        """
        line = self.lineage(access_branch)
        if len(line) == 1:
            return self
        on_way = set(line)
        out: list[VesselBranch] = []
        attach: tuple[str | None, int] = (None, 0)  # where the current split point hangs
        for i in range(len(line) - 1, -1, -1):
            b = self.branches[line[i]]
            j = self.branches[line[i + 1]].parent_index if i + 1 < len(line) else len(b.points) - 1
            rev_name = fwd_name = None
            if j >= 1:
                rev_name = b.name
                parent, index = attach
                out.append(
                    VesselBranch(b.name, b.points[: j + 1][::-1], b.radii[: j + 1][::-1],
                                 parent, index)
                )  # fmt: skip
            if j <= len(b.points) - 2:
                fwd_name = f"{b.name}_distal"
                parent, index = attach if attach[0] is not None else (rev_name, 0)
                out.append(VesselBranch(fwd_name, b.points[j:], b.radii[j:], parent, index))
            for c in self.children(b.name):
                if c in on_way:
                    continue
                p = self.branches[c].parent_index
                if p < j:
                    parent, index = rev_name, j - p
                elif p > j:
                    parent, index = fwd_name, p - j
                else:
                    parent, index = attach if attach[0] is not None else (rev_name, 0)
                out.append(replace(self.branches[c], parent=parent, parent_index=index))
            if rev_name is not None:
                attach = (rev_name, j)
        done = {b.name for b in out}
        out += [b for b in self.branches.values() if b.name not in done and b.name not in on_way]
        return VesselTree(out, access=f"{access_branch} (distal end)")

    def _check(self, name: str) -> str:
        if name not in self.branches:
            close = difflib.get_close_matches(name, self.names, n=3, cutoff=0.4)
            hint = f" Did you mean {close}?" if close else ""
            raise UnknownBranchError(f"unknown branch {name!r}; the tree has {self.names}.{hint}")
        return name

    # --- serialisation (JSON; VMTK-style VTP export lives in the anatomy I/O module) ---
    def to_dict(self) -> dict:
        """JSON-ready dict (mm, LPS)."""
        return {
            "access": self.access,
            "branches": [
                {
                    "name": b.name,
                    "parent": b.parent,
                    "parent_index": b.parent_index,
                    "points": np.round(b.points, 4).tolist(),
                    "radii": np.round(b.radii, 4).tolist(),
                }
                for b in self.branches.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> VesselTree:
        """Inverse of :meth:`to_dict`."""
        try:
            branches = [
                VesselBranch(
                    name=d["name"],
                    points=np.asarray(d["points"]),
                    radii=np.asarray(d["radii"]),
                    parent=d.get("parent"),
                    parent_index=int(d.get("parent_index", 0)),
                )
                for d in data["branches"]
            ]
        except KeyError as e:
            raise ValueError(f"vessel tree JSON lacks key {e}") from e
        return cls(branches, access=data.get("access", "root"))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
