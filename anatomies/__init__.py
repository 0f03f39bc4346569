"""The patient model: anatomy data, importers, processing and procedural generators.

Frame: patient LPS (+x left, +y posterior, +z superior), millimetres.
"""

from ._anatomy import Anatomy, AnatomyExistsError, Structure
from ._arch import ARCH_TYPES, classify_arch, generate_aortic_arch
from ._library import BuiltinAnatomy, generate, list_builtin, load_builtin
from ._structures import NOMINAL_HU, STANDARD_LABELS, standard_structures
from ._thorax import ThoraxLayout, synthesize_thorax_ct
from ._material_volume import BASIS_MATERIALS, MaterialVolume, material_volume
from ._materials import MATERIALS, Material, get_material
from ._sdf import SDFGrid, tube_sdf
from ._vessel_tree import UnknownBranchError, VesselBranch, VesselPath, VesselTree

__all__ = [
    "BASIS_MATERIALS",
    "MATERIALS",
    "Material",
    "MaterialVolume",
    "get_material",
    "material_volume",
    "ARCH_TYPES",
    "BuiltinAnatomy",
    "NOMINAL_HU",
    "STANDARD_LABELS",
    "ThoraxLayout",
    "classify_arch",
    "generate",
    "generate_aortic_arch",
    "list_builtin",
    "load_builtin",
    "standard_structures",
    "synthesize_thorax_ct",
    "Anatomy",
    "AnatomyExistsError",
    "SDFGrid",
    "Structure",
    "UnknownBranchError",
    "VesselBranch",
    "VesselPath",
    "VesselTree",
    "tube_sdf",
]
