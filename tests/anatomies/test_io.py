"""Volume readers: frames (RAS/LPS), real DICOM from pydicom's bundled test data, clear errors."""

from pathlib import Path

import numpy as np
import pydicom
import pytest

from igtwin.anatomies._io import (
    ObliqueAffineWarning,
    VolumeError,
    check_affine,
    check_labels,
    check_volume_pair,
    read_dicom_series,
    read_volume,
    write_volume,
)

DICOM_DIR = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests"
NIB_DATA = Path(__import__("nibabel").__file__).parent / "tests" / "data"


def _affine():
    a = np.diag([0.7, 0.8, 1.5, 1.0])
    a[:3, 3] = [-10.0, 20.0, 30.0]
    return a


@pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".nrrd"])
def test_roundtrip_keeps_lps_affine_and_values(tmp_path, ext):
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 50
    p = write_volume(tmp_path / f"v{ext}", arr, _affine())
    got, aff = read_volume(p)
    np.testing.assert_array_equal(got, arr)
    np.testing.assert_allclose(aff, _affine(), atol=1e-6)


def test_nifti_ras_is_converted_to_lps(tmp_path):
    import nibabel as nib

    ras = np.diag([1.0, 1.0, 1.0, 1.0])
    ras[:3, 3] = [5.0, 6.0, 7.0]  # voxel 0 at R=5, A=6, S=7 -> LPS (-5, -6, 7)
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.int16), ras), tmp_path / "a.nii.gz")
    _, aff = read_volume(tmp_path / "a.nii.gz")
    np.testing.assert_allclose(aff[:3, 3], [-5, -6, 7])
    np.testing.assert_allclose(aff[:3, :3], np.diag([-1, -1, 1]))


def test_nrrd_ras_space_is_converted(tmp_path):
    import nrrd

    hdr = {
        "space": "right-anterior-superior",
        "space directions": np.eye(3) * 2,
        "space origin": np.array([1.0, 2.0, 3.0]),
    }
    nrrd.write(str(tmp_path / "r.nrrd"), np.zeros((2, 3, 4), np.uint8), hdr)
    arr, aff = read_volume(tmp_path / "r.nrrd")
    assert arr.shape == (2, 3, 4)
    np.testing.assert_allclose(aff[:3, 3], [-1, -2, 3])
    np.testing.assert_allclose(np.diag(aff)[:3], [-2, -2, 2])


def test_nrrd_without_space_is_refused(tmp_path):
    import nrrd

    nrrd.write(str(tmp_path / "n.nrrd"), np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(VolumeError, match="space"):
        read_volume(tmp_path / "n.nrrd")


def test_real_ct_series_from_pydicom_matches_simpleitk():
    """pydicom's bundled CT series (5 slices, 2.5 mm, unsorted file names) vs SimpleITK."""
    import SimpleITK as sitk

    folder = DICOM_DIR / "98892001" / "CT5N"
    arr, aff = read_dicom_series(folder)
    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(folder)))
    im = r.Execute()
    ref = np.transpose(sitk.GetArrayFromImage(im), (2, 1, 0))
    assert arr.shape == ref.shape == (16, 16, 5)
    np.testing.assert_array_equal(arr, ref)  # HU after rescale (intercept -1024)
    np.testing.assert_allclose(aff[:3, 3], im.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(aff[:3, :3], axis=0), im.GetSpacing(), atol=1e-5)
    assert aff[2, 2] > 0  # sorted inferior -> superior
    assert arr.min() < 0  # HU, not raw stored values


def test_real_series_with_gap_is_refused():
    """77654033/CT2 jumps from z=-99.5 to z=103 mm: a gap, not one spacing."""
    with pytest.raises(VolumeError, match="non-uniform slice spacing"):
        read_dicom_series(DICOM_DIR / "77654033" / "CT2")


def test_real_series_with_mixed_orientation_is_refused():
    with pytest.raises(VolumeError, match="different orientations"):
        read_dicom_series(DICOM_DIR / "98892001" / "CT2N")


def test_folder_with_two_series_needs_uid(tmp_path):
    import shutil

    for sub in ("CT5N", "CT2N"):
        for f in (DICOM_DIR / "98892001" / sub).iterdir():
            shutil.copy(f, tmp_path / f"{sub}_{f.name}")
    with pytest.raises(VolumeError, match="series_uid"):
        read_volume(tmp_path)
    uid = str(pydicom.dcmread(DICOM_DIR / "98892001" / "CT5N" / "2062").SeriesInstanceUID)
    arr, _ = read_volume(tmp_path, series_uid=uid)
    assert arr.shape == (16, 16, 5)


@pytest.mark.skipif(not (NIB_DATA / "anatomical.nii").exists(), reason="nibabel test data absent")
def test_real_nifti_from_nibabel():
    import nibabel as nib

    arr, aff = read_volume(NIB_DATA / "anatomical.nii")
    img = nib.load(NIB_DATA / "anatomical.nii")
    assert arr.shape == img.shape[:3]
    np.testing.assert_allclose(aff, np.diag([-1, -1, 1, 1]) @ img.affine)


def test_errors_missing_and_unknown_extension(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_volume(tmp_path / "nope.nii.gz")
    (tmp_path / "x.mha5").write_text("x")
    with pytest.raises(VolumeError, match=r"unknown volume file ending '.mha5'.*\.nii"):
        read_volume(tmp_path / "x.mha5")


def test_affine_checks():
    bad = _affine()
    bad[0, 0] = np.nan
    with pytest.raises(VolumeError, match="non-finite"):
        check_affine(bad)
    sing = _affine()
    sing[:3, 2] = 0
    with pytest.raises(VolumeError, match="singular"):
        check_affine(sing)
    c, s = np.cos(0.3), np.sin(0.3)
    obl = np.eye(4)
    obl[:2, :2] = [[c, -s], [s, c]]
    with pytest.warns(ObliqueAffineWarning, match="oblique"):
        out = check_affine(obl)
    np.testing.assert_allclose(out, obl)


def test_pair_and_label_checks():
    a = np.zeros((4, 5, 6))
    with pytest.raises(VolumeError, match=r"CT shape \(4, 5, 6\) and label shape \(4, 5, 7\)"):
        check_volume_pair(a, _affine(), np.zeros((4, 5, 7)), _affine())
    shifted = _affine()
    shifted[0, 3] += 2
    with pytest.raises(VolumeError, match="(?s)CT affine.*label affine"):
        check_volume_pair(a, _affine(), a, shifted)
    with pytest.raises(VolumeError, match="empty"):
        check_labels(np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(VolumeError, match="integer"):
        check_labels(np.full((3, 3, 3), 0.5))
    assert check_labels(np.ones((2, 2, 2), np.float32)).dtype == np.uint8
