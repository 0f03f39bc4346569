"""Volume readers: NIfTI, NRRD and DICOM series into (array, affine voxel -> LPS mm).

Conventions
-----------
- Every reader returns ``(array, affine)``: ``array`` is indexed ``(i, j, k)`` and ``affine`` is the
  4x4 matrix from voxel index ``(i, j, k, 1)`` to patient LPS millimetres (+x left, +y posterior,
  +z superior), as DICOM stores it.
- NIfTI stores RAS: its affine is converted by ``diag(-1, -1, 1, 1)``. NRRD states its frame in
  the ``space`` field (``left-posterior-superior`` or ``right-anterior-superior`` and their short
  forms); a NRRD without ``space`` is refused rather than guessed.
- DICOM series are read with pydicom, sorted by position along the slice normal, and checked for
  one orientation, one pixel grid and uniform slice spacing. For a DICOM slice, ``i`` runs along
  the row direction (columns), ``j`` along the column direction (rows), ``k`` across slices.
- Oblique affines (axes not aligned with L, P, S) are accepted; an :class:`ObliqueAffineWarning`
  says so, because the lumen SDF grid is axis-aligned and resampling is then needed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "VolumeError",
    "ObliqueAffineWarning",
    "read_volume",
    "read_dicom_series",
    "write_volume",
    "check_affine",
    "check_volume_pair",
    "check_labels",
    "is_oblique",
]

#: NIfTI stores RAS; LPS = diag(-1, -1, 1) . RAS.
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: File endings :func:`read_volume` understands (a folder is read as a DICOM series).
SUPPORTED = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".dcm", "<DICOM folder>")
_NRRD_SPACES = {
    "left-posterior-superior": "LPS",
    "lps": "LPS",
    "right-anterior-superior": "RAS",
    "ras": "RAS",
}


class VolumeError(ValueError):
    """A volume file or array that cannot be used as it is (the message names why)."""


class ObliqueAffineWarning(UserWarning):
    """The volume's axes are not aligned with the patient L, P, S axes."""


# ---------------------------------------------------------------------------- checks
def is_oblique(affine: NDArray, *, tol: float = 1e-3) -> bool:
    """True if the affine's axes are not (anti)parallel to L, P, S (direction cosines, ``tol``)."""
    a = np.asarray(affine, dtype=np.float64)[:3, :3]
    d = a / np.linalg.norm(a, axis=0, keepdims=True)
    return bool(np.any(np.abs(np.abs(d).max(axis=0) - 1.0) > tol))


