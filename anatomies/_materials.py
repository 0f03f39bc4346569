"""Material table for X-ray imaging: name, density (g/cm³), elemental composition by mass.

Compositions are mass fractions (they sum to 1). Tissue entries follow ICRU Report 44 / ICRP
Publication 23 as tabulated by NIST (physics.nist.gov/PhysRefData/XrayMassCoef/tab2.html,
"Tissue, Soft (ICRU-44)", "Adipose Tissue (ICRP)", "Bone, Cortical (ICRP)", "Blood, Whole
(ICRU-44)", "Lung Tissue (ICRU-44)", "Air, Dry (near sea level)"). Device materials: nitinol
Ni 55 wt% / Ti 45 wt% (ρ 6.45, ASTM F2063), platinum (ρ 21.45), stainless steel 316L
(Fe/Cr/Ni/Mo/Mn, ρ 8.0), a catheter polymer (polyamide-12-like PEBAX, C12H23NO, ρ 1.01), and a
radiopaque polymer (the polymer with 30 wt% BaSO4, ρ 1.40); iodine (ρ 4.93) is the contrast
element, used at the concentrations of the contrast model.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

__all__ = ["Material", "MATERIALS", "get_material"]


@dataclass(frozen=True)
class Material:
    """An X-ray material.

    Attributes
    ----------
    name : str
        Identifier used by structures and devices (e.g. ``"soft_tissue"``, ``"nitinol"``).
    density : float
        Nominal mass density (g/cm³).
    composition : dict of str to float
        Element symbol → mass fraction (sums to 1).
    """

    name: str
    density: float
    composition: dict[str, float] = field(hash=False)

    def __post_init__(self) -> None:
        if not self.density > 0:
            raise ValueError(
                f"material {self.name!r}: density must be > 0 g/cm³, got {self.density}"
            )
        total = sum(self.composition.values())
        if not 0.98 < total < 1.02:
            raise ValueError(
                f"material {self.name!r}: mass fractions sum to {total:.4f}, expected 1"
            )
        object.__setattr__(self, "composition", {k: v / total for k, v in self.composition.items()})


def _polymer_with(filler: dict[str, float], fraction: float) -> dict[str, float]:
    base = {"C": 0.7306, "H": 0.1177, "N": 0.0710, "O": 0.0811}  # C12H23NO (PA-12)
    out = {k: v * (1 - fraction) for k, v in base.items()}
    for k, v in filler.items():
        out[k] = out.get(k, 0.0) + v * fraction
    return out


_TABLE = [
    Material("air", 0.001205, {"C": 0.000124, "N": 0.755268, "O": 0.231781, "Ar": 0.012827}),
    Material("water", 1.0, {"H": 0.111894, "O": 0.888106}),
    Material(
        "soft_tissue",
        1.06,
        {
            "H": 0.102,
            "C": 0.143,
            "N": 0.034,
            "O": 0.708,
            "Na": 0.002,
            "P": 0.003,
            "S": 0.003,
            "Cl": 0.002,
            "K": 0.003,
        },
    ),
    Material(
        "blood",
        1.06,
        {
            "H": 0.102,
            "C": 0.110,
            "N": 0.033,
            "O": 0.745,
            "Na": 0.001,
            "P": 0.001,
            "S": 0.002,
            "Cl": 0.003,
            "K": 0.002,
            "Fe": 0.001,
        },
    ),
    Material(
        "lung",
        0.26,
        {
            "H": 0.103,
            "C": 0.105,
            "N": 0.031,
            "O": 0.749,
            "Na": 0.002,
            "P": 0.002,
            "S": 0.003,
            "Cl": 0.003,
            "K": 0.002,
        },
    ),
    Material(
        "adipose",
        0.95,
        {"H": 0.114, "C": 0.598, "N": 0.007, "O": 0.278, "Na": 0.001, "S": 0.001, "Cl": 0.001},
    ),
    Material(
        "bone_cortical",
        1.85,
        {
            "H": 0.047234,
            "C": 0.144330,
            "N": 0.041990,
            "O": 0.446096,
            "Mg": 0.002200,
            "P": 0.104970,
            "S": 0.003150,
            "Ca": 0.209930,
            "Zn": 0.000100,
        },
    ),
    Material("iodine", 4.93, {"I": 1.0}),
    Material("nitinol", 6.45, {"Ni": 0.55, "Ti": 0.45}),
    Material("platinum", 21.45, {"Pt": 1.0}),
    Material("tungsten", 19.3, {"W": 1.0}),
    Material(
        "stainless_steel",
        8.0,
        {"Fe": 0.655, "Cr": 0.17, "Ni": 0.12, "Mo": 0.025, "Mn": 0.02, "Si": 0.01},
    ),
    Material("polymer", 1.01, _polymer_with({}, 0.0)),
    Material(
        "polymer_barium",
        1.40,
        _polymer_with({"Ba": 0.5884, "S": 0.1374, "O": 0.2742}, 0.30),  # 30 wt% BaSO4
    ),
]

#: Name → :class:`Material`. Aliases: ``bone`` → cortical bone, ``muscle``/``tissue`` → soft tissue,
#: ``fat`` → adipose, ``contrast`` → iodine, ``steel`` → stainless steel,
#: ``catheter_polymer`` → polymer.
MATERIALS: dict[str, Material] = {m.name: m for m in _TABLE}
_ALIASES = {
    "bone": "bone_cortical",
    "muscle": "soft_tissue",
    "tissue": "soft_tissue",
    "fat": "adipose",
    "contrast": "iodine",
    "steel": "stainless_steel",
    "catheter_polymer": "polymer",
}


def get_material(name: str) -> Material:
    """The material called ``name`` (aliases allowed).

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the known names and close matches.
    """
    if isinstance(name, Material):
        return name
    key = _ALIASES.get(str(name).lower(), str(name).lower())
    if key in MATERIALS:
        return MATERIALS[key]
    known = sorted([*MATERIALS, *_ALIASES])
    close = difflib.get_close_matches(str(name), known, n=3)
    hint = f" Did you mean {close}?" if close else ""
    raise ValueError(f"unknown material {name!r}; expected one of {known}.{hint}")
