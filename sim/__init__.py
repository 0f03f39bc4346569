"""IGTwin sim layer."""

from ._devices import DeviceSpec, Segment, TipCurve, UnknownDeviceError, get_device, list_devices
from ._rod import RodSimulator, RodState, SofaNotAvailableError
from ._rod_backend import RodBackend

__all__ = [
    "DeviceSpec",
    "RodBackend",
    "RodSimulator",
    "RodState",
    "Segment",
    "SofaNotAvailableError",
    "TipCurve",
    "UnknownDeviceError",
    "get_device",
    "list_devices",
]
