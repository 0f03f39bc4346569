"""TotalSegmentator label maps -> our structures (name, material) and the arterial lumen.

TotalSegmentator (Wasserthal et al. 2023) segments 117 classes in its v2 ``total`` task. Its
outputs come in two layouts, both read here:

- one multi-label NIfTI (``--ml``) whose values follow the ``total`` class map (or a class map
  given as a names JSON: ``{"1": "spleen", ...}``, ``{"spleen": 1, ...}`` or a list of names);
- a folder of binary masks, ``segmentations/<name>.nii.gz``, one per class.

Structure names are TotalSegmentator's class names (``aorta``, ``brachiocephalic_trunk``,
``vertebrae_T5``, ``rib_left_3`` ...); label values are the v2 ``total`` indices, so a label
means the same thing whichever layout it came from. Materials follow the imaging table
(``anatomies/_materials.py``): lungs ``lung``, airways ``air``, bones ``bone_cortical``,
vessels and heart ``blood``, fat ``adipose``, everything else ``soft_tissue``.

References
----------
J. Wasserthal et al. (2023). TotalSegmentator: robust segmentation of 104 anatomic structures in
CT images. Radiology: Artificial Intelligence 5(5):e230024. Class map of the v2 ``total`` task:
``totalsegmentator/map_to_binary.py`` (``class_map["total"]``).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ._anatomy import Structure
from ._io import VolumeError, check_volume_pair, read_volume

__all__ = [
    "TOTALSEG_CLASSES",
    "ARTERIES",
    "UnknownStructureError",
    "structure_for",
    "material_for",
    "read_totalseg",
]


def _total_v2() -> dict[int, str]:
    names = (
        "spleen kidney_right kidney_left gallbladder liver stomach pancreas adrenal_gland_right "
        "adrenal_gland_left lung_upper_lobe_left lung_lower_lobe_left lung_upper_lobe_right "
        "lung_middle_lobe_right lung_lower_lobe_right esophagus trachea thyroid_gland small_bowel "
        "duodenum colon urinary_bladder prostate kidney_cyst_left kidney_cyst_right sacrum"
    ).split()
    names += ["vertebrae_S1"] + [f"vertebrae_L{i}" for i in range(5, 0, -1)]
    names += [f"vertebrae_T{i}" for i in range(12, 0, -1)]
    names += [f"vertebrae_C{i}" for i in range(7, 0, -1)]
    names += (
        "heart aorta pulmonary_vein brachiocephalic_trunk subclavian_artery_right "
        "subclavian_artery_left common_carotid_artery_right common_carotid_artery_left "
        "brachiocephalic_vein_left brachiocephalic_vein_right atrial_appendage_left "
        "superior_vena_cava inferior_vena_cava portal_vein_and_splenic_vein iliac_artery_left "
        "iliac_artery_right iliac_vena_left iliac_vena_right humerus_left humerus_right "
        "scapula_left scapula_right clavicula_left clavicula_right femur_left femur_right "
        "hip_left hip_right spinal_cord gluteus_maximus_left gluteus_maximus_right "
        "gluteus_medius_left gluteus_medius_right gluteus_minimus_left gluteus_minimus_right "
        "autochthon_left autochthon_right iliopsoas_left iliopsoas_right brain skull"
    ).split()
    names += [f"rib_left_{i}" for i in range(1, 13)] + [f"rib_right_{i}" for i in range(1, 13)]
    names += ["sternum", "costal_cartilages"]
    return {i + 1: n for i, n in enumerate(names)}


#: TotalSegmentator v2 ``total`` task: label value -> class name (117 classes).
TOTALSEG_CLASSES: dict[int, str] = _total_v2()
_INDEX = {n: i for i, n in TOTALSEG_CLASSES.items()}
#: Names from other TotalSegmentator tasks that we also accept (label values above 117).
_EXTRA = [
    "pulmonary_artery",
    "internal_carotid_artery_left",
    "internal_carotid_artery_right",
    "vertebral_artery_left",
    "vertebral_artery_right",
    "heart_myocardium",
    "heart_atrium_left",
    "heart_ventricle_left",
    "heart_atrium_right",
    "heart_ventricle_right",
    "subcutaneous_fat",
    "torso_fat",
    "skeletal_muscle",
    "liver_vessels",
    "liver_tumor",
    "lung_vessels",
    "lung_trachea_bronchia",
    "lung_nodules",
]
for _k, _n in enumerate(_EXTRA):
    _INDEX.setdefault(_n, 118 + _k)
#: Arterial classes that form the lumen a catheter travels in.
ARTERIES = frozenset(
    {
        "aorta",
        "brachiocephalic_trunk",
        "subclavian_artery_left",
        "subclavian_artery_right",
        "common_carotid_artery_left",
        "common_carotid_artery_right",
        "iliac_artery_left",
        "iliac_artery_right",
        "internal_carotid_artery_left",
        "internal_carotid_artery_right",
        "vertebral_artery_left",
        "vertebral_artery_right",
    }
)
_BONE = (
    "vertebrae_",
    "rib_",
    "humerus",
    "scapula",
    "clavicula",
    "femur",
    "hip_",
    "sternum",
    "skull",
    "sacrum",
)
_BLOOD = (
    "artery",
    "arteries",
    "aorta",
    "brachiocephalic",
    "vein",
    "vena",
    "heart",
    "atrial_appendage",
    "atrium",
    "ventricle",
    "liver_vessels",
    "lung_vessels",
)


class UnknownStructureError(ValueError):
    """A structure name that is not a TotalSegmentator class (message lists close names)."""


def _check_name(name: str) -> str:
    if name not in _INDEX:
        close = difflib.get_close_matches(name, list(_INDEX), n=4, cutoff=0.6)
        hint = f"; did you mean {close}?" if close else ""
        raise UnknownStructureError(
            f"unknown TotalSegmentator class {name!r}{hint} (known: the 117 classes of the v2 "
            "'total' task, see TOTALSEG_CLASSES, and a few of other tasks)"
        )
    return name


def material_for(name: str) -> str:
    """Imaging material of a TotalSegmentator class (see module notes).

    Raises
    ------
    UnknownStructureError
        If ``name`` is not a known class.
    """
    _check_name(name)
    if name.startswith("lung_") and name not in ("lung_vessels", "lung_nodules"):
        return "air" if name == "lung_trachea_bronchia" else "lung"
    if name in ("trachea",):
        return "air"
    if name.startswith(_BONE):
        return "bone_cortical"
    if name == "costal_cartilages":
        return "soft_tissue"
    if any(k in name for k in _BLOOD) and "myocardium" not in name:
        return "blood"
    if name.endswith("_fat"):
        return "adipose"
    return "soft_tissue"


def structure_for(name: str) -> Structure:
    """Our :class:`Structure` for a TotalSegmentator class: v2 label value, name, material."""
    return Structure(label=_INDEX[_check_name(name)], name=name, material=material_for(name))


def _class_map(label_names) -> dict[int, str]:
    """Normalise a names JSON / dict / list into {label value: class name}."""
    if label_names is None:
        return dict(TOTALSEG_CLASSES)
    if isinstance(label_names, (str, Path)):
        p = Path(label_names)
        if not p.is_file():
            raise FileNotFoundError(f"label names JSON {str(p)!r} does not exist")
        label_names = json.loads(p.read_text())
    if isinstance(label_names, (list, tuple)):
        return {i + 1: str(n) for i, n in enumerate(label_names)}
    if isinstance(label_names, dict):
        out = {}
        for k, v in label_names.items():
            if isinstance(v, (int, np.integer)) and not str(k).lstrip("-").isdigit():
                out[int(v)] = str(k)  # {"aorta": 52}
            else:
                out[int(k)] = str(v)  # {"52": "aorta"}
        return out
    raise TypeError(
        f"`label_names` must be a JSON path, dict or list of names, got {type(label_names).__name__}"
    )


def read_totalseg(
    path: str | Path, *, label_names=None, reference: tuple[NDArray, NDArray] | None = None
) -> tuple[NDArray, NDArray, dict[int, Structure]]:
    """Read a TotalSegmentator result into (labels, affine voxel -> LPS mm, structures).

    Parameters
    ----------
    path : str or Path
        A multi-label NIfTI/NRRD, or a folder of ``<name>.nii.gz`` masks (the folder itself or
        one holding ``segmentations/``).
    label_names : path, dict or list, optional
        Class map of a multi-label file (default: the v2 ``total`` task). Ignored for folders
        (the file names are the class names).
    reference : (array, affine), optional
        The CT grid the labels must share (checked; both named in the error).

    Returns
    -------
    labels : ndarray (I, J, K), uint8
        Values are v2 ``total`` indices (classes of other tasks above 117).
    affine : ndarray (4, 4)
        Voxel index -> LPS mm.
    structures : dict of int to Structure
        Only the classes present in the map.

    Raises
    ------
    UnknownStructureError
        A class name that TotalSegmentator does not have (close names listed).
    VolumeError
        Empty map, label values absent from the class map, or a grid that differs from
        ``reference``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"TotalSegmentator output {str(path)!r} does not exist")
    if path.is_dir():
        folder = path / "segmentations" if (path / "segmentations").is_dir() else path
        files = sorted(folder.glob("*.nii.gz")) + sorted(folder.glob("*.nii"))
        if not files:
            raise VolumeError(f"{folder}: no <name>.nii.gz masks (TotalSegmentator layout)")
        labels = affine = None
        structures: dict[int, Structure] = {}
        for f in files:
            name = f.name.removesuffix(".gz").removesuffix(".nii")
            s = structure_for(name)
            m, a = read_volume(f)
            if labels is None:
                labels, affine = np.zeros(m.shape, np.uint8), a
            check_volume_pair(labels, affine, m, a)
            if m.any():
                labels[np.asarray(m) > 0] = s.label
                structures[s.label] = s
    else:
        raw, affine = read_volume(path)
        cmap = _class_map(label_names)
        values = np.unique(raw)
        missing = sorted(int(v) for v in values if v != 0 and int(v) not in cmap)
        if missing:
            raise VolumeError(
                f"{path.name}: label values {missing[:10]} are not in the class map "
                f"({len(cmap)} classes); pass the right `label_names`"
            )
        labels = np.zeros(raw.shape, np.uint8)
        structures = {}
        lut = np.zeros(int(values.max()) + 1, np.uint8)
        for v in values:
            if v == 0:
                continue
            s = structure_for(cmap[int(v)])
            lut[int(v)] = s.label
            structures[s.label] = s
        labels = lut[np.asarray(raw).astype(np.int64)]
    if not labels.any():
        raise VolumeError(f"{path}: the label map is empty (no structure)")
    if reference is not None:
        check_volume_pair(reference[0], reference[1], labels, affine)
    return labels, affine, dict(sorted(structures.items()))
