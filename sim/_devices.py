"""Catalogue of endovascular devices: guidewires and catheters with real dimensions and materials.

Conventions
-----------
- Lengths and diameters in mm, Young's and shear moduli in MPa (= N/mm²), so bending stiffness
  ``E·I`` is in N·mm² and torsional stiffness ``G·J`` in N·mm²; angles in rad; speeds mm/s and rad/s.
- Arc length ``s`` is measured **from the distal tip** (s = 0 at the tip) along the device.
- Segments are listed distal first; the last segment extends to the device's full length.
- Tip shapes are rest curvature: a list of :class:`TipCurve` arcs, each turning by ``angle`` (rad)
  over ``length`` mm, in the plane given by ``plane`` (rad, about the device axis, in the material
  frame). A positive angle bends toward the material frame's first director ``m1`` rotated by
  ``plane``.

Sources for the figures (typical, rounded): 0.035" hydrophilic nitinol wires (Terumo Radifocus:
nitinol core, polyurethane jacket, ~30 mm floppy tip); 0.018"/0.014" coronary/peripheral wires
(nitinol or steel core tapering over 30–100 mm under a platinum coil); 4–6 Fr diagnostic
catheters (braided nylon/polyurethane, effective E ~ 0.1–1 GPa, soft 10–20 mm tip). Shapes are
schematic: one or two planar arcs per catheter family (Berenstein, Cobra, Simmons, vertebral,
pigtail).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DeviceSpec",
    "Segment",
    "TipCurve",
    "UnknownDeviceError",
    "get_device",
    "list_devices",
]

INCH = 25.4  # mm
FRENCH = 1.0 / 3.0  # mm


class UnknownDeviceError(ValueError):
    """A device name that the catalogue does not contain."""


@dataclass(frozen=True)
class Segment:
    """One axial segment of a device (a section with constant cross-section and material).

    Attributes
    ----------
    length : float
        Segment length (mm).
    outer_diameter : float
        Outer diameter (mm); used for contact (device radius) and imaging.
    youngs_modulus : float
        Effective Young's modulus (MPa) of the outer annulus (jacket, braid-reinforced polymer,
        or the whole wire when there is no core).
    core_diameter : float, default: 0.0
        Diameter (mm) of a solid core wire inside the jacket (0: none).
    core_modulus : float, default: 0.0
        Young's modulus (MPa) of the core (nitinol ~ 60,000, stainless steel ~ 200,000).
    inner_diameter : float, default: 0.0
        Lumen diameter (mm) for catheters (0: solid).
    poisson : float, default: 0.33
        Poisson ratio used for the shear modulus G = E / (2 (1 + ν)).
    material : str, default: "nitinol"
        Radiopaque material name for the imager ("nitinol", "platinum", "stainless_steel",
        "catheter_polymer").
    """

    length: float
    outer_diameter: float
    youngs_modulus: float
    core_diameter: float = 0.0
    core_modulus: float = 0.0
    inner_diameter: float = 0.0
    poisson: float = 0.33
    material: str = "nitinol"

    def __post_init__(self) -> None:
        for name in ("length", "outer_diameter", "youngs_modulus"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"Segment `{name}` must be finite and > 0, got {v}")
        if not 0 <= self.inner_diameter < self.outer_diameter:
            raise ValueError(
                f"Segment `inner_diameter` must be in [0, outer_diameter={self.outer_diameter}) "
                f"mm, got {self.inner_diameter}"
            )
        if not 0 <= self.core_diameter <= self.outer_diameter:
            raise ValueError(
                f"Segment `core_diameter` must be in [0, {self.outer_diameter}] mm, "
                f"got {self.core_diameter}"
            )

    @property
    def bending_stiffness(self) -> float:
        """E·I (N·mm²), I = π d⁴ / 64 summed over core and annulus."""
        do, di, dc = self.outer_diameter, self.inner_diameter, self.core_diameter
        i_ann = math.pi * (do**4 - max(di, dc) ** 4) / 64.0
        i_core = math.pi * dc**4 / 64.0
        return self.youngs_modulus * i_ann + self.core_modulus * i_core

    @property
    def torsional_stiffness(self) -> float:
        """G·J (N·mm²), J = 2 I for circular sections, G = E / (2 (1 + ν))."""
        return 2.0 * self.bending_stiffness / (2.0 * (1.0 + self.poisson))

    @property
    def axial_stiffness(self) -> float:
        """E·A (N)."""
        do, di, dc = self.outer_diameter, self.inner_diameter, self.core_diameter
        a_ann = math.pi * (do**2 - max(di, dc) ** 2) / 4.0
        return self.youngs_modulus * a_ann + self.core_modulus * math.pi * dc**2 / 4.0


@dataclass(frozen=True)
class TipCurve:
    """A planar arc of rest curvature near the tip.

    Attributes
    ----------
    start : float
        Distance (mm) from the distal tip where the arc begins.
    length : float
        Arc length (mm).
    angle : float
        Total turning angle (rad) of the arc; curvature = angle / length (1/mm).
    plane : float, default: 0.0
        Direction of the bend about the device axis (rad) in the material frame.
    """

    start: float
    length: float
    angle: float
    plane: float = 0.0


@dataclass(frozen=True)
class DeviceSpec:
    """A guidewire or catheter.

    Attributes
    ----------
    name : str
        Catalogue name, e.g. ``"guidewire_035_angled"``.
    kind : str
        ``"guidewire"`` or ``"catheter"``.
    segments : tuple of Segment
        Distal first; the last one is extended to ``length``.
    length : float
        Total working length (mm).
    tip_curves : tuple of TipCurve
        Rest shape of the distal end (empty: straight).
    max_translation_speed : float
        Largest allowed insertion/retraction speed (mm/s).
    max_rotation_speed : float
        Largest allowed axial rotation speed (rad/s).
    description : str
        Free text.
    """

    name: str
    kind: str
    segments: tuple[Segment, ...]
    length: float = 1500.0
    tip_curves: tuple[TipCurve, ...] = ()
    max_translation_speed: float = 50.0
    max_rotation_speed: float = 2.0 * math.pi
    description: str = ""
    _bounds: NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("guidewire", "catheter"):
            raise ValueError(
                f"DeviceSpec `kind` must be 'guidewire' or 'catheter', got {self.kind!r}"
            )
        if not self.segments:
            raise ValueError("DeviceSpec needs at least one segment")
        if not (self.length > 0 and self.max_translation_speed > 0 and self.max_rotation_speed > 0):
            raise ValueError(
                f"DeviceSpec {self.name!r}: length and max speeds must be > 0, got length="
                f"{self.length}, max_translation_speed={self.max_translation_speed}, "
                f"max_rotation_speed={self.max_rotation_speed}"
            )
        object.__setattr__(self, "segments", tuple(self.segments))
        object.__setattr__(self, "tip_curves", tuple(self.tip_curves))
        ends = np.cumsum([s.length for s in self.segments]).astype(np.float64)
        ends[-1] = max(ends[-1], self.length)
        object.__setattr__(self, "_bounds", ends)

    @property
    def outer_diameter(self) -> float:
        """Largest outer diameter (mm)."""
        return max(s.outer_diameter for s in self.segments)

    @property
    def inner_diameter(self) -> float:
        """Smallest lumen diameter (mm), 0 for wires."""
        return min(s.inner_diameter for s in self.segments)

    def segment_index(self, s: NDArray[np.floating]) -> NDArray[np.int64]:
        """Index of the segment holding arc length ``s`` (mm from the tip)."""
        s = np.asarray(s, dtype=np.float64)
        return np.minimum(np.searchsorted(self._bounds, s, side="right"), len(self.segments) - 1)

    def _per_segment(self, attr: str, s: NDArray[np.floating]) -> NDArray[np.float64]:
        vals = np.array([getattr(seg, attr) for seg in self.segments], dtype=np.float64)
        return vals[self.segment_index(s)]

    def outer_diameter_at(self, s: NDArray[np.floating]) -> NDArray[np.float64]:
        """Outer diameter (mm) at arc length ``s`` (mm from the tip)."""
        return self._per_segment("outer_diameter", s)

    def bending_stiffness_at(self, s: NDArray[np.floating]) -> NDArray[np.float64]:
        """E·I (N·mm²) at arc length ``s`` (mm from the tip)."""
        return self._per_segment("bending_stiffness", s)

    def torsional_stiffness_at(self, s: NDArray[np.floating]) -> NDArray[np.float64]:
        """G·J (N·mm²) at arc length ``s`` (mm from the tip)."""
        return self._per_segment("torsional_stiffness", s)

    def axial_stiffness_at(self, s: NDArray[np.floating]) -> NDArray[np.float64]:
        """E·A (N) at arc length ``s`` (mm from the tip)."""
        return self._per_segment("axial_stiffness", s)

    def material_at(self, s: NDArray[np.floating]) -> list[str]:
        """Material name at each arc length ``s`` (mm from the tip)."""
        idx = self.segment_index(s)
        return [self.segments[i].material for i in np.atleast_1d(idx)]

    def rest_curvature_at(self, s: NDArray[np.floating]) -> NDArray[np.float64]:
        """Rest curvature vector (κ1, κ2) (1/mm) in the material frame at ``s`` (mm from tip).

        Returns
        -------
        ndarray, shape s.shape + (2,)
        """
        s = np.asarray(s, dtype=np.float64)
        out = np.zeros(s.shape + (2,))
        for c in self.tip_curves:
            inside = (s >= c.start) & (s < c.start + c.length)
            k = c.angle / c.length
            out[..., 0] += np.where(inside, k * math.cos(c.plane), 0.0)
            out[..., 1] += np.where(inside, k * math.sin(c.plane), 0.0)
        return out


# --------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------
NITINOL_E = 60_000.0  # MPa, austenite nitinol (50–80 GPa)
STEEL_E = 200_000.0  # MPa, 304 stainless
PU_E = 50.0  # MPa, polyurethane / hydrophilic jacket
CATHETER_E = 500.0  # MPa, braided nylon/PU shaft, effective
CATHETER_TIP_E = 80.0  # MPa, soft unbraided tip

_TIP_SHAPES_WIRE = {
    "straight": (),
    "angled": (TipCurve(start=1.5, length=3.0, angle=math.radians(45.0)),),
    "j": (TipCurve(start=0.0, length=math.pi * 3.0, angle=math.pi),),  # J of radius 3 mm
}


def _wire(od_in: float, shape: str) -> DeviceSpec:
    od = od_in * INCH
    if od_in >= 0.03:  # 0.035" hydrophilic nitinol wire, polyurethane jacket
        core = [(30.0, 0.15), (70.0, 0.35), (None, 0.60)]
        segs = [
            Segment(
                length=ln or 1500.0,
                outer_diameter=od,
                youngs_modulus=PU_E,
                core_diameter=dc,
                core_modulus=NITINOL_E,
                material="nitinol",
            )
            for ln, dc in core
        ]
        speed, desc = 50.0, "nitinol core, PU jacket, 30 mm floppy tip"
    else:  # 0.018" / 0.014": core tapering under a 30 mm platinum coil
        shaft_core = 0.33 if od_in >= 0.016 else 0.25
        tip_core = 0.10 if od_in >= 0.016 else 0.07
        segs = [
            Segment(30.0, od, PU_E, tip_core, NITINOL_E, material="platinum"),
            Segment(70.0, od, PU_E, 0.5 * (tip_core + shaft_core), NITINOL_E, material="nitinol"),
            Segment(1800.0, od, PU_E, shaft_core, STEEL_E, material="stainless_steel"),
        ]
        speed, desc = 40.0, "steel/nitinol core, platinum coil over 30 mm"
    code = f"{round(od_in * 1000):03d}"
    return DeviceSpec(
        name=f"guidewire_{code}_{shape}",
        kind="guidewire",
        segments=tuple(segs),
        length=1500.0 if od_in >= 0.03 else 1800.0,
        tip_curves=_TIP_SHAPES_WIRE[shape],
        max_translation_speed=speed,
        max_rotation_speed=2.0 * math.pi,
        description=f'{od_in}" {shape} guidewire: {desc}',
    )


_CATHETER_SHAPES = {
    "straight": (),
    "berenstein": (TipCurve(start=8.0, length=10.0, angle=math.radians(40.0)),),
    "vertebral": (TipCurve(start=5.0, length=10.0, angle=math.radians(30.0)),),
    "cobra": (
        TipCurve(start=4.0, length=12.0, angle=math.radians(60.0)),
        TipCurve(start=35.0, length=30.0, angle=math.radians(-70.0)),
    ),
    "simmons": (  # sidewinder: a 180° recurve of radius ~12 mm behind a short tip hook
        TipCurve(start=0.0, length=6.0, angle=math.radians(-30.0)),
        TipCurve(start=20.0, length=math.pi * 12.0, angle=math.pi),
    ),
    "pigtail": (TipCurve(start=0.0, length=2 * math.pi * 4.0, angle=2 * math.pi),),
}


def _catheter(fr: int, shape: str) -> DeviceSpec:
    od = fr * FRENCH
    inner = {4: 0.97, 5: 1.0, 6: 1.4}[fr]  # 0.038" lumen (4–5 Fr), 0.055" (6 Fr)
    segs = (
        Segment(
            15.0,
            od,
            CATHETER_TIP_E,
            inner_diameter=inner,
            poisson=0.45,
            material="catheter_polymer",
        ),
        Segment(
            1000.0, od, CATHETER_E, inner_diameter=inner, poisson=0.45, material="catheter_polymer"
        ),
    )
    return DeviceSpec(
        name=f"catheter_{fr}fr_{shape}",
        kind="catheter",
        segments=segs,
        length=1000.0,
        tip_curves=_CATHETER_SHAPES[shape],
        max_translation_speed=40.0,
        max_rotation_speed=math.pi,
        description=f"{fr} Fr {shape} diagnostic catheter, braided polymer, soft 15 mm tip",
    )


def _build_catalogue() -> dict[str, DeviceSpec]:
    out: dict[str, DeviceSpec] = {}
    for od_in in (0.035, 0.018, 0.014):
        for shape in _TIP_SHAPES_WIRE:
            d = _wire(od_in, shape)
            out[d.name] = d
    for fr in (4, 5, 6):
        for shape in _CATHETER_SHAPES:
            d = _catheter(fr, shape)
            out[d.name] = d
    return out


_CATALOGUE = _build_catalogue()


def list_devices(kind: str | None = None) -> list[str]:
    """Names of the catalogued devices, optionally only ``"guidewire"`` or ``"catheter"``."""
    if kind not in (None, "guidewire", "catheter"):
        raise ValueError(f"`kind` must be None, 'guidewire' or 'catheter', got {kind!r}")
    return [n for n, d in _CATALOGUE.items() if kind is None or d.kind == kind]


def get_device(name: str) -> DeviceSpec:
    """The catalogued :class:`DeviceSpec` called ``name``.

    Raises
    ------
    UnknownDeviceError
        (a ValueError) naming the unknown device and the closest catalogue names.

    Examples
    --------
    >>> get_device("guidewire_035_angled").outer_diameter
    0.889
    """
    try:
        return _CATALOGUE[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_CATALOGUE), n=3, cutoff=0.4)
        hint = f" Did you mean {close}?" if close else ""
        raise UnknownDeviceError(
            f"unknown device {name!r}; see list_devices() for the {len(_CATALOGUE)} names.{hint}"
        ) from None
