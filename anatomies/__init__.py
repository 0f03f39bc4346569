"""The patient model: anatomy data, importers, processing and procedural generators.

Frame: patient LPS (+x left, +y posterior, +z superior), millimetres.
"""

from ._anatomy import Anatomy, AnatomyExistsError, Structure
from ._sdf import SDFGrid, tube_sdf
from ._vessel_tree import UnknownBranchError, VesselBranch, VesselPath, VesselTree

__all__ = [
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
