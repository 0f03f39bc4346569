"""Import a patient: CT + labels (TotalSegmentator layout) or a lumen surface mesh -> Anatomy.

Frame: patient LPS, mm. The pipeline (:func:`import_anatomy`):

1. read the CT (NIfTI, NRRD or a DICOM series folder) and the labels (a multi-label map with a
   names JSON, or TotalSegmentator's ``segmentations/<name>.nii.gz`` folder), check that they
   share one grid; or read a lumen surface mesh, validate it and voxelise it at 0.5 mm;
2. the arterial lumen = the union of the arterial structures (``ARTERIES``); a few stray voxels
   apart from the main lumen (under 5 % of it) are dropped and counted in ``meta``, a lumen in
   larger separate parts is refused;
3. the vessel tree by :func:`extract_vessel_tree` (named, radii, resampled at 1 mm);
4. the lumen SDF on an axis-aligned 0.5 mm grid: the signed Euclidean distance of the lumen
   on its own grid (wall halfway between voxel centres) resampled trilinearly, so the zero
   level is sub-voxel smooth even from a 0.8 mm anisotropic CT;
5. landmarks (``access``: the root's first point) and default targets (every branch's distal
   end, named after the branch, as the generators do);
6. for a mesh without CT, a synthetic thorax CT around the lumen
   (:func:`synthesize_thorax_ct`, 1.25 mm voxels);
7. saved to ``out`` atomically: the folder is written under a temporary name beside ``out``
   (anatomy files, ``targets.mrk.json`` for 3D Slicer, ``summary.json`` and ``summary.png``
   when the plotting helpers are there) and renamed into place; a failure leaves nothing, and
   an existing folder is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ._anatomy import Anatomy, AnatomyExistsError, Structure
from ._centerline import CenterlineError, extract_vessel_tree
from ._io import check_volume_pair, is_oblique, read_volume
from ._markups import write_markups
from ._sdf import SDFGrid
from ._totalseg import ARTERIES, read_totalseg

__all__ = [
    "import_anatomy",
    "lumen_sdf_from_mask",
    "save_atomic",
    "organ_tets",
    "PatientImportError",
]

IMPORTER_VERSION = "1"
#: Stray lumen parts dropped silently (recorded in meta) while they stay under this fraction.
STRAY_FRACTION = 0.05


class PatientImportError(ValueError):
    """The inputs cannot make an anatomy (the message names the input and the problem)."""


# ---------------------------------------------------------------------------- SDF
def lumen_sdf_from_mask(
    mask: NDArray, affine: NDArray, *, spacing: float = 0.5, margin: float = 5.0
) -> SDFGrid:
    """Lumen signed-distance field (mm, negative inside) on an LPS-aligned grid.

    The signed Euclidean distance is computed on the mask's own grid (voxel sizes as sampling;
    inside ``-(d_in - h/2)``, outside ``d_out - h/2``: the wall lies halfway between the last
    voxel centre inside and the first outside), then resampled trilinearly at ``spacing`` mm.

    Parameters
    ----------
    mask : ndarray of bool (I, J, K)
        Lumen voxels.
    affine : ndarray (4, 4)
        Voxel index -> LPS mm (oblique allowed).
    spacing : float, default: 0.5
        SDF grid spacing (mm).
    margin : float, default: 5.0
        Padding (mm) around the lumen; the field is exact to about ``margin`` outside it.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise ValueError("`mask` is empty: no lumen voxel")
    A = np.asarray(affine, dtype=np.float64)
    vox = np.linalg.norm(A[:3, :3], axis=0)
    pad = np.ceil((margin + 2 * spacing) / vox).astype(int) + 1
    nz = np.nonzero(mask)
    lo = np.array([a.min() for a in nz]) - pad
    hi = np.array([a.max() for a in nz]) + pad + 1
    sub = np.zeros(tuple(hi - lo), bool)
    src_lo = np.maximum(lo, 0)
    src_hi = np.minimum(hi, mask.shape)
    sub[tuple(slice(a - l0, b - l0) for a, b, l0 in zip(src_lo, src_hi, lo, strict=True))] = mask[
        tuple(slice(a, b) for a, b in zip(src_lo, src_hi, strict=True))
    ]
    h = 0.5 * float(vox.mean())
    d_in = ndimage.distance_transform_edt(sub, sampling=vox)
    d_out = ndimage.distance_transform_edt(~sub, sampling=vox)
    field = np.where(sub, -(d_in - h), d_out - h).astype(np.float32)
    # LPS box of the lumen (+ margin), sampled at `spacing`
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
    nzi = np.stack([a for a in nz], 1)
    ijk_lo, ijk_hi = nzi.min(0), nzi.max(0)
    box = (ijk_lo + corners * (ijk_hi - ijk_lo)) @ A[:3, :3].T + A[:3, 3]
    o = box.min(0) - margin
    n = np.ceil((box.max(0) + margin - o) / spacing).astype(int) + 1
    inv = np.linalg.inv(A)
    out = np.empty(tuple(n), np.float32)
    gy = o[1] + spacing * np.arange(n[1])
    gz = o[2] + spacing * np.arange(n[2])
    Y, Z = np.meshgrid(gy, gz, indexing="ij")
    for i in range(n[0]):  # slab by slab: bounded memory
        P = np.stack([np.full(Y.shape, o[0] + spacing * i), Y, Z], -1)
        q = P @ inv[:3, :3].T + inv[:3, 3] - lo
        out[i] = ndimage.map_coordinates(
            field, q.reshape(-1, 3).T, order=1, mode="nearest"
        ).reshape(Y.shape)
    return SDFGrid(values=out, origin=o, spacing=spacing, outside_value=float(margin))


