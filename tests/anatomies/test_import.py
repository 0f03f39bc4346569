"""import_anatomy end to end on phantoms with exact truth; TotalSegmentator maps; atomic saves."""

import json

import numpy as np
import pytest

from igtwin.anatomies import Anatomy, AnatomyExistsError, VesselBranch, VesselTree, tube_sdf
from igtwin.anatomies._centerline import CenterlineError, score_centerlines
from igtwin.anatomies._import import import_anatomy, lumen_sdf_from_mask
from igtwin.anatomies._io import VolumeError, write_volume
from igtwin.anatomies._totalseg import (
    TOTALSEG_CLASSES,
    UnknownStructureError,
    read_totalseg,
    structure_for,
)

TS = {n: i for i, n in TOTALSEG_CLASSES.items()}
# our branch -> TotalSegmentator class
CLASS = {
    "aorta": "aorta",
    "BCT": "brachiocephalic_trunk",
    "RSA": "subclavian_artery_right",
    "RCCA": "common_carotid_artery_right",
    "LCCA": "common_carotid_artery_left",
    "LSA": "subclavian_artery_left",
}


def arch_truth():
    th = np.linspace(0, np.pi, 25)
    rr = 25.0
    desc = np.stack([np.full(8, rr), np.zeros(8), np.linspace(-50, 0, 8)], 1)[:-1]
    arc = np.stack([rr * np.cos(th), np.zeros_like(th), rr * np.sin(th)], 1)
    asc = np.stack([np.full(6, -rr), np.zeros(6), np.linspace(0, -30, 6)], 1)[1:]
    aorta = np.vstack([desc, arc, asc])
    br = [VesselBranch("aorta", aorta, np.full(len(aorta), 10.0))]
    for name, t, d, r in [
        ("LSA", 0.28, [12.0, 0, 30], 4.0),
        ("LCCA", 0.5, [2.0, 0, 35], 3.5),
        ("BCT", 0.72, [-8.0, 0, 25], 5.0),
    ]:
        i = len(desc) + int(round(t * (len(th) - 1)))
        pts = np.linspace(aorta[i], aorta[i] + d, 8)
        br.append(VesselBranch(name, pts, np.full(8, r), parent="aorta", parent_index=i))
    e = br[-1].points[-1]
    br.append(VesselBranch("RSA", np.linspace(e, e + [-30, 5, 8], 8), np.full(8, 3.5), "BCT", 7))
    br.append(VesselBranch("RCCA", np.linspace(e, e + [-2, 0, 30], 8), np.full(8, 3.0), "BCT", 7))
    return VesselTree(br)


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    """CT (NIfTI, 0.8 mm, flipped x like many scanners) + TotalSegmentator multi-label map."""
    truth = arch_truth()
    h = 0.8
    all_sdf = tube_sdf([b.points for b in truth], [b.radii for b in truth], spacing=h, margin=8)
    shape = all_sdf.shape
    # voxel (i, j, k) -> LPS: x flipped (i runs to the patient's right), origin at the far corner
    aff = np.diag([-h, h, h, 1.0])
    aff[:3, 3] = all_sdf.origin + [h * (shape[0] - 1), 0, 0]
    lab = np.zeros(shape, np.uint8)
    ijk = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1)
    xyz = ijk @ aff[:3, :3].T + aff[:3, 3]
    for b in list(truth)[::-1]:  # the aorta last: it wins where tubes overlap
        d = tube_sdf([b.points], [b.radii], spacing=h, margin=8)
        v = d.sample(xyz)
        lab[v < 0] = TS[CLASS[b.name]]
    ct = np.where(lab > 0, 300, 40).astype(np.int16)
    ct[:, :, :3] = 700  # a "bone" slab far from the vessels
    lab[:, :, :3] = TS["vertebrae_T5"]
    d = tmp_path_factory.mktemp("patient")
    write_volume(d / "ct.nii.gz", ct, aff)
    write_volume(d / "labels.nii.gz", lab, aff)
    return truth, d, aff