def check_affine(affine: NDArray, *, name: str = "affine", warn_oblique: bool = True) -> NDArray:
    """Validate a voxel -> LPS mm affine and return it as a float64 (4, 4) array.

    Raises
    ------
    VolumeError
        Not 4x4, not finite, last row not ``[0, 0, 0, 1]``, or singular (a zero voxel size or
        collapsed axes).
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4):
        raise VolumeError(f"`{name}` must be a 4x4 matrix, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise VolumeError(f"`{name}` has non-finite entries (NaN or inf):\n{a}")
    if not np.allclose(a[3], [0, 0, 0, 1]):
        raise VolumeError(f"`{name}` last row must be [0, 0, 0, 1], got {a[3]}")
    sizes = np.linalg.norm(a[:3, :3], axis=0)
    if sizes.min() < 1e-6 or abs(np.linalg.det(a[:3, :3])) < 1e-9 * max(sizes.prod(), 1e-30):
        raise VolumeError(
            f"`{name}` is singular (voxel sizes {np.round(sizes, 6).tolist()} mm, "
            f"det {np.linalg.det(a[:3, :3]):.3g}); expected three independent axes"
        )
    if warn_oblique and is_oblique(a):
        warnings.warn(
            f"`{name}` is oblique (axes not aligned with L, P, S); it is kept as is, "
            "grids derived from it (lumen SDF) are resampled axis-aligned",
            ObliqueAffineWarning,
            stacklevel=2,
        )
    return a


def check_volume_pair(
    ct: NDArray, ct_affine: NDArray, labels: NDArray, labels_affine: NDArray, *, atol: float = 1e-3
) -> None:
    """Check that CT and labels share one grid: same shape and affine (within ``atol`` mm).

    Raises
    ------
    VolumeError
        Naming both shapes or both affines.
    """
    if ct.shape != labels.shape:
        raise VolumeError(
            f"CT shape {ct.shape} and label shape {labels.shape} differ; resample the labels "
            "onto the CT grid first"
        )
    a, b = np.asarray(ct_affine, float), np.asarray(labels_affine, float)
    if not np.allclose(a, b, atol=atol):
        with np.printoptions(precision=4, suppress=True):
            raise VolumeError(
                f"CT and label affines differ by up to {np.abs(a - b).max():.4g} mm "
                f"(tolerance {atol} mm):\nCT affine (voxel->LPS mm)\n{a}\n"
                f"label affine (voxel->LPS mm)\n{b}"
            )


def check_labels(labels: NDArray, *, name: str = "labels") -> NDArray:
    """Validate a label map (integer-valued, >= 0, not empty) and return it as an integer array.

    Raises
    ------
    VolumeError
        Non-integer or negative values, or no non-zero voxel.
    """
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise VolumeError(f"`{name}` must be 3-D, got shape {lab.shape}")
    if not np.issubdtype(lab.dtype, np.integer):
        if not np.isfinite(lab).all() or not np.array_equal(lab, np.round(lab)):
            raise VolumeError(f"`{name}` must hold integer label values, got dtype {lab.dtype}")
        lab = lab.astype(np.int32)
    if lab.size and lab.min() < 0:
        raise VolumeError(f"`{name}` has negative values (min {lab.min()}); labels are >= 0")
    if not lab.any():
        raise VolumeError(f"`{name}` is empty: every voxel is 0 (background)")
    mx = int(lab.max())
    return lab.astype(np.uint8 if mx < 256 else np.uint16, copy=False)


# ---------------------------------------------------------------------------- readers
def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".dcm"):
        if name.endswith(s):
            return s
    return path.suffix.lower()


def read_volume(path: str | Path, *, series_uid: str | None = None) -> tuple[NDArray, NDArray]:
    """Read a 3-D volume and its voxel -> LPS mm affine.

    Parameters
    ----------
    path : str or Path
        A ``.nii``/``.nii.gz`` (RAS, converted), ``.nrrd``/``.nhdr`` (``space`` LPS or RAS), or a
        folder of DICOM files (one series; see :func:`read_dicom_series`).
    series_uid : str, optional
        For a DICOM folder holding several series: which one.

    Returns
    -------
    array : ndarray, shape (I, J, K)
        Values as stored after rescaling (HU for CT; label values for label maps). Integer data
        stays integer; scaled data becomes float32.
    affine : ndarray, shape (4, 4)
        Voxel index -> patient LPS (mm).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    VolumeError
        Unknown file ending, not 3-D, or a bad affine / header.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"volume {str(path)!r} does not exist")
    if path.is_dir():
        return read_dicom_series(path, series_uid=series_uid)
    suf = _suffix(path)
    if suf in (".nii", ".nii.gz"):
        arr, aff = _read_nifti(path)
    elif suf in (".nrrd", ".nhdr"):
        arr, aff = _read_nrrd(path)
    elif suf == ".dcm":
        return read_dicom_series(path.parent, series_uid=series_uid)
    else:
        raise VolumeError(
            f"unknown volume file ending {suf!r} for {path.name!r}; expected one of {SUPPORTED}"
        )
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise VolumeError(f"{path.name}: expected a 3-D volume, got shape {arr.shape}")
    return arr, check_affine(aff, name=f"{path.name} affine")


def _as_values(arr: NDArray) -> NDArray:
    arr = np.asarray(arr)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise VolumeError("volume contains NaN or inf values")
        if np.array_equal(arr, np.round(arr)) and np.abs(arr).max(initial=0) < 32768:
            return arr.astype(
                np.int16 if arr.min(initial=0) < 0 or arr.max(initial=0) > 255 else np.uint8
            )
        return arr.astype(np.float32)
    return arr