# ---------------------------------------------------------------------------- progress
@contextmanager
def _steps(total: int, enabled: bool):
    """A rich progress bar with one tick per pipeline step (a no-op when disabled)."""
    if not enabled:
        yield lambda desc: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]import[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=False,
    ) as prog:
        task = prog.add_task("starting", total=total)
        state = {"first": True}

        def tick(desc: str) -> None:
            if not state["first"]:
                prog.advance(task)
            state["first"] = False
            prog.update(task, description=desc)

        yield tick
        prog.update(task, completed=total, description="done")


# ---------------------------------------------------------------------------- pipeline
def import_anatomy(
    *,
    ct: str | Path | None = None,
    labels: str | Path | None = None,
    mesh: str | Path | None = None,
    label_names=None,
    name: str | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    seed: NDArray | None = None,
    mesh_frame: str = "LPS",
    ct_voxel: float = 1.25,
    sdf_spacing: float = 0.5,
    summary_png: bool = True,
    surfaces: bool = True,
    tets: list[str] | None = None,
) -> Anatomy:
    """Build an :class:`Anatomy` from patient data (see the module notes for the steps).

    Parameters
    ----------
    ct : path, optional
        CT volume in HU: ``.nii``/``.nii.gz``, ``.nrrd``, or a DICOM series folder.
    labels : path, optional
        Label map on the CT grid (values per ``label_names``, default TotalSegmentator v2
        ``total``) or a TotalSegmentator mask folder.
    mesh : path, optional
        Lumen surface (``.stl``, ``.vtp``, ``.obj``, ``.ply``) in LPS mm (``mesh_frame``).
        Without ``ct`` a synthetic thorax CT is built around it.
    label_names : path, dict or list, optional
        Class map of ``labels`` (see :func:`read_totalseg`).
    name : str, optional
        Anatomy name; default the stem of the first input.
    out : path, optional
        Folder to save to (atomically).
    overwrite : bool, default: False
        Replace an existing ``out``.
    progress : bool, default: True
        Show a progress bar (rich).
    seed : ndarray (3,), optional
        LPS mm point near the access end of the vessels (default: the lowest vessel end).
    mesh_frame : {"LPS", "RAS"}, default: "LPS"
        Coordinate frame of the mesh file.
    ct_voxel : float, default: 1.25
        Voxel size (mm) of the synthetic CT built for a mesh-only import.
    sdf_spacing : float, default: 0.5
        Lumen SDF grid spacing (mm).
    summary_png : bool, default: True
        Render ``summary.png`` into ``out`` (skipped quietly if rendering is unavailable).
    surfaces : bool, default: True
        Write a closed surface per structure (``meshes/<name>.vtp``), the lumen surface and
        the VMTK-style ``centerlines.vtp`` into ``out``.
    tets : list of str, optional
        Structures to mesh into tetrahedra (:func:`organ_tets`, needs pytetwild), written as
        ``meshes/<name>.tets.vtu`` into ``out``; a missing pytetwild is noted in ``meta``.

    Returns
    -------
    Anatomy

    Raises
    ------
    AnatomyExistsError
        ``out`` exists and ``overwrite`` is False (checked before any work).
    PatientImportError, VolumeError, MeshError, CenterlineError, UnknownStructureError
        Bad or inconsistent inputs, each naming the input and the problem.
    """
    if ct is None and labels is None and mesh is None:
        raise PatientImportError("nothing to import: give `ct` and/or `labels`, or `mesh`")
    if mesh is not None and labels is not None:
        raise PatientImportError("give either `labels` or `mesh` for the vessels, not both")
    if out is not None:
        out = Path(out)
        if out.exists() and not overwrite:
            raise AnatomyExistsError(
                f"{out} already exists; pass overwrite=True (CLI: --overwrite) to replace it"
            )
    first = next(Path(p) for p in (ct, labels, mesh) if p is not None)
    name = name or first.name.split(".")[0] or "patient"
    meta: dict = {
        "importer": "igtwin.anatomies.import_anatomy",
        "importer_version": IMPORTER_VERSION,
        "sources": {k: str(v) for k, v in (("ct", ct), ("labels", labels), ("mesh", mesh)) if v},
    }
    t0 = time.perf_counter()
    n_steps = 6 + (mesh is not None)
    with _steps(n_steps, progress) as tick:
        if mesh is not None:
            anatomy = _from_mesh(
                Path(mesh),
                ct,
                meta,
                tick,
                seed=seed,
                frame=mesh_frame,
                ct_voxel=ct_voxel,
                sdf_spacing=sdf_spacing,
                name=name,
            )
        else:
            anatomy = _from_volumes(ct, labels, label_names, meta, tick, seed, sdf_spacing, name)
        tet_meshes = {}
        if tets:
            try:
                tet_meshes = organ_tets(anatomy, names=tets)
                meta["tets"] = {n: int(g.n_cells) for n, g in tet_meshes.items()}
            except ModuleNotFoundError as e:
                meta["tets"] = f"skipped: {e}"
        meta["import_seconds"] = round(time.perf_counter() - t0, 2)
        if out is not None:
            tick("saving")
            save_atomic(
                anatomy,
                out,
                overwrite=overwrite,
                summary_png=summary_png,
                extra=tet_meshes,
                surfaces=surfaces,
            )
    return anatomy