def test_ct_and_totalseg_labels_import(patient, tmp_path):
    truth, d, aff = patient
    out = tmp_path / "p1"
    a = import_anatomy(
        ct=d / "ct.nii.gz", labels=d / "labels.nii.gz", out=out, progress=False, summary_png=False
    )
    np.testing.assert_allclose(a.affine, aff, atol=1e-5)
    names = {s.name: s for s in a.structures.values()}
    assert names["aorta"].material == "blood" and names["vertebrae_T5"].material == "bone_cortical"
    s = score_centerlines(a.vessel_tree, truth)
    assert s["topology_exact"], s
    assert s["mean_distance_mm"] < 1.0 and s["radius_error_pct"] < 10.0, s
    assert sorted(a.vessel_tree.names) == sorted(truth.names)
    # SDF: negative on the true centerlines, ~ -r there, positive 2 mm outside the wall
    for b in truth:
        v = a.sdf.sample(b.points[2:-2])
        assert (v < 0).all(), b.name
    p = truth["aorta"].points[10]
    # on the axis the field has a kink that trilinear sampling rounds off (the exact tube SDF
    # sampled on the same 0.5 mm grid reads -9.5 there): within 1 mm of -r
    assert abs(a.sdf.sample(p[None])[0] + 10.0) < 1.0
    assert abs(a.sdf.sample((p + [0, 12.0, 0])[None])[0] - 2.0) < 0.5
    # targets at branch ends; saved and reloadable; Slicer markups written
    assert set(a.targets) == set(truth.names)
    b = Anatomy.load(out)
    assert b.vessel_tree.names == a.vessel_tree.names
    mk = json.loads((out / "targets.mrk.json").read_text())
    assert mk["markups"][0]["coordinateSystem"] == "LPS"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_existing_out_is_kept_and_failures_leave_nothing(patient, tmp_path):
    truth, d, aff = patient
    out = tmp_path / "p"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(AnatomyExistsError, match="overwrite=True"):
        import_anatomy(ct=d / "ct.nii.gz", labels=d / "labels.nii.gz", out=out, progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    # a failing import (labels on another grid) leaves neither a partial folder nor a temp
    other = np.zeros((5, 5, 5), np.uint8)
    other[2, 2, 2] = 52
    write_volume(tmp_path / "bad.nii.gz", other, aff)
    with pytest.raises(VolumeError, match=r"CT shape .* and label shape \(5, 5, 5\)"):
        import_anatomy(
            ct=d / "ct.nii.gz",
            labels=tmp_path / "bad.nii.gz",
            out=out,
            overwrite=True,
            progress=False,
        )
    assert (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nii.gz", "p"]


def test_reimport_with_overwrite_is_idempotent(patient, tmp_path):
    _, d, _ = patient
    out = tmp_path / "p"
    kw = dict(
        ct=d / "ct.nii.gz", labels=d / "labels.nii.gz", out=out, progress=False, summary_png=False
    )
    a = import_anatomy(**kw)
    b = import_anatomy(**kw, overwrite=True)
    assert a.vessel_tree.to_json() == b.vessel_tree.to_json()
    np.testing.assert_array_equal(a.sdf.values, b.sdf.values)
    assert (out / "manifest.json").is_file()


def test_totalseg_folder_layout_and_names_json(patient, tmp_path):
    _, d, aff = patient
    import nibabel as nib

    lab = np.asarray(nib.load(d / "labels.nii.gz").dataobj)
    seg = tmp_path / "ts" / "segmentations"
    seg.mkdir(parents=True)
    for name in ("aorta", "brachiocephalic_trunk", "liver"):
        write_volume(seg / f"{name}.nii.gz", (lab == TS[name]).astype(np.uint8), aff)
    labels, aff2, structures = read_totalseg(tmp_path / "ts")
    assert {s.name for s in structures.values()} == {
        "aorta",
        "brachiocephalic_trunk",
    }  # liver empty
    assert (labels == TS["aorta"]).sum() == (lab == TS["aorta"]).sum()
    np.testing.assert_allclose(aff2, aff, atol=1e-6)
    # a custom class map as a names JSON ({"value": "name"}), values remapped to v2 indices
    small = np.where(lab == TS["aorta"], 1, 0).astype(np.uint8)
    write_volume(tmp_path / "ml.nii.gz", small, aff)
    (tmp_path / "names.json").write_text(json.dumps({"1": "aorta"}))
    labels, _, structures = read_totalseg(
        tmp_path / "ml.nii.gz", label_names=tmp_path / "names.json"
    )
    assert list(structures) == [TS["aorta"]] and labels.max() == TS["aorta"]


def test_totalseg_errors(tmp_path):
    with pytest.raises(UnknownStructureError, match=r"'aorat'.*did you mean \['aorta'"):
        structure_for("aorat")
    seg = tmp_path / "segmentations"
    seg.mkdir()
    m = np.zeros((4, 4, 4), np.uint8)
    m[1, 1, 1] = 1
    write_volume(seg / "brachiocephalic_trunc.nii.gz", m, np.eye(4))
    with pytest.raises(UnknownStructureError, match="brachiocephalic_trunk"):
        read_totalseg(tmp_path)
    write_volume(tmp_path / "x.nii.gz", m * 200, np.eye(4))
    with pytest.raises(VolumeError, match=r"label values \[200\]"):
        read_totalseg(tmp_path / "x.nii.gz")


def test_disconnected_arterial_lumen_is_refused(tmp_path):
    lab = np.zeros((30, 30, 40), np.uint8)
    lab[5:12, 5:12, 2:38] = TS["aorta"]
    lab[20:26, 20:26, 2:38] = TS["common_carotid_artery_left"]
    write_volume(tmp_path / "l.nii.gz", lab, np.eye(4))
    with pytest.raises(CenterlineError, match="disconnected: 2 separate parts"):
        import_anatomy(labels=tmp_path / "l.nii.gz", progress=False)


def test_sdf_from_mask_matches_exact_tube():
    """Signed EDT + trilinear resampling vs the exact tube SDF: within 0.25 mm near the wall."""
    truth = arch_truth()
    exact = tube_sdf([b.points for b in truth], [b.radii for b in truth], spacing=0.8, margin=8)
    aff = np.diag([0.8, 0.8, 0.8, 1.0])
    aff[:3, 3] = exact.origin
    sdf = lumen_sdf_from_mask(exact.values < 0, aff, spacing=0.5)
    ref = tube_sdf([b.points for b in truth], [b.radii for b in truth], spacing=0.5, margin=4)
    g = np.stack(
        np.meshgrid(
            *[ref.origin[d] + 0.5 * np.arange(ref.shape[d]) for d in range(3)], indexing="ij"
        ),
        -1,
    )
    near = np.abs(ref.values) < 2.0
    err = np.abs(sdf.sample(g[near]) - ref.values[near])
    assert err.mean() < 0.25 and np.percentile(err, 99) < 0.6, (err.mean(), err.max())


@pytest.mark.slow
def test_organ_tets_with_pytetwild(tmp_path):
    """Optional step: a ball-shaped 'liver' label meshed into tetrahedra (volume within 5 %)."""
    pytest.importorskip("pytetwild")
    n = 48
    ijk = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1)
    lab = (np.linalg.norm(ijk - 23.5, axis=-1) < 18).astype(np.uint8) * TS["liver"]
    write_volume(tmp_path / "l.nii.gz", lab, np.eye(4))
    a = import_anatomy(
        labels=tmp_path / "l.nii.gz",
        progress=False,
        tets=["liver"],
        out=tmp_path / "a",
        summary_png=False,
    )
    import pyvista as pv

    grid = pv.read(tmp_path / "a" / "meshes" / "liver.tets.vtu")
    vol = grid.volume
    assert abs(vol - (lab > 0).sum()) / (lab > 0).sum() < 0.05, vol
    assert (tmp_path / "a" / "meshes" / "liver.tets.vtu").is_file()
    assert a.meta["tets"]["liver"] > 100


def test_dicom_series_ct_with_labels_on_its_grid(tmp_path):
    """pydicom's bundled CT series as the CT: labels written on its grid import with it."""
    from pathlib import Path

    import pydicom

    folder = Path(pydicom.__file__).parent / "data/test_files/dicomdirtests/98892001/CT5N"
    from igtwin.anatomies._io import read_volume

    ct, aff = read_volume(folder)
    lab = np.zeros(ct.shape, np.uint8)
    lab[4:12, 4:12, :] = TS["liver"]
    write_volume(tmp_path / "lab.nii.gz", lab, aff)
    a = import_anatomy(ct=folder, labels=tmp_path / "lab.nii.gz", progress=False)
    np.testing.assert_array_equal(a.ct_hu, ct)
    np.testing.assert_allclose(a.affine, aff, atol=1e-4)
    assert a.structure("liver").material == "soft_tissue" and a.vessel_tree is None
