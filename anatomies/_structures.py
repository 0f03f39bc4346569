"""The standard label table of the procedural anatomies, with nominal CT numbers.

One table serves every generator (aortic arch, thorax, liver, lung) so that a label value means
the same structure in every built-in anatomy. Materials are names from
:data:`igtwin.anatomies.MATERIALS` (``soft_tissue``, ``adipose``, ``blood``, ``lung``, ``air``,
``bone``); the imager overrides HU by the material table inside ``blood``, ``air`` and ``lung``
labels and maps HU to densities elsewhere (see :func:`material_volume`).

Nominal HU (mean of the tissue in adult CT, 120 kVp): air −1000, aerated lung −850 to −750, fat
−100 (−120 to −80), muscle 50, unenhanced blood 40, liver 55–65, cancellous bone 200–300,
cortical bone 1000–1500. Sources: Hounsfield units tables in Lev & Gonzalez, *CT Angiography*
(2002); Schneider et al., Phys Med Biol 45 (2000) 459 (tissue HU and densities); Kalender,
*Computed Tomography* 3rd ed. (2011), Fig. 1.7.
"""

from __future__ import annotations

from ._anatomy import Structure

__all__ = ["STANDARD_LABELS", "NOMINAL_HU", "standard_structures", "label_of"]

#: name → (label value, material). Values are stable across versions (files depend on them).
STANDARD_LABELS: dict[str, tuple[int, str]] = {
    # vessels (lumen)
    "aorta": (1, "blood"),
    "arteries": (2, "blood"),  # supra-aortic branches (BCT, carotids, subclavians, vertebral)
    "hepatic_vessels": (3, "blood"),
    "heart": (4, "soft_tissue"),
    # thorax
    "lungs": (10, "lung"),
    "airway": (11, "air"),
    "body": (12, "soft_tissue"),  # muscle, skin, mediastinal soft tissue, organs not listed
    "fat": (13, "adipose"),
    "spine": (20, "bone"),
    "intervertebral_discs": (21, "soft_tissue"),
    "ribs": (22, "bone"),
    "sternum": (23, "bone"),
    "clavicles": (24, "bone"),
    "costal_cartilage": (25, "soft_tissue"),
    "spinal_canal": (26, "soft_tissue"),
    # abdomen
    "liver": (30, "soft_tissue"),
    "lesion": (31, "soft_tissue"),
    "stomach_gas": (32, "air"),
    "kidneys": (33, "soft_tissue"),
    "nodule": (34, "soft_tissue"),
}

#: name → nominal HU used by the generators (mean; textures add a few HU of noise).
NOMINAL_HU: dict[str, float] = {
    "air": -1000.0,
    "aorta": 40.0,
    "arteries": 40.0,
    "hepatic_vessels": 45.0,
    "heart": 42.0,
    "lungs": -820.0,
    "airway": -990.0,
    "body": 45.0,
    "muscle": 50.0,
    "skin": 30.0,
    "fat": -100.0,
    "cortical_bone": 1200.0,
    "cancellous_bone": 250.0,
    "intervertebral_discs": 85.0,
    "costal_cartilage": 120.0,
    "spinal_canal": 15.0,
    "liver": 60.0,
    "lesion": 30.0,
    "stomach_gas": -1000.0,
    "kidneys": 35.0,
    "nodule": 25.0,
}


def label_of(name: str) -> int:
    """Label value of the standard structure ``name`` (a "did you mean" on a miss)."""
    try:
        return STANDARD_LABELS[name][0]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(STANDARD_LABELS), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"unknown standard structure {name!r}; known {sorted(STANDARD_LABELS)}.{hint}"
        ) from None


def standard_structures(names) -> dict[int, Structure]:
    """``{label: Structure}`` for the standard structure ``names`` (iterable of str)."""
    out = {}
    for n in names:
        lab = label_of(n)
        out[lab] = Structure(lab, n, STANDARD_LABELS[n][1])
    return dict(sorted(out.items()))
