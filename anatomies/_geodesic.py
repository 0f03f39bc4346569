"""Distances measured along the vessel tree (mm): how far a device tip still has to go.

The tree's centerline points form a graph (consecutive points joined; each child's first point
joined to its parent point). A point in space is located on its nearest centerline point, and the
remaining distance is the graph (geodesic) distance from there to the target, plus nothing for
the off-centerline offset. This is what the reward's progress term and the path-efficiency metric
measure; it never rewards cutting through a wall, because the graph has no such edge.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from ._vessel_tree import VesselTree

__all__ = ["TreeGeodesic"]


class TreeGeodesic:
    """Geodesic distance (mm) along the centerlines of ``tree`` to a fixed ``target`` point.

    Parameters
    ----------
    tree : VesselTree
        Centerlines in LPS mm.
    target : ndarray, shape (3,)
        Target point (LPS mm); it is snapped to the nearest centerline point.

    Examples
    --------
    >>> import numpy as np
    >>> from igtwin.anatomies import VesselBranch, VesselTree
    >>> z = np.linspace(0, 100, 101)
    >>> trunk = VesselBranch("aorta", np.c_[0 * z, 0 * z, z], np.full(101, 5.0))
    >>> geo = TreeGeodesic(VesselTree([trunk]), np.array([0.0, 0.0, 100.0]))
    >>> round(float(geo.distance(np.array([[1.0, 0.0, 40.0]]))[0]), 3)
    60.0
    """

    def __init__(self, tree: VesselTree, target: NDArray[np.floating]) -> None:
        pts, offsets, names = [], {}, []
        n = 0
        for b in tree:
            offsets[b.name] = n
            pts.append(b.points)
            names += [b.name] * len(b.points)
            n += len(b.points)
        self.points = np.concatenate(pts)
        #: branch name of each centerline point (graph node)
        self.node_branch = np.array(names)
        rows, cols = [], []
        for b in tree:
            o = offsets[b.name]
            k = np.arange(len(b.points) - 1) + o
            rows.append(k)
            cols.append(k + 1)
            if b.parent is not None:
                rows.append(np.array([offsets[b.parent] + b.parent_index]))
                cols.append(np.array([o]))
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        w = np.linalg.norm(self.points[r] - self.points[c], axis=1) + 1e-9
        graph = coo_matrix((w, (r, c)), shape=(n, n)).tocsr()
        self._kdtree = cKDTree(self.points)
        target = np.asarray(target, dtype=np.float64).reshape(3)
        self.target_index = int(self._kdtree.query(target)[1])
        self.target = self.points[self.target_index]
        self.node_distance = dijkstra(graph, directed=False, indices=self.target_index)

    def nearest(self, points: NDArray[np.floating]) -> NDArray[np.int64]:
        """Index of the nearest centerline point for each of (..., 3) points."""
        return self._kdtree.query(np.asarray(points, dtype=np.float64))[1]

    def branch(self, points: NDArray[np.floating]) -> NDArray[np.str_]:
        """Name of the branch nearest to each of (..., 3) points."""
        return self.node_branch[self.nearest(points)]

    def distance(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """Geodesic distance (mm) to the target from each of (..., 3) points (LPS mm)."""
        return self.node_distance[self.nearest(points)]
