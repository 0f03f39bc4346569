"""Vessel centerlines from a lumen mask: skeleton -> graph -> pruned, named, smoothed tree.

Frame: patient LPS, mm. The mask lives on a voxel grid with a 4x4 affine (voxel index -> LPS mm).

Pipeline (:func:`extract_vessel_tree`)
--------------------------------------
1. Crop the mask to its bounding box; refuse a disconnected lumen (26-connectivity).
2. Inside distance ``d`` (mm): the Euclidean distance transform (voxel sizes as sampling),
   evaluated only at skeleton voxels and their neighbours (k-d tree over the background voxels
   touching the lumen; exact, and 20x faster than the full transform on a 0.5 mm arch). The lumen radius at a skeleton voxel is the largest ``d`` in its 3x3x3
   neighbourhood: thinning leaves the skeleton up to half a voxel off the true axis, where ``d``
   reads low by that much; the local maximum finds the axis again (measured on tube phantoms
   at 0.5 and 0.8 mm voxels: within +-0.2 voxel of the true radius, against -0.1 to -0.4 voxel
   for ``d`` at the skeleton voxel itself).
3. Skeleton by 3-D thinning (``skimage.morphology.skeletonize``, Lee et al. 1994) and its path
   graph by ``skan``; adjacent junction pixels are merged into one junction.
4. Spurs pruned: a terminal path shorter than ``prune`` x the radius at its junction (plus one
   voxel) is surface noise, not a vessel, and so is a thin one (mean radius under 0.6x the
   junction's) that reaches less than ``2 prune`` of its own radii beyond the parent's wall; pruning repeats until none is left; cycles from holes
   in the skeleton are cut at their thinnest path (a maximum spanning tree on mean radius).
5. Rooted at the access end (the terminal nearest ``seed``, else the lowest, smallest z), split
   into branches (the trunk continues through every junction into its thickest child; another
   branch goes on only where one child is over 1.5x wider than the next: a side branch leaves),
   smoothed (Gaussian along arc length) and resampled at ``step`` mm. Child radii inside the
   parent lumen (where the distance map sees the parent) are replaced by the child's own.
6. Named: ``names="arch"`` calls the trunk ``aorta`` and its children, from the heart end of the
   arch on, ``BCT``, ``LCCA``, ``LSA`` (two children: a bovine arch, ``BCT`` and ``LSA``); the
   BCT's children are ``RSA`` (ending further to the patient's right) and ``RCCA``; a common
   carotid divides into ``xICA`` (the wider) and ``xECA``; a subclavian's side branch is the
   vertebral ``xVA``. Other branches get ``<parent>_<k>``; ``names="generic"`` calls the trunk
   ``trunk``.

:func:`score_centerlines` compares an extracted tree with the ground truth.

References
----------
T.-C. Lee, R. L. Kashyap, C.-N. Chu (1994). Building skeleton models via 3-D medial surface/axis
thinning algorithms. CVGIP: Graphical Models and Image Processing 56(6):462-478.
J. Nunez-Iglesias et al. (2018). A new Python library to analyse skeleton images confirms malaria
parasite remodelling of the red blood cell membrane skeleton (skan). PeerJ 6:e4312.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ._vessel_tree import VesselBranch, VesselTree

__all__ = ["CenterlineError", "extract_vessel_tree", "score_centerlines"]

_NAME_MODES = ("auto", "arch", "generic")


class CenterlineError(ValueError):
    """The lumen mask cannot give a vessel tree (empty, disconnected, no skeleton ...)."""


# ---------------------------------------------------------------------------- extraction
def extract_vessel_tree(
    lumen_mask: NDArray,
    affine: NDArray,
    *,
    seed: NDArray | None = None,
    names: str = "auto",
    prune: float = 1.5,
    step: float = 1.0,
    smoothing: float = 2.0,
    keep_largest: bool = False,
    access: str = "root",
) -> VesselTree:
    """Extract the named centerline tree (LPS mm) of a binary lumen mask.

    Parameters
    ----------
    lumen_mask : ndarray of bool, shape (I, J, K)
        True inside the vessel lumen.
    affine : ndarray, shape (4, 4)
        Voxel index -> LPS mm. Axes should be orthogonal (voxel sizes from its columns).
    seed : ndarray (3,), optional
        LPS mm point near the access end; the skeleton end nearest to it becomes the root's
        first point. Default: the lowest end (smallest z, inferior).
    names : {"auto", "arch", "generic"}, default: "auto"
        Naming scheme (see module notes). "auto" is "arch" when the trunk has 2 to 4 children.
    prune : float, default: 1.5
        Terminal paths shorter than ``prune`` x local radius (+ one voxel) are removed as spurs.
    step : float, default: 1.0
        Output point spacing along each branch (mm).
    smoothing : float, default: 2.0
        Gaussian smoothing scale along the centerline (mm); 0 disables it.
    keep_largest : bool, default: False
        With a disconnected mask, keep the largest component instead of raising.
    access : str, default: "root"
        Stored as the tree's ``access`` name.

    Returns
    -------
    VesselTree
        Branches proximal -> distal from the access end; radii in mm.

    Raises
    ------
    CenterlineError
        Empty or disconnected mask, or nothing left after pruning.
    ValueError
        Bad ``names``, ``prune``, ``step`` or affine.
    """
    if names not in _NAME_MODES:
        raise ValueError(f"`names` must be one of {_NAME_MODES}, got {names!r}")
    if step <= 0 or prune < 0 or smoothing < 0:
        raise ValueError(
            f"`step` (> 0), `prune` (>= 0) and `smoothing` (>= 0) in mm, got {step}, {prune}, "
            f"{smoothing}"
        )
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        raise ValueError(f"`affine` must be a finite 4x4 matrix, got shape {affine.shape}")
    mask = np.asarray(lumen_mask).astype(bool)
    if mask.ndim != 3:
        raise ValueError(f"`lumen_mask` must be 3-D, got shape {mask.shape}")
    if not mask.any():
        raise CenterlineError("`lumen_mask` is empty: no lumen voxel")
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    h = float(spacing.mean())

    # 1. crop (+2 voxels so the thinning sees background all round) and connectivity
    nz = np.nonzero(mask)
    lo = np.maximum(np.array([a.min() for a in nz]) - 2, 0)
    hi = np.array([a.max() for a in nz]) + 3
    sub = np.zeros(tuple(hi - lo + 2), dtype=bool)
    crop = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    sub[1 : 1 + crop.shape[0], 1 : 1 + crop.shape[1], 1 : 1 + crop.shape[2]] = crop
    offset = lo - 1  # sub index + offset = mask index
    comp, ncomp = ndimage.label(sub, structure=np.ones((3, 3, 3), bool))
    if ncomp > 1:
        sizes = np.bincount(comp.ravel())[1:]
        if not keep_largest:
            vox_ml = float(np.prod(spacing)) / 1000.0
            desc = ", ".join(f"{s * vox_ml:.2f} mL" for s in sorted(sizes, reverse=True)[:6])
            raise CenterlineError(
                f"the lumen is disconnected: {ncomp} separate parts ({desc}); a vessel tree "
                "needs one connected lumen (fill the gaps, or pass keep_largest=True)"
            )
        sub = comp == (int(np.argmax(sizes)) + 1)

    # 2. inside distance (mm) and 3. skeleton graph
    dist = _WallDistance(sub, spacing)
    from skimage.morphology import skeletonize

    skel = skeletonize(sub).astype(bool)
    axis_ijk = None
    if skel.sum() < 2:
        # Lee thinning can delete a whole unbranched tube whose cross-section has no centre
        # voxel (an even width, perfectly straight): follow its principal axis instead
        ijk = axis_ijk = _axis_polyline(sub, spacing, offset, np.array(mask.shape), dist)
        skel = np.zeros_like(sub)
        idx = np.clip(np.rint(ijk).astype(int), 0, np.array(sub.shape) - 1)
        skel[idx[:, 0], idx[:, 1], idx[:, 2]] = True
        skel &= sub
        if skel.sum() < 2:
            raise CenterlineError("the lumen is too small to skeletonise (under 2 voxels long)")
    graph = _skeleton_graph(skel, dist, spacing)
    _merge_junction_clusters(graph, max_len=2.5 * float(spacing.max()))
    _prune_spurs(graph, prune=prune, h=h)
    _break_cycles(graph)
    _prune_spurs(graph, prune=prune, h=h)
    if graph.number_of_edges() == 0:
        raise CenterlineError("nothing left of the skeleton after spur pruning")
    if axis_ijk is not None and graph.number_of_edges() == 1:  # keep the sub-voxel axis
        u, v, k = next(iter(graph.edges(keys=True)))
        graph.edges[u, v, k]["ijk"] = axis_ijk
        graph.nodes[u]["ijk"], graph.nodes[v]["ijk"] = axis_ijk[0], axis_ijk[-1]

    # 5. root, orientation, branches (in sub-voxel coordinates until the end)
    def to_mm(ijk: NDArray) -> NDArray:
        return (np.asarray(ijk, float) + offset) @ affine[:3, :3].T + affine[:3, 3]

    ends = [n for n in graph if graph.degree(n) == 1]
    if not ends:  # a single closed loop cannot be rooted
        raise CenterlineError("the skeleton has no end point (a closed loop?)")
    end_mm = np.array([to_mm(graph.nodes[n]["ijk"]) for n in ends])
    if seed is not None:
        s = np.asarray(seed, dtype=np.float64)
        if s.shape != (3,):
            raise ValueError(f"`seed` must be an LPS point (3,) in mm, got shape {s.shape}")
        root = ends[int(np.argmin(np.linalg.norm(end_mm - s, axis=1)))]
    else:
        root = ends[int(np.argmin(end_mm[:, 2]))]
    raw = _branches_from(graph, root, trunk_only_continues=(names != "generic"))

    # 4b. radii with the voxel correction; 5b. smooth, resample, mm
    built: list[dict] = []
    index = {}
    cover = _Coverage(skel, dist, spacing)
    for k, br in enumerate(raw):
        ijk = br["ijk"]
        if br["terminal"]:
            ijk = _extend_end(ijk, sub, dist, spacing, cover)
        if br["parent"] is None:
            ijk = _extend_end(ijk[::-1], sub, dist, spacing, cover)[::-1]
        rad = _sample_max3(dist, ijk)
        pts = to_mm(ijk)
        parent_pts = parent_rad = None
        if br["parent"] is not None:
            p = built[index[br["parent"]]]
            parent_pts, parent_rad = p["points"], p["radii"]
            j = int(np.argmin(np.linalg.norm(parent_pts - pts[0], axis=1)))
            br["parent_index"] = j
            pts = np.vstack([parent_pts[j], pts[1:]]) if len(pts) > 1 else pts
            rad = _own_radius(pts, rad, parent_pts, parent_rad)
        pts, rad = _smooth_resample(pts, np.maximum(rad, 0.5 * h), step, smoothing)
        if br["parent"] is not None:
            pts[0] = parent_pts[br["parent_index"]]
        built.append({"points": pts, "radii": rad, **br})
        index[k] = len(built) - 1

    tree_names = _name_branches(built, names)
    branches = [
        VesselBranch(
            name=tree_names[k],
            points=b["points"],
            radii=b["radii"],
            parent=None if b["parent"] is None else tree_names[b["parent"]],
            parent_index=0 if b["parent"] is None else int(b["parent_index"]),
        )
        for k, b in enumerate(built)
        if tree_names[k] != "_merged"
    ]
    return VesselTree(branches, access=access)


class _WallDistance:
    """Euclidean distance (mm) from voxel centres to the nearest background voxel centre.

    The same values as ``scipy.ndimage.distance_transform_edt(mask, sampling=spacing)``, but
    evaluated only where asked (skeleton voxels and their neighbours), by a k-d tree over the
    background voxels that touch the mask (26-neighbourhood): the nearest background voxel of
    an inside point always touches the mask (a step from it toward the point, one voxel per
    axis, would otherwise reach a nearer background voxel). On a 0.5 mm arch (10^8 voxels) this
    takes ~1 s instead of ~24 s for the full transform.
    """

    def __init__(self, mask: NDArray, spacing: NDArray) -> None:
        from scipy.spatial import cKDTree

        shell = ndimage.binary_dilation(mask, structure=np.ones((3, 3, 3), bool)) & ~mask
        self.mask = mask
        self.spacing = np.asarray(spacing, dtype=np.float64)
        self.tree = cKDTree(np.argwhere(shell) * self.spacing)
        self.shape = np.array(mask.shape)

    def __call__(self, idx: NDArray) -> NDArray:
        idx = np.clip(np.asarray(idx, dtype=np.int64), 0, self.shape - 1)
        flat = idx.reshape(-1, 3)
        out = np.zeros(len(flat))
        inside = self.mask[flat[:, 0], flat[:, 1], flat[:, 2]]
        if inside.any():
            out[inside] = self.tree.query(flat[inside] * self.spacing)[0]
        return out.reshape(idx.shape[:-1])


def _sample(dist: _WallDistance, ijk: NDArray) -> NDArray:
    return dist(np.rint(ijk).astype(np.int64))


_OFFSETS = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)


def _sample_max3(dist: _WallDistance, ijk: NDArray) -> NDArray:
    """Largest wall distance in the 3x3x3 neighbourhood of each (rounded) point."""
    idx = np.rint(ijk).astype(np.int64)[:, None, :] + _OFFSETS[None]
    return dist(idx).max(1)


def _skeleton_graph(skel: NDArray, dist: _WallDistance, spacing: NDArray) -> nx.MultiGraph:
    """Paths of the skeleton as a MultiGraph: nodes = path ends (junction/end pixels)."""
    from skan import Skeleton

    sk = Skeleton(skel, spacing=1)
    g = nx.MultiGraph()
    coords = sk.coordinates
    for i in range(sk.n_paths):
        pix = np.asarray(sk.path(i))
        ijk = coords[pix].astype(np.float64)
        u, v = int(pix[0]), int(pix[-1])
        for n in (u, v):
            if n not in g:
                g.add_node(
                    n, ijk=coords[n].astype(np.float64), r=float(_sample(dist, coords[[n]])[0])
                )
        length = float(np.linalg.norm(np.diff(ijk, axis=0) * spacing, axis=1).sum())
        g.add_edge(u, v, ijk=ijk, length=length, r=float(_sample(dist, ijk).mean()))
    return g


def _edge_from(g: nx.MultiGraph, u: int, v: int, key) -> NDArray:
    """Edge (u, v, key) polyline oriented from u."""
    d = g.edges[u, v, key]
    ijk = d["ijk"]
    if np.linalg.norm(ijk[0] - g.nodes[u]["ijk"]) <= np.linalg.norm(ijk[-1] - g.nodes[u]["ijk"]):
        return ijk
    return ijk[::-1]


def _merge_junction_clusters(g: nx.MultiGraph, *, max_len: float) -> None:
    """Contract short paths between two junctions (adjacent junction pixels) into one node."""
    changed = True
    while changed:
        changed = False
        for u, v, k, d in list(g.edges(keys=True, data=True)):
            if u != v and g.degree(u) > 2 and g.degree(v) > 2 and d["length"] <= max_len:
                g.remove_edge(u, v, k)
                for _, w, kk, dd in list(g.edges(v, keys=True, data=True)):
                    poly = _edge_from(g, v, w, kk)
                    g.remove_edge(v, w, kk)
                    poly = np.vstack([g.nodes[u]["ijk"], poly])
                    g.add_edge(u, w if w != v else u, ijk=poly, length=dd["length"], r=dd["r"])
                g.remove_node(v)
                changed = True
                break


def _join_degree_two(g: nx.MultiGraph) -> None:
    """Remove nodes of degree 2 by concatenating their two paths."""
    for n in list(g.nodes):
        if n in g and g.degree(n) == 2:
            es = list(g.edges(n, keys=True, data=True))
            if len(es) != 2 or any(w == n for _, w, _, _ in es):
                continue
            (_, a, ka, da), (_, b, kb, db) = es
            pa = _edge_from(g, n, a, ka)[::-1]  # a -> n
            pb = _edge_from(g, n, b, kb)  # n -> b
            poly = np.vstack([pa, pb[1:]])
            la, lb = da["length"], db["length"]
            r = (da["r"] * la + db["r"] * lb) / max(la + lb, 1e-9)
            g.remove_node(n)
            g.add_edge(a, b, ijk=poly, length=la + lb, r=r)


def _prune_spurs(g: nx.MultiGraph, *, prune: float, h: float) -> None:
    """Iteratively remove terminal paths shorter than prune x radius at their junction + h."""
    while True:
        _join_degree_two(g)
        cands = []
        for u, v, k, d in g.edges(keys=True, data=True):
            du, dv = g.degree(u), g.degree(v)
            if u == v:
                continue
            if (du == 1) != (dv == 1):
                junction = v if du == 1 else u
                rj = g.nodes[junction]["r"]
                thin = d["r"] < 0.6 * rj  # bump spurs thin out toward the wall they end on
                if d["length"] < prune * rj + h or (thin and d["length"] < rj + 2 * prune * d["r"]):
                    cands.append((d["length"] / max(g.nodes[junction]["r"], h), u, v, k))
        if not cands:
            return
        _, u, v, k = min(cands)
        g.remove_edge(u, v, k)
        for n in (u, v):
            if g.degree(n) == 0:
                g.remove_node(n)


def _break_cycles(g: nx.MultiGraph) -> None:
    """Cut loops (holes in the skeleton) at their thinnest path: a maximum spanning tree."""
    for u, v, k in [(u, v, k) for u, v, k in g.edges(keys=True) if u == v]:
        g.remove_edge(u, v, k)
    simple = nx.Graph()
    for u, v, k, d in g.edges(keys=True, data=True):
        if not simple.has_edge(u, v) or simple.edges[u, v]["r"] < d["r"]:
            simple.add_edge(u, v, r=d["r"], key=k)
    keep = nx.maximum_spanning_tree(simple, weight="r")
    for u, v, k in list(g.edges(keys=True)):
        if not keep.has_edge(u, v) or keep.edges[u, v]["key"] != k:
            g.remove_edge(u, v, k)
    for n in [n for n in g if g.degree(n) == 0]:
        g.remove_node(n)


def _branches_from(g: nx.MultiGraph, root: int, *, trunk_only_continues: bool) -> list[dict]:
    """Split the rooted tree into branches: dicts with 'ijk' (sub voxel), 'parent' (index)."""
    out: list[dict] = []
    stack = [(root, None, None)]  # (start node, parent branch index, incoming edge)
    while stack:
        start, parent, via = stack.pop()
        # first edge of this branch
        if via is None:
            (_, w, k) = next(iter(g.edges(start, keys=True)))
            via = (start, w, k)
        polys = []
        u, w, k = via
        terminal = False
        while True:
            polys.append(_edge_from(g, u, w, k))
            nxt = [(w, x, kk) for _, x, kk in g.edges(w, keys=True) if not (x == u and kk == k)]
            if not nxt:
                terminal = True
                break
            children = sorted(nxt, key=lambda e: -g.edges[e]["r"])
            cont = None
            r0 = g.edges[children[0]]["r"]
            r1 = g.edges[children[1]]["r"] if len(children) > 1 else 0.0
            if parent is None and trunk_only_continues:  # the trunk goes on into the thickest
                cont = children[0]
            elif r0 > 1.5 * r1 and r0 > 0.6 * g.edges[u, w, k]["r"]:
                cont = children[0]  # a side branch leaves; the vessel itself goes on
            me = len(out)
            for c in children:
                if c is not cont:
                    stack.append((w, me, c))
            if cont is None:
                break
            u, w, k = cont
        ijk = np.vstack([polys[0]] + [p[1:] for p in polys[1:]])
        out.append({"ijk": ijk, "parent": parent, "parent_index": 0, "terminal": terminal})
    return out


def _axis_polyline(
    sub: NDArray, spacing: NDArray, offset: NDArray, full_shape: NDArray, dist: _WallDistance
) -> NDArray:
    """Centroids of 1 mm slabs along the principal axis of an unbranched lumen (sub indices).

    Ends are pulled in by the local radius (a rounded end's centre) unless the lumen meets the
    volume border there (an open end).
    """
    vox = np.argwhere(sub)
    P = vox * spacing
    cen = P.mean(0)
    axis = np.linalg.svd((P - cen)[:: max(len(P) // 20000, 1)], full_matrices=False)[2][0]
    s = (P - cen) @ axis
    edges = np.arange(s.min(), s.max() + 1.0, 1.0)
    cents, border = [], []
    for a0 in edges[:-1]:
        sel = (s >= a0) & (s < a0 + 1.0)
        if sel.sum():
            cents.append(P[sel].mean(0))
            g = vox[sel] + offset
            border.append(bool(((g <= 0) | (g >= full_shape - 1)).any()))
    pts = np.array(cents)
    if len(pts) < 2:
        return pts / spacing
    r = _sample_max3(dist, pts / spacing)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    a = 0.0 if border[0] else r[: max(len(r) // 4, 1)].max()
    b = arc[-1] if border[-1] else arc[-1] - r[-max(len(r) // 4, 1) :].max()
    if b - a < 1.0:
        a, b = 0.0, arc[-1]
    sn = np.arange(a, b + 1e-9, 0.5 * float(spacing.min()))
    out = np.stack([np.interp(sn, arc, pts[:, d]) for d in range(3)], 1)
    return out / spacing


class _Coverage:
    """Inscribed spheres of the skeleton voxels: which lumen voxels the skeleton explains."""

    def __init__(self, skel: NDArray, dist: _WallDistance, spacing: NDArray) -> None:
        from scipy.spatial import cKDTree

        vox = np.argwhere(skel)
        self.r = _sample_max3(dist, vox)
        self.kd = cKDTree(vox * spacing)


def _extend_end(
    ijk: NDArray, mask: NDArray, dist: _WallDistance, spacing: NDArray, cover: _Coverage
) -> NDArray:
    """Continue a skeleton end (the last point) through the lumen that thinning ate away.

    3-D thinning shortens thick tubes at their ends: at 0.8 mm voxels a 10 mm-radius tube
    lost 40 mm. Around the end, the lumen voxels outside every skeleton voxel's inscribed
    sphere (plus one voxel) are the part the skeleton does not explain; their connected piece
    next to the end is followed in 2 mm slabs along its principal axis (oriented away from
    the end), each slab's centroid a centerline point (a tube's symmetry puts it on the axis).
    A rounded (capsule) end's centre lies ``r`` before the tip; a lumen cut by the volume
    border is open and followed to the border. The box searched grows until the piece fits.
    """
    h = float(spacing.max())
    E = ijk[-1] * spacing
    # the radius just before the end (the end itself may sit inside a rounded cap)
    r_end = max(float(_sample_max3(dist, ijk[-min(len(ijk), 12) :]).max()), h)
    shape = np.array(mask.shape)
    half_mm = 6.0 * r_end + 4.0 * h
    for _ in range(4):
        half = np.ceil(half_mm / spacing).astype(int)
        c = np.rint(ijk[-1]).astype(int)
        lo = np.maximum(c - half, 0)
        hi = np.minimum(c + half + 1, shape)
        box = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        idx = np.argwhere(box)
        if len(idx) == 0:
            return ijk
        P = (idx + lo) * spacing
        d, j = cover.kd.query(P)
        unc = d > cover.r[j] + h
        if not unc.any():
            return ijk
        lab_box = np.zeros(box.shape, np.int32)
        lab_box[tuple(idx[unc].T)] = 1
        comp, n = ndimage.label(lab_box, structure=np.ones((3, 3, 3), bool))
        cl = comp[tuple(idx[unc].T)]
        Pu = P[unc]
        near = np.linalg.norm(Pu - E, axis=1) <= r_end + 3.0 * h
        if not near.any():
            return ijk
        ids, counts = np.unique(cl[near], return_counts=True)
        piece = Pu[cl == ids[np.argmax(counts)]]
        pidx = idx[unc][cl == ids[np.argmax(counts)]]
        at_box = ((pidx == 0) & (lo > 0)) | ((pidx == np.array(box.shape) - 1) & (hi < shape))
        if not at_box.any() or half_mm > 1000:
            break
        half_mm *= 2.0
    s = (piece - E) @ _unit(piece.mean(0) - E)
    vox_ml = float(np.prod(spacing))
    tube_like = len(piece) * vox_ml > 0.5 * np.pi * r_end**2 * max(s.max() - r_end, 0.0)
    if s.max() < 2.5 * r_end or not tube_like:  # the skeleton is not short: the cap only
        return _extend_end_ray(ijk, mask, dist, spacing)
    # a tube piece the thinning ate: follow its principal axis to the tip (less r if capped)
    cen = piece.mean(0)
    X = piece - cen
    axis = np.linalg.svd(X[:: max(len(X) // 20000, 1)], full_matrices=False)[2][0]
    axis = axis if axis @ (cen - E) > 0 else -axis
    tip_s = float((X @ axis).max())
    vox_piece = np.rint(piece / spacing).astype(int)
    open_end = bool(((vox_piece <= 0) | (vox_piece >= shape - 1)).any())
    end = cen + (tip_s if open_end else tip_s - r_end) * axis
    length = float(np.linalg.norm(end - E))
    if length <= 0.5 * h or (end - E) @ axis <= 0:
        return _extend_end_ray(ijk, mask, dist, spacing)
    n_new = max(int(np.ceil(length / float(spacing.min()))), 1)
    new = E + np.outer(np.arange(1, n_new + 1) / n_new, end - E)
    return np.vstack([ijk, new / spacing])


def _unit(v: NDArray) -> NDArray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else np.array([0.0, 0.0, 1.0])


def _extend_end_ray(ijk: NDArray, mask: NDArray, dist: _WallDistance, spacing: NDArray) -> NDArray:
    """Extend a skeleton end (the last point) along its tangent to where the vessel ends.

    3-D thinning shortens thick tubes at their ends (by up to several radii at 0.8 mm voxels).
    From the end, a ray along the end tangent (taken over the last max(r, 2 voxels)) meets the
    wall after ``T`` mm: a rounded (capsule) end's centre lies ``r`` before that, so the end is
    moved ``T - r`` mm; a lumen cut by the volume border is open, so the end goes to the border.
    """
    mm = ijk * spacing
    r_end = float(_sample_max3(dist, ijk[-1:])[0])
    back = np.linalg.norm(mm - mm[-1], axis=1)
    j = np.nonzero(back >= max(r_end, 2 * spacing.max()))[0]
    if len(j) == 0:
        return ijk
    t = mm[-1] - mm[j[-1]]
    t /= max(np.linalg.norm(t), 1e-9)
    stepmm = 0.25 * float(spacing.min())
    shape = np.array(mask.shape)
    dist_out, open_end = 0.0, False
    for n in range(1, 100000):
        q = np.rint((mm[-1] + n * stepmm * t) / spacing).astype(int)
        if (q < 0).any() or (q >= shape).any():
            open_end = True
            break
        if not mask[q[0], q[1], q[2]]:
            break
        dist_out = n * stepmm
    ext = dist_out if open_end else dist_out - r_end
    if ext <= 0.5 * stepmm:
        return ijk
    n_new = max(int(np.ceil(ext / spacing.min())), 1)
    new = mm[-1] + np.outer(np.arange(1, n_new + 1) / n_new * ext, t)
    return np.vstack([ijk, new / spacing])


def _own_radius(pts: NDArray, rad: NDArray, parent_pts: NDArray, parent_rad: NDArray) -> NDArray:
    """Replace a child's radii inside its parent's lumen by its first radius outside it."""
    d = _point_polyline_distance(pts, parent_pts, parent_rad)
    inside = d < 0.0
    if inside.all() or not inside[0]:
        return rad
    first_out = int(np.argmax(~inside))
    ref = np.median(rad[first_out : first_out + 5])
    rad = rad.copy()
    rad[:first_out] = ref
    return rad


def _point_polyline_distance(p: NDArray, poly: NDArray, rad: NDArray | None = None) -> NDArray:
    """Distance (mm) from points (M, 3) to a polyline (N, 3); minus the radius if given."""
    a, b = poly[:-1], poly[1:]
    ab = b - a
    ab2 = np.maximum((ab * ab).sum(1), 1e-12)
    out = np.empty(len(p))
    for s in range(0, len(p), 256):
        q = p[s : s + 256]
        t = np.clip(np.einsum("msk,sk->ms", q[:, None, :] - a[None], ab) / ab2, 0, 1)
        c = a[None] + t[..., None] * ab[None]
        dd = np.linalg.norm(q[:, None, :] - c, axis=-1)
        if rad is not None:
            dd = dd - (rad[:-1][None] + t * (rad[1:] - rad[:-1])[None])
        out[s : s + 256] = dd.min(1)
    return out


def _smooth_resample(
    pts: NDArray, rad: NDArray, step: float, sigma: float
) -> tuple[NDArray, NDArray]:
    """Resample a polyline at ~``step`` mm, Gaussian-smoothed (sigma mm), ends kept."""
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    keep = np.concatenate([[True], seg > 1e-9])
    pts, rad = pts[keep], rad[keep]
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    if len(pts) < 2 or s[-1] < 1e-6:
        return np.vstack([pts[0], pts[0] + 1e-3]), np.array([rad[0], rad[0]])
    fine = min(step, 0.5) / 2
    sf = np.linspace(0, s[-1], max(int(np.ceil(s[-1] / fine)) + 1, 2))
    pf = np.stack([np.interp(sf, s, pts[:, d]) for d in range(3)], 1)
    rf = np.interp(sf, s, rad)
    if sigma > 0 and len(sf) > 3:
        sig = sigma / (sf[1] - sf[0])
        p0, p1 = pf[0].copy(), pf[-1].copy()
        # odd reflection about the end points keeps the ends in place and the tangents straight
        pad = int(min(4 * sig, len(sf) - 1))
        ext = np.vstack([2 * p0 - pf[pad:0:-1], pf, 2 * p1 - pf[-2 : -pad - 2 : -1]])
        ext = ndimage.gaussian_filter1d(ext, sig, axis=0, mode="nearest")
        pf = ext[pad : pad + len(sf)]
        pf[0], pf[-1] = p0, p1
        rf = ndimage.gaussian_filter1d(rf, sig, mode="nearest")
    s2 = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pf, axis=0), axis=1))])
    n = max(int(np.ceil(s2[-1] / step)) + 1, 2)
    so = np.linspace(0, s2[-1], n)
    po = np.stack([np.interp(so, s2, pf[:, d]) for d in range(3)], 1)
    ro = np.interp(so, s2, rf)
    return po, ro


def _name_branches(built: list[dict], names: str) -> list[str]:
    """Clinical names (arch) or generic ones; index-aligned with ``built``."""
    children: dict[int, list[int]] = {}
    for k, b in enumerate(built):
        if b["parent"] is not None:
            children.setdefault(b["parent"], []).append(k)
    root_children = sorted(children.get(0, []), key=lambda c: built[c]["parent_index"])
    mode = names
    if mode == "auto":
        mode = "arch" if 2 <= len(root_children) <= 4 else "generic"
    out = [""] * len(built)
    if mode == "arch":
        out[0] = "aorta"
        # along the aorta from the access (descending) end: ... LSA, LCCA, BCT (heart side last)
        heart_first = root_children[::-1]
        arch_names = {
            2: ["BCT", "LSA"],
            3: ["BCT", "LCCA", "LSA"],
            4: ["BCT", "LCCA", "LVA", "LSA"],
        }
        for c, nm in zip(heart_first, arch_names.get(len(heart_first), []), strict=False):
            out[c] = nm
        if len(heart_first) == 2:  # bovine: the LCCA leaves the BCT before it divides
            _bovine_bct(built, children, heart_first[0], out)
    else:
        out[0] = "trunk"
    # breadth-first: clinical names where anatomy fixes them, else <parent>_<k>
    order = [0]
    for k in order:
        kids = sorted(children.get(k, []), key=lambda c: built[c]["parent_index"])
        nm = out[k]
        if mode == "arch":
            last = [c for c in kids if not out[c]]
            if nm == "BCT" and len(last) == 2:
                a, b = last  # the subclavian ends further to the patient's right (LPS: -x)
                right_a = _subtree_end_x(built, children, a) < _subtree_end_x(built, children, b)
                out[a], out[b] = ("RSA", "RCCA") if right_a else ("RCCA", "RSA")
            elif nm in ("RCCA", "LCCA") and len(kids) == 2:
                a, b = sorted(kids, key=lambda c: -np.median(built[c]["radii"]))
                out[a], out[b] = nm[0] + "ICA", nm[0] + "ECA"  # the ICA is the wider
            elif (
                nm in ("RSA", "LSA")
                and len(kids) == 2
                and len(set(built[c]["parent_index"] for c in kids)) == 1
            ):  # split at the vertebral origin
                va, cont = sorted(kids, key=lambda c: np.median(built[c]["radii"]))
                _merge_continuation(built, children, k, cont, out)
                kids = sorted(children[k], key=lambda c: built[c]["parent_index"])
            if nm in ("RSA", "LSA") and len(kids) == 1:
                out[kids[0]] = nm[0] + "VA"  # first branch of the subclavian: vertebral
        order.extend(kids)
        for j, c in enumerate(kids, 1):
            if not out[c]:
                out[c] = f"{nm}_{j}"
    return out


def _subtree_end_x(built: list[dict], children: dict, k: int) -> float:
    """Mean x (LPS mm) of the distal ends in the subtree of branch ``k``."""
    xs, stack = [], [k]
    while stack:
        j = stack.pop()
        kids = children.get(j, [])
        if not kids:
            xs.append(built[j]["points"][-1][0])
        stack.extend(kids)
    return float(np.mean(xs))


def _subtree_length(built: list[dict], children: dict, k: int) -> float:
    n = np.linalg.norm(np.diff(built[k]["points"], axis=0), axis=1).sum()
    return float(n + sum(_subtree_length(built, children, c) for c in children.get(k, [])))


def _merge_continuation(
    built: list[dict], children: dict, k: int, cont: int, out: list[str]
) -> None:
    """Append child ``cont`` to branch ``k`` (the vessel going on); re-attach its children."""
    b, c = built[k], built[cont]
    n0 = len(b["points"]) - 1
    b["points"] = np.vstack([b["points"], c["points"][1:]])
    b["radii"] = np.concatenate([b["radii"], c["radii"][1:]])
    grand = children.get(cont, [])
    for g in grand:
        built[g]["parent"] = k
        built[g]["parent_index"] += n0
    children[k] = [j for j in children.get(k, []) if j != cont] + grand
    children[cont] = []
    out[cont] = "_merged"


def _bovine_bct(built: list[dict], children: dict, bct: int, out: list[str]) -> None:
    """Bovine arch: name the LCCA on the BCT; join the BCT to its continuation if split.

    If the BCT was split where the LCCA leaves (two children there, neither clearly thicker),
    the child with the larger subtree that divides again is the BCT going on: it is merged
    into the BCT, its children re-attached. The child that leaves first is then the LCCA.
    """
    kids = children.get(bct, [])
    if len(kids) == 2 and all(len(children.get(c, [])) >= 2 for c in kids):
        cont = max(kids, key=lambda c: _subtree_length(built, children, c))
        grand = children.get(cont, [])
        if any(children.get(g) for g in grand):  # it divides into RSA and RCCA (which divides)
            _merge_continuation(built, children, bct, cont, out)
    kids = sorted(children.get(bct, []), key=lambda c: built[c]["parent_index"])
    if len(kids) == 3 and built[kids[0]]["parent_index"] < built[kids[1]]["parent_index"]:
        out[kids[0]] = "LCCA"


# ---------------------------------------------------------------------------- scoring
def _tree_points(tree: VesselTree, step: float) -> tuple[NDArray, NDArray, NDArray]:
    """Points, radii and branch id per point of every branch, resampled at ``step`` mm."""
    pts, rad, bid = [], [], []
    for k, b in enumerate(tree):
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(b.points, axis=0), axis=1))])
        so = np.linspace(0, s[-1], max(int(np.ceil(s[-1] / step)) + 1, 2))
        pts.append(np.stack([np.interp(so, s, b.points[:, d]) for d in range(3)], 1))
        rad.append(np.interp(so, s, b.radii))
        bid.append(np.full(len(so), k))
    return np.vstack(pts), np.concatenate(rad), np.concatenate(bid)


def _junctions(tree: VesselTree, merge: float) -> NDArray:
    """Distinct junction positions (LPS mm), those closer than ``merge`` mm merged."""
    pos = [tree[b.parent].points[b.parent_index] for b in tree if b.parent is not None]
    out: list[NDArray] = []
    for p in pos:
        if all(np.linalg.norm(p - q) > merge for q in out):
            out.append(p)
    return np.array(out).reshape(-1, 3)


def _free_ends(tree: VesselTree) -> list[tuple[NDArray, float]]:
    """Free ends (LPS mm, radius mm): the root's first point and every branch's last point where
    no child leaves (within the last two points)."""
    out = [(tree[tree.root].points[0], float(tree[tree.root].radii[0]))]
    for b in tree:
        n = len(b.points)
        if not any(c.parent == b.name and c.parent_index >= n - 2 for c in tree):
            out.append((b.points[-1], float(b.radii[-1])))
    return out


def score_centerlines(extracted: VesselTree, truth: VesselTree, *, step: float = 0.5) -> dict:
    """Compare an extracted centerline tree with the ground truth (both LPS mm).

    Parameters
    ----------
    extracted, truth : VesselTree
    step : float, default: 0.5
        Resampling step (mm) for the distance integrals.

    Returns
    -------
    dict
        ``mean_distance_mm``: symmetric mean distance between the two centerline sets (each
        point to the nearest point of the other tree's polylines, averaged both ways);
        ``max_distance_mm``: the largest of those; ``radius_error_pct``: mean of
        ``|r_ext - r_true| / r_true`` (%) over extracted points, each compared with the radius
        at the nearest truth point, excluding points within one parent radius of a truth
        junction (where a radius is not defined); ``ends``/``ends_truth``, ``junctions``/
        ``junctions_truth``: counts (junctions closer than 2 mm are one); ``branches``/
        ``branches_truth``; ``ends_matched``: truth ends with an extracted end within
        ``max(3 mm, radius)``; ``topology_exact``: ends and junctions counts equal and every
        truth end matched.
    """
    pe, re_, _ = _tree_points(extracted, step)
    pt, rt, _ = _tree_points(truth, step)
    d_et = _multi_polyline_distance(pe, truth)
    d_te = _multi_polyline_distance(pt, extracted)
    # nearest truth sample for the radius comparison
    from scipy.spatial import cKDTree

    _, idx = cKDTree(pt).query(pe)
    rel = np.abs(re_ - rt[idx]) / rt[idx]
    jt = _junctions(truth, 2.0)
    jr = np.array([truth[b.parent].radii[b.parent_index] for b in truth if b.parent is not None])
    keep = np.ones(len(pe), bool)
    if len(jt):
        jpos = np.array([truth[b.parent].points[b.parent_index] for b in truth if b.parent])
        dj = np.linalg.norm(pe[:, None, :] - jpos[None], axis=-1)
        keep = (dj > jr[None]).all(1)
    fe_t, fe_e = _free_ends(truth), _free_ends(extracted)
    ends_t = np.array([p for p, _ in fe_t])
    ends_e = np.array([p for p, _ in fe_e])
    r_end = np.array([r for _, r in fe_t])
    dm = np.linalg.norm(ends_t[:, None] - ends_e[None], axis=-1).min(1)
    matched = int((dm <= np.maximum(3.0, r_end)).sum())
    je = _junctions(extracted, 2.0)
    out = {
        "mean_distance_mm": float(0.5 * (d_et.mean() + d_te.mean())),
        "max_distance_mm": float(max(d_et.max(), d_te.max())),
        "radius_error_pct": float(100 * rel[keep].mean()) if keep.any() else float("nan"),
        "ends": len(ends_e),
        "ends_truth": len(ends_t),
        "ends_matched": matched,
        "junctions": len(je),
        "junctions_truth": len(jt),
        "branches": len(extracted),
        "branches_truth": len(truth),
    }
    out["topology_exact"] = bool(
        out["ends"] == out["ends_truth"]
        and out["junctions"] == out["junctions_truth"]
        and matched == len(ends_t)
    )
    return out


def _multi_polyline_distance(p: NDArray, tree: VesselTree) -> NDArray:
    return np.min([_point_polyline_distance(p, b.points) for b in tree], axis=0)
