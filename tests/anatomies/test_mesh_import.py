"""Lumen meshes: validation errors named, voxeliser vs vtk, mesh -> Anatomy against tube truth."""

import numpy as np
import pytest
import pyvista as pv

from igtwin.anatomies import VesselBranch, VesselTree, tube_sdf
from igtwin.anatomies._centerline import score_centerlines
from igtwin.anatomies._import import import_anatomy
from igtwin.anatomies._mesh_import import (
    MeshError,
    check_lumen_mesh,
    mesh_lumen_mask,
    read_lumen_mesh,
    self_intersections,
)


def sphere(r=10.0, c=(0, 0, 0)):
    return pv.Sphere(radius=r, center=c, theta_resolution=40, phi_resolution=40).triangulate()


def y_tree():
    """A trunk dividing into two limbs (exact tubes) and its lumen surface (marching cubes)."""
    trunk = np.linspace([0, 0, -40.0], [0, 0, 0.0], 9)
    left = np.linspace([0, 0, 0.0], [20, 0, 30.0], 9)
    right = np.linspace([0, 0, 0.0], [-22, 4, 28.0], 9)
    br = [
        VesselBranch("trunk", trunk, np.full(9, 6.0)),
        VesselBranch("trunk_1", left, np.full(9, 3.5), "trunk", 8),
        VesselBranch("trunk_2", right, np.full(9, 3.0), "trunk", 8),
    ]
    truth = VesselTree(br)
    sdf = tube_sdf([b.points for b in br], [b.radii for b in br], spacing=0.4, margin=3)
    grid = pv.ImageData(dimensions=sdf.shape, spacing=(sdf.spacing,) * 3, origin=sdf.origin)
    grid.point_data["sdf"] = sdf.values.ravel(order="F")
    surf = grid.contour([0.0], scalars="sdf").triangulate().clean()
    return truth, surf


def test_voxeliser_matches_vtk_enclosed_points():
    s = sphere()
    mask, aff = mesh_lumen_mask(s, spacing=0.5)
    g = pv.ImageData(dimensions=mask.shape, spacing=(0.5,) * 3, origin=aff[:3, 3])
    if hasattr(g, "select_interior_points"):
        ref = g.select_interior_points(s).point_data["selected_points"]
    else:  # older pyvista
        ref = g.select_enclosed_points(s).point_data["SelectedPoints"]
    ref = np.asarray(ref).reshape(mask.shape, order="F").astype(bool)
    assert (ref != mask).sum() <= 0.001 * mask.sum()
    # volume of the voxelised sphere within 1 % of the polyhedron's
    assert abs(mask.sum() * 0.125 - s.volume) / s.volume < 0.01


def test_errors_name_the_problem(tmp_path):
    s = sphere()
    with pytest.raises(MeshError, match="not watertight: .* boundary edges"):
        check_lumen_mesh(s.remove_cells([0, 1, 2]))
    with pytest.raises(MeshError, match="self-intersecting"):
        check_lumen_mesh(s.merge(sphere(c=(6, 0, 0))))
    with pytest.raises(MeshError, match="disconnected: 2 separate surfaces"):
        check_lumen_mesh(s.merge(sphere(c=(40, 0, 0))))
    # three triangles on one edge: non-manifold
    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1.0]])
    fan = pv.PolyData(pts, faces=np.array([3, 0, 1, 2, 3, 0, 1, 3, 3, 0, 1, 4]))
    with pytest.raises(MeshError, match="non-manifold: 1 edges"):
        check_lumen_mesh(fan)
    with pytest.raises(FileNotFoundError):
        read_lumen_mesh(tmp_path / "none.stl")
    (tmp_path / "x.3ds").write_text("x")
    with pytest.raises(MeshError, match=r"unknown mesh file ending '.3ds'"):
        read_lumen_mesh(tmp_path / "x.3ds")


def test_self_intersection_finder_is_quiet_on_clean_meshes():
    s = sphere()
    assert len(self_intersections(s.points, s.regular_faces)) == 0


@pytest.mark.parametrize("ext", [".stl", ".vtp"])
def test_mesh_import_to_anatomy(tmp_path, ext):
    truth, surf = y_tree()
    path = tmp_path / f"lumen{ext}"
    surf.save(path)
    a = import_anatomy(mesh=path, out=tmp_path / "a", progress=False, summary_png=False)
    s = score_centerlines(a.vessel_tree, truth)
    assert s["topology_exact"] and s["junctions"] == 1 and s["ends"] == 3, s
    assert s["mean_distance_mm"] < 1.0 and s["radius_error_pct"] < 10.0, s
    # the SDF: inside on the true axes, about +1 mm one millimetre outside the trunk wall
    for b in truth:
        assert (a.sdf.sample(b.points[1:-1]) < 0).all(), b.name
    assert abs(a.sdf.sample(np.array([[7.0, 0.0, -20.0]]))[0] - 1.0) < 0.3
    # a synthetic thorax CT around it, the lumen labelled as blood
    assert a.ct_hu.shape == a.labels.shape and a.ct_hu.min() <= -800  # air / lungs present
    lumen = a.structure("arteries")
    assert lumen.material == "blood" and (a.labels == lumen.label).sum() > 0
    assert (tmp_path / "a" / "manifest.json").is_file()


def test_mesh_in_ras_is_converted(tmp_path):
    s = sphere(c=(30, 20, 5))
    s.save(tmp_path / "s.stl")
    m = read_lumen_mesh(tmp_path / "s.stl", frame="RAS")
    np.testing.assert_allclose(np.asarray(m.center), [-30, -20, 5], atol=0.1)