def _from_volumes(ct, labels, label_names, meta, tick, seed, sdf_spacing, name) -> Anatomy:
    tick("reading CT")
    ct_arr = ct_aff = None
    if ct is not None:
        ct_arr, ct_aff = read_volume(ct)
        ct_arr = _as_hu(ct_arr)
    tick("reading labels")
    if labels is not None:
        ref = (ct_arr, ct_aff) if ct_arr is not None else None
        lab, lab_aff, structures = read_totalseg(labels, label_names=label_names, reference=ref)
        if ct_arr is None:  # labels only: a flat soft-tissue CT (structures give materials)
            ct_arr, ct_aff = np.full(lab.shape, 40, np.int16), lab_aff
            meta["ct"] = "none given: 40 HU everywhere"
    else:
        lab = np.zeros(ct_arr.shape, np.uint8)
        structures = {}
    check_volume_pair(ct_arr, ct_aff, lab, ct_aff if labels is None else lab_aff)
    if is_oblique(ct_aff):
        meta["oblique"] = True
    tick("vessel lumen")
    art = [s for s in structures.values() if s.name in ARTERIES]
    tree = sdf = None
    landmarks: dict = {}
    targets: dict = {}
    if art:
        lumen = np.isin(lab, [s.label for s in art])
        lumen = _main_lumen(lumen, ct_aff, meta)
        tick("centerlines")
        tree = extract_vessel_tree(lumen, ct_aff, seed=seed, access="access")
        tick("lumen SDF")
        sdf = lumen_sdf_from_mask(lumen, ct_aff, spacing=sdf_spacing)
        landmarks, targets = _default_points(tree)
        meta["lumen_structures"] = [s.name for s in art]
    else:
        meta["lumen_structures"] = []
        tick("centerlines (no arterial structure: skipped)")
        tick("lumen SDF (skipped)")
    return Anatomy(
        name=name,
        ct_hu=ct_arr,
        labels=lab,
        affine=ct_aff,
        structures=structures,
        vessel_tree=tree,
        sdf=sdf,
        landmarks=landmarks,
        targets=targets,
        meta=meta,
    )


