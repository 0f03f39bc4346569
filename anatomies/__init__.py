"""The patient model: anatomy data, importers, processing and procedural generators.

Frame: patient LPS (+x left, +y posterior, +z superior), millimetres.
"""

from ._anatomy import Anatomy, AnatomyExistsError, Structure
from ._arch import ARCH_TYPES, classify_arch, generate_aortic_arch
from ._centerline import CenterlineError, extract_vessel_tree, score_centerlines
from ._import import PatientImportError, import_anatomy, lumen_sdf_from_mask
from ._io import ObliqueAffineWarning, VolumeError, read_dicom_series, read_volume, write_volume
from ._library import BuiltinAnatomy, generate, list_builtin, load_builtin
from ._liver import generate_liver
from ._lung import generate_lung
from ._markups import MarkupsError, read_markups, write_markups
from ._material_volume import BASIS_MATERIALS, MaterialVolume, material_volume
from ._materials import MATERIALS, Material, get_material
from ._mesh_import import MeshError, check_lumen_mesh, read_lumen_mesh, voxelize_mesh
from ._plot import anatomy_summary, plot_anatomy
from ._sdf import SDFGrid, tube_sdf
from ._structures import NOMINAL_HU, STANDARD_LABELS, standard_structures
from ._surfaces import (
    load_surfaces,
    lumen_surface,
    save_surfaces,
    structure_surfaces,
    vessel_tree_to_vtp,
)
from ._thorax import ThoraxLayout, synthesize_thorax_ct
from ._totalseg import TOTALSEG_CLASSES, UnknownStructureError, read_totalseg
from ._vessel_tree import UnknownBranchError, VesselBranch, VesselPath, VesselTree

__all__ = [
    "CenterlineError",
    "extract_vessel_tree",
    "score_centerlines",
    "PatientImportError",
    "import_anatomy",
    "lumen_sdf_from_mask",
    "ObliqueAffineWarning",
    "VolumeError",
    "read_dicom_series",
    "read_volume",
    "write_volume",
    "MarkupsError",
    "read_markups",
    "write_markups",
    "MeshError",
    "check_lumen_mesh",
    "read_lumen_mesh",
    "voxelize_mesh",
    "TOTALSEG_CLASSES",
    "UnknownStructureError",
    "read_totalseg",
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
    "anatomy_summary",
    "classify_arch",
    "load_surfaces",
    "lumen_surface",
    "plot_anatomy",
    "save_surfaces",
    "structure_surfaces",
    "vessel_tree_to_vtp",
    "generate",
    "generate_aortic_arch",
    "generate_liver",
    "generate_lung",
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