def _read_nifti(path: Path) -> tuple[NDArray, NDArray]:
    import nibabel as nib

    try:
        img = nib.load(str(path))
    except Exception as e:  # nibabel raises several types for corrupt headers
        raise VolumeError(f"{path.name}: not a readable NIfTI file ({e})") from e
    aff = img.affine
    if aff is None or not np.isfinite(aff).all():
        raise VolumeError(f"{path.name}: NIfTI affine is missing or non-finite:\n{aff}")
    slope, inter = img.dataobj.slope, img.dataobj.inter
    raw = np.asanyarray(img.dataobj)
    if (slope in (None, 1.0) or np.isnan(slope)) and (inter in (None, 0.0) or np.isnan(inter)):
        arr = np.asarray(raw)
    else:
        arr = _as_values(raw)
    return arr, RAS_TO_LPS @ np.asarray(aff, dtype=np.float64)


def _read_nrrd(path: Path) -> tuple[NDArray, NDArray]:
    import nrrd

    try:
        data, hdr = nrrd.read(str(path))
    except Exception as e:
        raise VolumeError(f"{path.name}: not a readable NRRD file ({e})") from e
    space = str(hdr.get("space", "")).lower()
    if space not in _NRRD_SPACES:
        raise VolumeError(
            f"{path.name}: NRRD `space` field is {hdr.get('space')!r}; expected one of "
            f"{sorted(_NRRD_SPACES)} (without it the patient frame is unknown)"
        )
    dirs = hdr.get("space directions")
    origin = hdr.get("space origin")
    if dirs is None or origin is None:
        raise VolumeError(f"{path.name}: NRRD lacks `space directions` or `space origin`")
    dirs = np.asarray(
        [d for d in dirs if d is not None and not np.isnan(np.asarray(d, float)).all()],
        dtype=np.float64,
    )
    if dirs.shape != (3, 3):
        raise VolumeError(f"{path.name}: expected 3 spatial axes, `space directions` is {dirs}")
    aff = np.eye(4)
    aff[:3, :3] = dirs.T  # row a of `space directions` is the step of axis a
    aff[:3, 3] = np.asarray(origin, dtype=np.float64)
    if _NRRD_SPACES[space] == "RAS":
        aff = RAS_TO_LPS @ aff
    return np.asarray(data), aff