def _from_mesh(path, ct, meta, tick, *, seed, frame, ct_voxel, sdf_spacing, name) -> Anatomy:
    from ._mesh_import import mesh_lumen_mask, read_lumen_mesh, voxelize_mesh

    tick("reading and checking the mesh")
    surf = read_lumen_mesh(path, frame=frame)
    tick("voxelising the lumen")
    mask, aff = mesh_lumen_mask(surf, spacing=sdf_spacing)
    _, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n != 1:
        raise CenterlineError(
            f"{path.name}: the voxelised lumen has {n} separate parts at {sdf_spacing} mm "
            "(a vessel thinner than the voxels?); a vessel tree needs one connected lumen"
        )
    tick("centerlines")
    tree = extract_vessel_tree(mask, aff, seed=seed, access="access")
    tick("lumen SDF")
    sdf = lumen_sdf_from_mask(mask, aff, spacing=sdf_spacing)
    tick("CT")
    if ct is not None:
        ct_arr, ct_aff = read_volume(ct)
        ct_arr = _as_hu(ct_arr)
        M = ct_aff[:3, :3]
        if not np.allclose(M, np.diag(np.diag(M))):
            raise PatientImportError("a CT given with a mesh must be axis-aligned (not oblique)")
        lumen_ct = voxelize_mesh(surf.points, surf.regular_faces, ct_arr.shape, ct_aff)
        lab = np.where(lumen_ct, 2, 0).astype(np.uint8)
        structures = {2: Structure(2, "arteries", "blood")}
        meta["ct"] = "given"
    else:
        ct_arr, lab, structures, ct_aff = _synthetic_ct(surf, ct_voxel)
        meta["ct"] = f"synthetic thorax ({ct_voxel} mm voxels)"
    landmarks, targets = _default_points(tree)
    meta["mesh_points"] = int(surf.n_points)
    meta["mesh_faces"] = int(surf.n_cells)
    return Anatomy(
        name=name,
        ct_hu=ct_arr,
        labels=lab,
        affine=ct_aff,
        structures=structures,
        vessel_tree=tree,
        sdf=sdf,
        landmarks=landmarks,
        targets=targets,
        meta=meta,
    )


def _synthetic_ct(surf, voxel: float):
    """A thorax CT around the lumen surface (thorax helper), else a flat soft-tissue box."""
    from ._mesh_import import voxelize_mesh

    lo = np.asarray(surf.bounds[0::2])
    hi = np.asarray(surf.bounds[1::2])
    try:
        from ._thorax import ThoraxLayout, synthesize_thorax_ct
    except ImportError:  # pragma: no cover - the thorax module ships with the package
        synthesize_thorax_ct = None
    if synthesize_thorax_ct is None:
        shape = tuple(np.ceil((hi - lo + 20) / voxel).astype(int) + 1)
        aff = np.diag([voxel, voxel, voxel, 1.0])
        aff[:3, 3] = lo - 10
        lumen = voxelize_mesh(surf.points, surf.regular_faces, shape, aff)
        ct = np.where(lumen, 40, 45).astype(np.int16)
        return ct, lumen.astype(np.uint8) * 2, {2: Structure(2, "arteries", "blood")}, aff
    # a first coarse grid around the lumen places the thorax (midline, spine, heart) ...
    aff0 = np.diag([voxel, voxel, voxel, 1.0])
    aff0[:3, 3] = lo - 5
    shape0 = tuple(np.ceil((hi - lo + 10) / voxel).astype(int) + 1)
    layout = ThoraxLayout.from_lumen(
        voxelize_mesh(surf.points, surf.regular_faces, shape0, aff0), aff0
    )
    # ... then the CT grid spans the body (about 350 x 260 mm) and the lumen's height + 40 mm
    cx, cy = layout.midline_x, layout.body_center_y
    lo_b = np.array([cx - 175.0, cy - 130.0, lo[2] - 40.0])
    hi_b = np.array([cx + 175.0, cy + 130.0, hi[2] + 40.0])
    lo_b[:2] = np.minimum(lo_b[:2], lo[:2] - 10)
    hi_b[:2] = np.maximum(hi_b[:2], hi[:2] + 10)
    shape = tuple(int(s) for s in np.ceil((hi_b - lo_b) / voxel).astype(int) + 1)
    aff = np.diag([voxel, voxel, voxel, 1.0])
    aff[:3, 3] = lo_b
    lumen = voxelize_mesh(surf.points, surf.regular_faces, shape, aff)
    ct, lab, structures = synthesize_thorax_ct(shape, aff, lumen=lumen, layout=layout, seed=0)
    return ct, lab, structures, aff


def _as_hu(arr: NDArray) -> NDArray:
    """CT values as int16 HU when they fit (rounded), else float32."""
    a = np.asarray(arr)
    if np.issubdtype(a.dtype, np.integer) and a.dtype.itemsize <= 2 and a.dtype != np.uint16:
        return a.astype(np.int16, copy=False)
    if a.min() >= -32768 and a.max() <= 32767:
        return np.rint(a).astype(np.int16)
    return a.astype(np.float32)


