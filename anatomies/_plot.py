"""A 3D picture of an anatomy (off-screen PyVista) and a summary table of its parts.

Frame: patient LPS mm. The picture has two views side by side: anterior–posterior (AP, the
camera in front of the patient looking posterior, so the patient's right is on the image's
left, as a clinician sees it) and left lateral (camera on the patient's left). Structures are
semi-transparent surfaces; the vessel lumen is red; centerlines are coloured by branch; targets
are small yellow spheres.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["plot_anatomy", "anatomy_summary"]

# structure name -> (colour, opacity); others are drawn grey at low opacity
_STYLE = {
    "skin": ("#d9b38c", 0.08),
    "lungs": ("#9ecae1", 0.15),
    "heart": ("#c0504d", 0.25),
    "liver": ("#8c564b", 0.35),
    "lesion": ("#ffd92f", 0.9),
    "nodule": ("#ffd92f", 0.9),
    "spine": ("#f2f0e6", 0.6),
    "ribs": ("#f2f0e6", 0.45),
    "sternum": ("#f2f0e6", 0.5),
    "clavicles": ("#f2f0e6", 0.5),
    "airway": ("#74c476", 0.25),
    "hepatic_vessels": ("#6a3d9a", 0.6),
    "kidneys": ("#b15928", 0.3),
    "aorta": ("#d62728", 0.35),
    "arteries": ("#d62728", 0.35),
    "stomach_gas": ("#cccccc", 0.15),
}
_SKIP = {"aorta", "arteries", "body", "fat", "spinal_canal", "intervertebral_discs"}


def plot_anatomy(
    anatomy,
    *,
    path: str | Path | None = None,
    off_screen: bool = True,
    window_size: tuple[int, int] = (1600, 900),
    structures: list[str] | None = None,
    stride: int = 2,
) -> NDArray[np.uint8]:
    """Render the anatomy: surfaces, lumen, centerlines by branch, targets (AP and lateral).

    Parameters
    ----------
    anatomy : Anatomy
        What to draw.
    path : path, optional
        Write the picture as a PNG there.
    off_screen : bool, default: True
        Render without a window (headless; EGL when ``VTK_DEFAULT_OPENGL_WINDOW`` is unset it is
        set to ``vtkEGLRenderWindow``).
    window_size : (int, int), default: (1600, 900)
        Image width and height (pixels).
    structures : list of str, optional
        Structures to draw; default the visible ones (bones, lungs, heart, liver, lesions ...).
    stride : int, default: 2
        Voxel stride for the structure surfaces (and the lumen SDF): 2 is 8× quicker than 1.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
        The rendered image.
    """
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import matplotlib
    import pyvista as pv

    from ._surfaces import lumen_surface, structure_surfaces

    present = [s.name for s in anatomy.structures.values()]
    if structures is None:
        structures = [n for n in present if n not in _SKIP]
        if anatomy.sdf is None:  # no lumen SDF: draw the vessel labels instead
            structures += [n for n in ("aorta", "arteries") if n in present]
    surfs = (
        structure_surfaces(
            anatomy, names=[n for n in structures if n in present], stride=stride, smooth_iter=15
        )
        if anatomy.labels.size > 1
        else {}
    )
    lum = lumen_surface(anatomy, stride=stride)
    pl = pv.Plotter(off_screen=off_screen, shape=(1, 2), window_size=list(window_size))
    cmap = matplotlib.colormaps["tab20"]
    tree = anatomy.vessel_tree
    for col, view in enumerate(("AP", "LAT")):
        pl.subplot(0, col)
        pl.set_background("white")
        for name, mesh in surfs.items():
            if mesh.n_points == 0:
                continue
            color, op = _STYLE.get(name, ("#bbbbbb", 0.2))
            pl.add_mesh(mesh, color=color, opacity=op, smooth_shading=True)
        if lum is not None and lum.n_points:
            pl.add_mesh(lum, color="#d62728", opacity=0.35, smooth_shading=True)
        if tree is not None:
            for k, b in enumerate(tree):
                line = pv.lines_from_points(b.points)
                pl.add_mesh(
                    line,
                    color=cmap(k % 20)[:3],
                    line_width=4,
                    render_lines_as_tubes=True,
                    label=b.name,
                )
        if anatomy.targets:
            tp = np.array(list(anatomy.targets.values()))
            pl.add_points(tp, color="#ffd92f", point_size=12, render_points_as_spheres=True)
        # suggested needle paths: landmark "entry_<target>" to target "<target>"
        for lm, p0 in anatomy.landmarks.items():
            tgt = anatomy.targets.get(lm[len("entry_") :]) if lm.startswith("entry_") else None
            if tgt is not None:
                pl.add_mesh(pv.Line(p0, tgt), color="#1f78b4", line_width=5)
                pl.add_points(
                    np.asarray([p0]), color="#1f78b4", point_size=14, render_points_as_spheres=True
                )
        pl.add_text(f"{anatomy.name} — {view}", font_size=12, color="black")
        if col == 0 and tree is not None:
            pl.add_legend(bcolor="white", face=None, size=(0.16, 0.3), loc="lower right")
        pl.camera_position = "xz" if view == "AP" else "yz"
        if view == "AP":
            # camera anterior (−y) looking posterior, head up: patient's right on image left
            pl.camera.position = (0.0, -1.0, 0.0)
            pl.camera.focal_point = (0.0, 0.0, 0.0)
            pl.camera.up = (0.0, 0.0, 1.0)
        else:
            # camera on the patient's left (+x) looking right
            pl.camera.position = (1.0, 0.0, 0.0)
            pl.camera.focal_point = (0.0, 0.0, 0.0)
            pl.camera.up = (0.0, 0.0, 1.0)
        pl.reset_camera()
        pl.camera.zoom(1.3)
    img = pl.screenshot(str(path) if path is not None else None, return_img=True)
    pl.close()
    return np.asarray(img)


def anatomy_summary(anatomy) -> list[dict]:
    """One row per structure and per vessel branch.

    Returns
    -------
    list of dict
        Structures: ``kind="structure"``, ``name``, ``label``, ``material``, ``voxels``,
        ``volume_ml``. Branches: ``kind="branch"``, ``name``, ``parent``, ``points``,
        ``length_mm``, ``mean_radius_mm``, ``min_radius_mm``, ``max_radius_mm``.
    """
    rows = []
    vox_ml = float(abs(np.linalg.det(anatomy.affine[:3, :3]))) / 1000.0
    counts = np.bincount(np.asarray(anatomy.labels).ravel(), minlength=256)
    for lab, s in sorted(anatomy.structures.items()):
        n = int(counts[lab]) if lab < len(counts) else 0
        rows.append(
            {
                "kind": "structure",
                "name": s.name,
                "label": int(lab),
                "material": s.material,
                "voxels": n,
                "volume_ml": n * vox_ml,
            }
        )
    if anatomy.vessel_tree is not None:
        for b in anatomy.vessel_tree:
            rows.append(
                {
                    "kind": "branch",
                    "name": b.name,
                    "parent": b.parent,
                    "points": len(b.points),
                    "length_mm": b.length,
                    "mean_radius_mm": float(b.radii.mean()),
                    "min_radius_mm": float(b.radii.min()),
                    "max_radius_mm": float(b.radii.max()),
                }
            )
    return rows
