"""IGTwin sim layer."""

from ._attenuation import linear_attenuation, mass_attenuation
from ._carm import MAGNIFICATION_MODES, CArm, CArmPose, carm_pose
from ._contrast import ContrastAgent, ContrastState, Injection, dsa, roadmap
from ._deepdrr_backend import DeepDRRNotAvailableError, deepdrr_available
from ._detector import Detector
from ._device_chords import DeviceShape, device_shapes
from ._devices import DeviceSpec, Segment, TipCurve, UnknownDeviceError, get_device, list_devices
from ._dose import (
    PROTOCOLS,
    AcquisitionMode,
    DoseMeter,
    FluoroProtocol,
    IrradiationEvent,
    XRayProtocol,
)
from ._imager import Frame, Imager
from ._projector import ProjectorBackend, detector_rays, project_volume
from ._rod import RodSimulator, RodState, SofaNotAvailableError
from ._rod_backend import RodBackend
from ._spectrum import Spectrum, tube_spectrum
from ._world import World, WorldCommands, WorldState

__all__ = [
    "AcquisitionMode",
    "CArm",
    "CArmPose",
    "ContrastAgent",
    "ContrastState",
    "DeepDRRNotAvailableError",
    "Detector",
    "DeviceShape",
    "DoseMeter",
    "FluoroProtocol",
    "Frame",
    "Imager",
    "Injection",
    "IrradiationEvent",
    "MAGNIFICATION_MODES",
    "PROTOCOLS",
    "ProjectorBackend",
    "Spectrum",
    "XRayProtocol",
    "carm_pose",
    "deepdrr_available",
    "detector_rays",
    "device_shapes",
    "dsa",
    "linear_attenuation",
    "mass_attenuation",
    "project_volume",
    "roadmap",
    "tube_spectrum",
    "DeviceSpec",
    "RodBackend",
    "RodSimulator",
    "RodState",
    "Segment",
    "SofaNotAvailableError",
    "TipCurve",
    "World",
    "WorldCommands",
    "WorldState",
    "UnknownDeviceError",
    "get_device",
    "list_devices",
]