def _main_lumen(lumen: NDArray, affine: NDArray, meta: dict) -> NDArray:
    """The largest 26-connected lumen part; refuse if the rest is over STRAY_FRACTION of it."""
    comp, n = ndimage.label(lumen, structure=np.ones((3, 3, 3), bool))
    if n <= 1:
        return lumen
    sizes = np.bincount(comp.ravel())[1:]
    big = int(np.argmax(sizes))
    rest = int(sizes.sum() - sizes[big])
    vox_ml = abs(float(np.linalg.det(np.asarray(affine)[:3, :3]))) / 1000.0
    if rest > STRAY_FRACTION * sizes[big]:
        desc = ", ".join(f"{s * vox_ml:.2f} mL" for s in sorted(sizes, reverse=True)[:6])
        raise CenterlineError(
            f"the arterial lumen is disconnected: {n} separate parts ({desc}); a vessel tree "
            "needs one connected lumen (check the segmentation for gaps)"
        )
    meta["dropped_lumen_parts"] = {"count": n - 1, "volume_ml": round(rest * vox_ml, 3)}
    return comp == big + 1


def _default_points(tree) -> tuple[dict, dict]:
    """Landmarks (``access`` and ``<branch>_origin``) and targets (each branch's distal end)."""
    root = tree[tree.root]
    landmarks = {"access": root.points[0].copy()}
    targets = {}
    for b in tree:
        if b.parent is not None:
            landmarks[f"{b.name}_origin"] = b.points[0].copy()
        targets[b.name] = b.points[-1].copy()
    return landmarks, targets


# ---------------------------------------------------------------------------- tets
def organ_tets(anatomy: Anatomy, *, names: list[str], edge_length: float = 4.0) -> dict:
    """Tetrahedral meshes (LPS mm) of soft-tissue structures, for tissue FEM (optional step).

    The structure surfaces (``structure_surfaces``) are meshed by fTetWild through
    ``pytetwild`` (MPL-2.0; an optional dependency, imported here only).

    Parameters
    ----------
    anatomy : Anatomy
    names : list of str
        Structure names (e.g. ``["liver"]``).
    edge_length : float, default: 4.0
        Target tetrahedron edge length (mm).

    Returns
    -------
    dict of str to pyvista.UnstructuredGrid

    Raises
    ------
    ModuleNotFoundError
        Without pytetwild (``pip install pytetwild``).
    """
    try:
        import pytetwild
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            "organ tetrahedra need the optional package pytetwild (MPL-2.0): pip install pytetwild"
        ) from e
    import contextlib
    import tempfile

    from ._surfaces import structure_surfaces

    surfs = structure_surfaces(anatomy, names=list(names), include_skin=False)
    # fTetWild writes a scratch surface into the working directory: give it a private one
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        return {
            n: pytetwild.tetrahedralize_pv(
                surf.triangulate().clean(), edge_length_abs=float(edge_length), quiet=True
            )
            for n, surf in surfs.items()
        }


# ---------------------------------------------------------------------------- saving
def save_atomic(
    anatomy: Anatomy,
    out: str | Path,
    *,
    overwrite: bool = False,
    summary_png: bool = True,
    extra: dict | None = None,
    surfaces: bool = False,
) -> Path:
    """Write the anatomy folder plus extras (markups, summary) and rename it into place.

    The folder is complete before it appears under ``out``; on any error nothing is left and
    an existing ``out`` is untouched. With ``overwrite`` the old folder is swapped out and
    deleted only after the new one is in place.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise AnatomyExistsError(f"{out} already exists; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.import-{os.getpid()}-{time.monotonic_ns()}"
    old = None
    try:
        anatomy.save(tmp)
        if anatomy.targets:
            write_markups(tmp / "targets.mrk.json", points=anatomy.targets, name="targets")
        _write_summary(anatomy, tmp, png=summary_png)
        if surfaces:
            from ._surfaces import save_surfaces

            save_surfaces(anatomy, tmp)
        if extra:
            (tmp / "meshes").mkdir(exist_ok=True)
            for n, grid in extra.items():
                grid.save(tmp / "meshes" / f"{n}.tets.vtu")
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and old.exists() and not out.exists():
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out


def _write_summary(anatomy: Anatomy, folder: Path, *, png: bool) -> None:
    """``summary.json`` (a row per structure / branch) and ``summary.png``, when available."""
    try:
        from ._plot import anatomy_summary, plot_anatomy
    except ImportError:  # the plotting helpers are optional
        return
    rows = anatomy_summary(anatomy)
    (folder / "summary.json").write_text(json.dumps(rows, indent=1, default=float))
    if png:
        try:
            plot_anatomy(anatomy, path=folder / "summary.png")
        except Exception:  # no GL context, no display: the picture is a nicety
            pass
