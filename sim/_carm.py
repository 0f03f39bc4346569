"""C-arm geometry: DICOM positioner angles → source and detector pose in patient LPS (mm).

Conventions (DICOM PS3.3 C.8.7.5, IEC 61217 patient supine, head first):

- Primary angle α (rad; LAO +, RAO −) rotates the C about the patient's head–foot axis (z):
  at LAO +90° the detector is on the patient's left (+x), the source on the right.
- Secondary angle β (rad; CRAN +, CAUD −) tilts the detector toward the head (+z).
- α = β = 0 is AP: source posterior (+y), detector anterior (−y), beam along −y.
- The image is displayed as the clinician sees it (looking from the detector at the patient):
  image columns u run along ``u_axis`` (+x, the patient's LEFT, in AP), rows v run along
  ``v_axis`` (−z, feet, in AP); so the patient's right is on the image's left.
- ``table`` (mm, LPS) is the table displacement: the patient moves with it, so the isocentre in
  patient coordinates is ``isocenter − table``.

Rotation: ``R = Rz(α) · Rx(−β)`` applied to the AP frame (u0 = +x, v0 = −z, beam d0 = −y);
beam direction d = (sin α cos β, −cos α cos β, sin β). Pixel (u, v) = (column, row), pixel
centres at integers, (0, 0) the top-left pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

__all__ = ["CArm", "CArmPose", "carm_pose", "MAGNIFICATION_MODES"]

#: Active (zoom) field of the flat detector: mode name → square side (mm) at the detector.
MAGNIFICATION_MODES: dict[str, float] = {
    "48cm": 340.0,  # 48 cm diagonal of a 30x40 panel, square part used
    "42cm": 300.0,
    "32cm": 226.0,
    "22cm": 156.0,
    "16cm": 113.0,
}


@dataclass(frozen=True)
class CArmPose:
    """A batch of C-arm poses (LPS mm).

    Attributes
    ----------
    source : ndarray, shape (B, 3)
        Focal spot (mm, LPS).
    detector_center : ndarray, shape (B, 3)
        Centre of the detector plane (mm, LPS).
    u_axis, v_axis : ndarray, shape (B, 3)
        Unit vectors of the image columns (left → right on display) and rows (top → bottom).
    beam : ndarray, shape (B, 3)
        Unit central-ray direction, source → detector.
    sid : ndarray, shape (B,)
        Source–image distance (mm).
    sod : ndarray, shape (B,)
        Source–isocentre distance (mm).
    """

    source: NDArray[np.float64]
    detector_center: NDArray[np.float64]
    u_axis: NDArray[np.float64]
    v_axis: NDArray[np.float64]
    beam: NDArray[np.float64]
    sid: NDArray[np.float64]
    sod: NDArray[np.float64]

    @property
    def matrix(self) -> NDArray[np.float64]:
        """(B, 4, 4) camera → LPS transforms: columns u, v, beam, source."""
        b = len(self.source)
        m = np.zeros((b, 4, 4))
        m[:, :3, 0], m[:, :3, 1], m[:, :3, 2], m[:, :3, 3] = (
            self.u_axis,
            self.v_axis,
            self.beam,
            self.source,
        )
        m[:, 3, 3] = 1.0
        return m


def carm_pose(alpha, beta, *, sid, sod, isocenter) -> CArmPose:
    """Source/detector poses for positioner angles (batched).

    Parameters
    ----------
    alpha : float or ndarray, shape (B,)
        Primary angle (rad), LAO +.
    beta : float or ndarray, shape (B,)
        Secondary angle (rad), CRAN +.
    sid, sod : float or ndarray, shape (B,)
        Source–image and source–isocentre distances (mm), 0 < sod < sid.
    isocenter : ndarray, shape (3,) or (B, 3)
        Isocentre in patient LPS (mm).

    Returns
    -------
    CArmPose
        Batched pose, B ≥ 1.
    """
    a, b = np.atleast_1d(np.asarray(alpha, float)), np.atleast_1d(np.asarray(beta, float))
    a, b = np.broadcast_arrays(a, b)
    n = len(a)
    sid = np.broadcast_to(np.asarray(sid, float), (n,)).copy()
    sod = np.broadcast_to(np.asarray(sod, float), (n,)).copy()
    if (sod <= 0).any() or (sod >= sid).any():
        raise ValueError(f"need 0 < sod < sid (mm), got sod={sod}, sid={sid}")
    iso = np.broadcast_to(np.asarray(isocenter, float), (n, 3))
    ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
    beam = np.stack([sa * cb, -ca * cb, sb], 1)
    u = np.stack([ca, sa, np.zeros(n)], 1)
    # v = R · (0, 0, -1): Rx(-β)(0,0,-1) = (0, -sin β, -cos β), then Rz(α)
    v = np.stack([sa * sb, -ca * sb, -cb], 1)
    source = iso - sod[:, None] * beam
    det = source + sid[:, None] * beam
    return CArmPose(source, det, u, v, beam, sid, sod)


@dataclass(frozen=True)
class CArm:
    """An immutable C-arm setting.

    Parameters
    ----------
    alpha : float, default: 0
        Primary angle (rad), LAO +, RAO −.
    beta : float, default: 0
        Secondary angle (rad), CRAN +, CAUD −.
    isocenter : ndarray, shape (3,), default: origin
        Isocentre in patient LPS (mm) with the table at zero.
    sid : float, default: 1200
        Source–image distance (mm). (Typical flat-panel angiography systems: 900–1300 mm.)
    sod : float, default: 785
        Source–isocentre distance (mm) (e.g. Siemens Artis zee: 785 mm).
    table : ndarray, shape (3,), default: 0
        Table displacement (mm, LPS); the patient moves with the table.
    magnification : str, default: "42cm"
        Zoom mode, a key of :data:`MAGNIFICATION_MODES` (active field at the detector).
    collimation : float, default: 1.0
        Collimated fraction of the active field side (0 < c ≤ 1); outside it no primary.

    Examples
    --------
    >>> c = CArm.from_degrees(lao=30, cran=15)
    >>> round(math.degrees(c.alpha)), round(math.degrees(c.with_angles(beta=0).beta))
    (30, 0)
    """

    alpha: float = 0.0
    beta: float = 0.0
    isocenter: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))
    sid: float = 1200.0
    sod: float = 785.0
    table: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))
    magnification: str = "42cm"
    collimation: float = 1.0

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "sid", "sod", "collimation"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v):
                raise TypeError(f"`{name}` must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if abs(self.alpha) > math.pi or abs(self.beta) > math.pi / 2:
            raise ValueError(
                f"angles out of range: alpha={self.alpha} rad (|α| ≤ π), beta={self.beta} rad "
                "(|β| ≤ π/2); did you pass degrees? use CArm.from_degrees"
            )
        if not 0 < self.sod < self.sid:
            raise ValueError(f"need 0 < sod < sid (mm), got sod={self.sod}, sid={self.sid}")
        if not 0 < self.collimation <= 1:
            raise ValueError(f"`collimation` must be in (0, 1], got {self.collimation}")
        if self.magnification not in MAGNIFICATION_MODES:
            import difflib

            close = difflib.get_close_matches(str(self.magnification), list(MAGNIFICATION_MODES))
            raise ValueError(
                f"unknown magnification {self.magnification!r}; expected one of "
                f"{list(MAGNIFICATION_MODES)}" + (f". Did you mean {close}?" if close else "")
            )
        for name in ("isocenter", "table"):
            v = np.asarray(getattr(self, name), dtype=np.float64).reshape(-1)
            if v.shape != (3,) or not np.isfinite(v).all():
                raise ValueError(f"`{name}` must be a finite (3,) LPS mm vector, got {v}")
            v.setflags(write=False)
            object.__setattr__(self, name, v)

    @classmethod
    def from_degrees(cls, *, lao: float = 0.0, cran: float = 0.0, **kwargs) -> CArm:
        """Build from angles in degrees (LAO +/RAO −, CRAN +/CAUD −); other fields as keywords."""
        return cls(alpha=math.radians(lao), beta=math.radians(cran), **kwargs)

    @property
    def lao_deg(self) -> float:
        """Primary angle (degrees, LAO +)."""
        return math.degrees(self.alpha)

    @property
    def cran_deg(self) -> float:
        """Secondary angle (degrees, CRAN +)."""
        return math.degrees(self.beta)

    def with_angles(self, alpha: float | None = None, beta: float | None = None) -> CArm:
        """A copy with new angles (rad); ``None`` keeps the current one."""
        return replace(
            self,
            alpha=self.alpha if alpha is None else alpha,
            beta=self.beta if beta is None else beta,
        )

    def replace(self, **changes) -> CArm:
        """A copy with fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    @property
    def field_mm(self) -> float:
        """Active field side at the detector (mm), from the magnification mode."""
        return MAGNIFICATION_MODES[self.magnification]

    @property
    def collimated_field_mm(self) -> float:
        """Irradiated field side at the detector (mm)."""
        return self.field_mm * self.collimation

    @property
    def irp_distance_mm(self) -> float:
        """Distance from the focal spot to the interventional reference point (mm): SOD − 150."""
        return self.sod - 150.0

    def beam_area_cm2(self, *, distance_mm: float) -> float:
        """Collimated beam area (cm²) at ``distance_mm`` from the focal spot."""
        side = self.collimated_field_mm * distance_mm / self.sid
        return side * side / 100.0

    def pose(self) -> CArmPose:
        """The (B = 1) source/detector pose in patient LPS (table applied)."""
        return carm_pose(
            self.alpha, self.beta, sid=self.sid, sod=self.sod, isocenter=self.isocenter - self.table
        )

    def key(self) -> tuple:
        """A hashable key of everything that changes the projection geometry."""
        return (
            round(self.alpha, 9),
            round(self.beta, 9),
            tuple(np.round(self.isocenter, 6)),
            round(self.sid, 6),
            round(self.sod, 6),
            tuple(np.round(self.table, 6)),
            self.magnification,
        )