def read_dicom_series(
    folder: str | Path, *, series_uid: str | None = None, tol: float = 0.01
) -> tuple[NDArray, NDArray]:
    """Read one DICOM series from a folder into (array, affine voxel -> LPS mm).

    Slices are sorted by their position along the slice normal (the cross product of the two
    ``ImageOrientationPatient`` cosines); rescale slope/intercept are applied (HU for CT).

    Parameters
    ----------
    folder : str or Path
        Folder with the series' files (other files, e.g. DICOMDIR, are skipped).
    series_uid : str, optional
        Which series to read when the folder holds several.
    tol : float, default: 0.01
        Relative tolerance on uniform slice spacing and identical orientation.

    Raises
    ------
    FileNotFoundError
        ``folder`` does not exist.
    VolumeError
        No image slices, several series without ``series_uid``, mixed orientations or pixel
        grids, duplicated positions, or non-uniform slice spacing (a gap).
    """
    import pydicom

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"DICOM folder {str(folder)!r} does not exist")
    headers = []
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:
            continue
        if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds and "Rows" in ds:
            headers.append((f, ds))
    if not headers:
        raise VolumeError(f"{folder}: no DICOM image slices (with position and orientation)")
    series = sorted({str(ds.SeriesInstanceUID) for _, ds in headers})
    if series_uid is not None:
        if series_uid not in series:
            raise VolumeError(f"{folder}: no series {series_uid!r}; it holds {series}")
        headers = [(f, ds) for f, ds in headers if str(ds.SeriesInstanceUID) == series_uid]
    elif len(series) > 1:
        raise VolumeError(f"{folder} holds {len(series)} series {series}; pass `series_uid`")
    iops = np.array([np.asarray(ds.ImageOrientationPatient, float) for _, ds in headers])
    if np.abs(iops - iops[0]).max() > tol:
        raise VolumeError(
            f"{folder}: slices have different orientations (ImageOrientationPatient), e.g. "
            f"{iops[0].tolist()} and {iops[np.abs(iops - iops[0]).max(1).argmax()].tolist()}"
        )
    grids = {
        (int(ds.Rows), int(ds.Columns), tuple(float(x) for x in ds.PixelSpacing))
        for _, ds in headers
    }
    if len(grids) > 1:
        raise VolumeError(f"{folder}: slices have different pixel grids {sorted(grids)}")
    row, col = iops[0][:3], iops[0][3:]
    normal = np.cross(row, col)
    pos = np.array([np.asarray(ds.ImagePositionPatient, float) for _, ds in headers])
    order = np.argsort(pos @ normal)
    headers = [headers[i] for i in order]
    pos = pos[order]
    n = len(headers)
    dr, dc = (float(x) for x in headers[0][1].PixelSpacing)  # row spacing, column spacing
    if n > 1:
        steps = np.diff(pos @ normal)
        if steps.min() <= 1e-6:
            raise VolumeError(f"{folder}: two slices share one position along the normal")
        if np.abs(steps - steps.mean()).max() > tol * max(steps.mean(), 1e-6) + 1e-3:
            raise VolumeError(
                f"{folder}: non-uniform slice spacing {np.round(steps, 4).tolist()} mm "
                "(missing slices?); expected one spacing"
            )
        kvec = (pos[-1] - pos[0]) / (n - 1)
    else:
        thick = float(getattr(headers[0][1], "SliceThickness", 0) or 1.0)
        kvec = normal * thick
    aff = np.eye(4)
    aff[:3, 0] = row * dc
    aff[:3, 1] = col * dr
    aff[:3, 2] = kvec
    aff[:3, 3] = pos[0]
    slices = []
    for f, _ in headers:
        ds = pydicom.dcmread(f)
        px = ds.pixel_array.astype(np.float64)
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        inter = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        slices.append((px * slope + inter).T)  # (rows, cols) -> (i = col, j = row)
    arr = np.stack(slices, axis=2)
    if np.array_equal(arr, np.round(arr)) and np.abs(arr).max() < 32768:
        arr = arr.astype(np.int16)
    else:
        arr = arr.astype(np.float32)
    return arr, check_affine(aff, name=f"{folder.name} affine")


# ---------------------------------------------------------------------------- writer
def write_volume(path: str | Path, array: NDArray, affine: NDArray) -> Path:
    """Write a 3-D volume with its voxel -> LPS mm affine as NIfTI (RAS) or NRRD (LPS).

    Parameters
    ----------
    path : str or Path
        ``.nii``, ``.nii.gz`` or ``.nrrd``.
    array : ndarray, shape (I, J, K)
    affine : ndarray, shape (4, 4)
        Voxel index -> LPS mm.
    """
    path = Path(path)
    arr = np.asarray(array)
    aff = check_affine(affine, warn_oblique=False)
    suf = _suffix(path)
    if suf in (".nii", ".nii.gz"):
        import nibabel as nib

        img = nib.Nifti1Image(arr, RAS_TO_LPS @ aff)
        img.set_qform(RAS_TO_LPS @ aff, code=1)
        img.set_sform(RAS_TO_LPS @ aff, code=1)
        nib.save(img, str(path))
    elif suf == ".nrrd":
        import nrrd

        hdr = {
            "space": "left-posterior-superior",
            "space directions": aff[:3, :3].T,
            "space origin": aff[:3, 3],
        }
        nrrd.write(str(path), arr, hdr)
    else:
        raise VolumeError(f"cannot write {path.name!r}; expected .nii, .nii.gz or .nrrd")
    return path
