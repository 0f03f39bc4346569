"""Surface meshes of an anatomy's structures and its vessel lumen; centerlines as VMTK-style VTP.

Frame: patient LPS, millimetres (mesh points are in LPS mm, whatever the volume's axis order or
signs). Structure surfaces are extracted by flying edges (VTK) at the 0.5 level of each label's
binary mask, padded by one empty voxel so that every surface is closed even where a structure
touches the field of view, then Taubin-smoothed (a low-pass filter that does not shrink the
volume; Taubin, SIGGRAPH 1995). The lumen surface is the zero level set of the lumen SDF, on
its own (finer) grid, which is exact for the generated tubes to the grid's interpolation error.

Files: ``meshes/<name>.vtp`` inside an anatomy folder (see :func:`save_surfaces`) and
``centerlines.vtp``: one polyline per branch with the point array
``MaximumInscribedSphereRadius`` (mm) as VMTK writes it, the cell arrays ``CenterlineIds`` and
``ParentIds`` (−1 for the root), and the branch names in the field array ``BranchNames``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ._vessel_tree import VesselTree

__all__ = [
    "structure_surfaces",
    "lumen_surface",
    "save_surfaces",
    "load_surfaces",
    "vessel_tree_to_vtp",
]


def _pv():
    import pyvista as pv

    return pv


def _mask_surface(mask: NDArray[np.bool_], affine: NDArray, *, smooth_iter: int, decimate: float):
    """Closed surface (LPS mm) of a binary mask on a voxel grid with the given affine."""
    pv = _pv()
    idx = np.argwhere(mask)
    if len(idx) == 0:
        return pv.PolyData()
    lo = np.maximum(idx.min(0) - 1, 0)
    hi = idx.max(0) + 2
    sub = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    sub = np.pad(sub, 1).astype(np.uint8)  # one empty voxel all around: closed surfaces
    grid = pv.ImageData(dimensions=sub.shape, spacing=(1, 1, 1), origin=tuple(lo - 1.0))
    grid.point_data["m"] = sub.ravel(order="F")
    surf = grid.contour([0.5], scalars="m", method="flying_edges")
    if surf.n_points == 0:
        return surf
    surf = surf.triangulate().clean()
    if decimate > 0 and surf.n_cells > 2000:
        surf = surf.decimate_pro(decimate, preserve_topology=True)
    if smooth_iter > 0:
        surf = surf.smooth_taubin(n_iter=smooth_iter, pass_band=0.1)
    pts = np.asarray(surf.points, np.float64)
    A = np.asarray(affine, np.float64)
    surf.points = pts @ A[:3, :3].T + A[:3, 3]
    return surf.compute_normals(auto_orient_normals=True, split_vertices=False)


def structure_surfaces(
    anatomy,
    *,
    names: list[str] | None = None,
    smooth_iter: int = 20,
    decimate: float = 0.0,
    include_skin: bool = True,
    stride: int = 1,
) -> dict:
    """Surface mesh per labelled structure (LPS mm).

    Parameters
    ----------
    anatomy : Anatomy
        Label map and affine.
    names : list of str, optional
        Structure names to mesh; default all present.
    smooth_iter : int, default: 20
        Taubin smoothing iterations (0: raw voxel staircase).
    decimate : float, default: 0.0
        Fraction of triangles to remove (0 keeps all).
    include_skin : bool, default: True
        Add ``"skin"``: the outline of all non-zero labels.
    stride : int, default: 1
        Use every ``stride``-th voxel along each axis (2 or 3 for quick previews).

    Returns
    -------
    dict of str to pyvista.PolyData
        Closed triangle surfaces with point normals.
    """
    present = {s.name: lab for lab, s in anatomy.structures.items()}
    labels = np.asarray(anatomy.labels)[::stride, ::stride, ::stride]
    affine = np.asarray(anatomy.affine, np.float64).copy()
    affine[:3, :3] *= stride
    if names is None:
        names = list(present)
    out = {}
    for n in names:
        if n not in present:
            import difflib

            close = difflib.get_close_matches(n, list(present), n=3)
            raise ValueError(
                f"unknown structure {n!r}; present {list(present)}"
                + (f". Did you mean {close}?" if close else "")
            )
        out[n] = _mask_surface(
            labels == present[n],
            affine,
            smooth_iter=smooth_iter,
            decimate=decimate,
        )
    if include_skin:
        out["skin"] = _mask_surface(labels > 0, affine, smooth_iter=smooth_iter, decimate=decimate)
    return out


def lumen_surface(anatomy, *, level: float = 0.0, stride: int = 1):
    """The vessel lumen surface: the SDF's ``level`` set (LPS mm), or None without an SDF.

    ``stride`` > 1 uses every ``stride``-th SDF grid point (a coarser, quicker surface).
    """
    pv = _pv()
    sdf = anatomy.sdf
    if sdf is None:
        return None
    v = sdf.values[::stride, ::stride, ::stride]
    h = sdf.spacing * stride
    pad = np.pad(v, 1, constant_values=float(sdf.outside_value))
    grid = pv.ImageData(
        dimensions=pad.shape,
        spacing=(h,) * 3,
        origin=tuple(np.asarray(sdf.origin) - h),
    )
    grid.point_data["sdf"] = pad.ravel(order="F")
    surf = grid.contour([level], scalars="sdf", method="flying_edges")
    surf = surf.triangulate().clean()
    return surf.compute_normals(auto_orient_normals=True, split_vertices=False)


def vessel_tree_to_vtp(tree: VesselTree, path: str | Path | None = None):
    """Centerlines as VMTK-style polylines (LPS mm), optionally written to ``path`` (.vtp).

    Point array ``MaximumInscribedSphereRadius`` (mm); cell arrays ``CenterlineIds`` (branch
    index in tree order) and ``ParentIds`` (−1 for the root); field array ``BranchNames``.
    """
    pv = _pv()
    pts, rad, lines, ids, parents = [], [], [], [], []
    names = tree.names
    off = 0
    for k, b in enumerate(tree):
        n = len(b.points)
        pts.append(b.points)
        rad.append(b.radii)
        lines.append(np.concatenate([[n], off + np.arange(n)]))
        ids.append(k)
        parents.append(-1 if b.parent is None else names.index(b.parent))
        off += n
    poly = pv.PolyData(np.concatenate(pts), lines=np.concatenate(lines).astype(np.int64))
    poly.point_data["MaximumInscribedSphereRadius"] = np.concatenate(rad)
    poly.cell_data["CenterlineIds"] = np.asarray(ids, np.int32)
    poly.cell_data["ParentIds"] = np.asarray(parents, np.int32)
    poly.field_data["BranchNames"] = np.asarray(names)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        poly.save(str(path))
    return poly


def save_surfaces(anatomy, folder: str | Path, surfaces: dict | None = None) -> list[Path]:
    """Write ``meshes/<name>.vtp`` (and ``meshes/lumen.vtp``, ``centerlines.vtp``) into ``folder``.

    ``folder`` is usually an anatomy folder written by :meth:`Anatomy.save`; ``Anatomy.load``
    ignores the meshes, :func:`load_surfaces` reads them back.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = Path(folder)
    (folder / "meshes").mkdir(parents=True, exist_ok=True)
    if surfaces is None:
        surfaces = structure_surfaces(anatomy)
        lum = lumen_surface(anatomy)
        if lum is not None:
            surfaces["lumen"] = lum
    written = []
    for name, mesh in surfaces.items():
        p = folder / "meshes" / f"{name}.vtp"
        mesh.save(str(p))
        written.append(p)
    if anatomy.vessel_tree is not None:
        p = folder / "centerlines.vtp"
        vessel_tree_to_vtp(anatomy.vessel_tree, p)
        written.append(p)
    return written


def load_surfaces(folder: str | Path) -> dict:
    """Read ``meshes/*.vtp`` from an anatomy folder: ``{name: pyvista.PolyData}``."""
    pv = _pv()
    folder = Path(folder)
    return {p.stem: pv.read(str(p)) for p in sorted((folder / "meshes").glob("*.vtp"))}
