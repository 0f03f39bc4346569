"""Radiation dose: X-ray protocols, irradiation events (RDSR-like) and the dose meter.

- Reference air kerma Ka,r (mGy): air kerma at the interventional reference point (IRP), on the
  central ray 15 cm from the isocentre toward the source (IEC 60601-2-43), free in air, no
  backscatter: Ka,r = K₁ · mAs · (1000 / d_IRP)², K₁ the spekpy air kerma per mAs at 1 m of the
  protocol's spectrum, d_IRP = SOD − 150 mm.
- Dose–area product DAP (Gy·cm²) = air kerma × collimated beam area; both scale with distance
  (1/d² and d²), so DAP is the same at every plane.
- Fluoroscopy time: each fluoro pulse counts 1 / pulse rate. Cine and DSA pulses are acquisition
  frames; a run is a series of acquisition pulses of one mode without a gap longer than two frame
  intervals.

Protocol presets (adult, flat-panel angiography system; values chosen inside the ranges of
AAPM Report TG-125 (2012) "Functionality and operation of fluoroscopic automatic brightness
control/automatic dose rate control logic", Lin, Med Phys 35 (2008) 5634, and vendor adult
programmes: pulse widths 4–10 ms in fluoroscopy, added Cu 0.1–0.9 mm, 60–90 kVp): the fluoro
presets give Ka,r rates 6 / 20 / 45 mGy/min, within the abdominal skin dose rate range 10–45
mGy/min (Aroua et al., Eur Radiol 17 (2007) 2246) and under the 88 mGy/min limit of US 21 CFR
1020.32; cine ~0.15 mGy/frame; DSA ~1.5 mGy/frame (cf. 1–5 mGy/frame reported for DSA).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from ._carm import CArm
from ._spectrum import Spectrum, tube_spectrum

__all__ = [
    "XRayProtocol",
    "FluoroProtocol",
    "PROTOCOLS",
    "IrradiationEvent",
    "DoseMeter",
    "AcquisitionMode",
]


class AcquisitionMode(StrEnum):
    """Irradiation mode of a pulse (DICOM RDSR: fluoroscopy / acquisition)."""

    FLUORO = "fluoro"
    CINE = "cine"
    DSA = "dsa"


@dataclass(frozen=True)
class XRayProtocol:
    """Tube settings of one pulse type.

    Parameters
    ----------
    name : str
        Preset name.
    mode : {"fluoro", "cine", "dsa"}
        Irradiation mode.
    kvp : float
        Tube voltage (kV).
    ma : float
        Tube current during the pulse (mA).
    pulse_width_s : float
        Pulse duration (s).
    pulse_rate_hz : float
        Pulses (frames) per second.
    filtration : tuple of (str, float)
        Total added filtration ((material, mm), ...), inherent 2.5 mm Al equivalent included.
    """

    name: str
    mode: AcquisitionMode | str
    kvp: float
    ma: float
    pulse_width_s: float
    pulse_rate_hz: float
    filtration: tuple[tuple[str, float], ...] = (("Al", 2.5),)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(
                self, "mode", AcquisitionMode(str(getattr(self.mode, "value", self.mode)).lower())
            )
        except ValueError:
            raise ValueError(
                f"unknown mode {self.mode!r}; expected one of {[m.value for m in AcquisitionMode]}"
            ) from None
        for n in ("kvp", "ma", "pulse_width_s", "pulse_rate_hz"):
            v = getattr(self, n)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"`{n}` must be a positive number, got {v!r}")
        if self.pulse_width_s * self.pulse_rate_hz > 1.0:
            raise ValueError("pulse_width_s · pulse_rate_hz > 1: pulses would overlap")
        object.__setattr__(
            self, "filtration", tuple((str(m), float(t)) for m, t in self.filtration)
        )

    @classmethod
    def preset(cls, name: str) -> XRayProtocol:
        """A preset from :data:`PROTOCOLS` (``fluoro-low``, ``fluoro-normal``, ``fluoro-high``,
        ``cine``, ``dsa``)."""
        if name not in PROTOCOLS:
            import difflib

            close = difflib.get_close_matches(name, list(PROTOCOLS))
            raise ValueError(
                f"unknown protocol {name!r}; expected one of {list(PROTOCOLS)}"
                + (f". Did you mean {close}?" if close else "")
            )
        return PROTOCOLS[name]

    @property
    def mas_per_pulse(self) -> float:
        """Tube charge per pulse (mAs)."""
        return self.ma * self.pulse_width_s

    @property
    def frame_interval_s(self) -> float:
        """Time between pulses (s)."""
        return 1.0 / self.pulse_rate_hz

    def spectrum(self) -> Spectrum:
        """The tube spectrum (cached)."""
        return tube_spectrum(self.kvp, filtration=self.filtration)

    def kerma_at_mgy(self, distance_mm: float) -> float:
        """Air kerma (mGy) of one pulse at ``distance_mm`` from the focal spot (free in air)."""
        if not distance_mm > 0:
            raise ValueError(f"`distance_mm` must be > 0, got {distance_mm}")
        k1 = self.spectrum().kerma_ugy_per_mas * 1e-3  # mGy/mAs at 1 m
        return k1 * self.mas_per_pulse * (1000.0 / distance_mm) ** 2


#: Alias kept for readability at call sites that only use fluoroscopy presets.
FluoroProtocol = XRayProtocol

_CU = lambda mm: (("Al", 2.5), ("Cu", mm))  # noqa: E731

#: Adult presets (see the module docstring for sources and the resulting Ka,r).
PROTOCOLS: dict[str, XRayProtocol] = {
    p.name: p
    for p in (
        XRayProtocol("fluoro-low", "fluoro", 70.0, 60.0, 0.008, 7.5, _CU(0.3)),
        XRayProtocol("fluoro-normal", "fluoro", 75.0, 55.0, 0.008, 15.0, _CU(0.2)),
        XRayProtocol("fluoro-high", "fluoro", 80.0, 64.0, 0.008, 15.0, _CU(0.1)),
        XRayProtocol("cine", "cine", 80.0, 250.0, 0.006, 15.0, _CU(0.1)),
        XRayProtocol("dsa", "dsa", 80.0, 400.0, 0.018, 3.0, (("Al", 2.5),)),
    )
}


@dataclass(frozen=True)
class IrradiationEvent:
    """One pulse, like a DICOM RDSR irradiation event (TID 10003) entry.

    Units: kVp kV, mA mA, pulse width s, field side mm at the detector, angles degrees (as in
    RDSR), SID mm, table mm (LPS), time s, Ka,r mGy, DAP Gy·cm².
    """

    time_s: float
    mode: str
    protocol: str
    kvp: float
    ma: float
    pulse_width_s: float
    pulse_rate_hz: float
    filtration: tuple[tuple[str, float], ...]
    field_side_mm: float
    primary_angle_deg: float
    secondary_angle_deg: float
    sid_mm: float
    sod_mm: float
    table_mm: tuple[float, float, float]
    ka_r_mgy: float
    dap_gycm2: float

    def to_dict(self) -> dict:
        """The event as plain JSON types (tuples as lists), fields in declaration order.

        Equal to ``dataclasses.asdict`` followed by a JSON round trip, at a fraction of its cost
        (one event per fluoroscopy pulse is logged at every control step).
        """
        d = dict(self.__dict__)
        d["filtration"] = [[str(m), float(t)] for m, t in self.filtration]
        d["table_mm"] = [float(x) for x in self.table_mm]
        return d


@dataclass
class DoseMeter:
    """Accumulates Ka,r, DAP, fluoroscopy time, pulses, frames and runs.

    Examples
    --------
    >>> m = DoseMeter()
    >>> ev = m.record_pulse(CArm(), XRayProtocol.preset("fluoro-normal"), 0.0)
    >>> m.n_pulses, round(m.ka_r_mgy, 4) == round(ev.ka_r_mgy, 4)
    (1, True)
    """

    events: list[IrradiationEvent] = field(default_factory=list)
    ka_r_mgy: float = 0.0
    dap_gycm2: float = 0.0
    fluoro_time_s: float = 0.0
    n_pulses: int = 0
    n_cine_frames: int = 0
    n_dsa_frames: int = 0
    n_cine_runs: int = 0
    n_dsa_runs: int = 0
    _last_acq: tuple[str, float, float] | None = None
    #: (carm, protocol, per-pulse event fields) of the last pulse: a fixed C-arm and protocol give
    #: the same Ka,r, DAP and geometry at every pulse, so only the time changes.
    _pulse_cache: tuple | None = field(default=None, repr=False, compare=False)

    def record_pulse(self, carm: CArm, protocol: XRayProtocol, t_s: float) -> IrradiationEvent:
        """Log one pulse at time ``t_s`` (s) and add its dose.

        Returns
        -------
        IrradiationEvent
            The event, with Ka,r (mGy) at the IRP and DAP (Gy·cm²).
        """
        cache = self._pulse_cache
        if cache is not None and cache[0] is carm and cache[1] is protocol:
            fields = cache[2]
        else:
            if not isinstance(carm, CArm):
                raise TypeError(f"`carm` must be a CArm, got {type(carm).__name__}")
            if not isinstance(protocol, XRayProtocol):
                raise TypeError(
                    f"`protocol` must be an XRayProtocol, got {type(protocol).__name__}"
                )
            d_irp = carm.irp_distance_mm
            ka = protocol.kerma_at_mgy(d_irp)
            dap = ka * 1e-3 * carm.beam_area_cm2(distance_mm=d_irp)
            fields = {
                "mode": protocol.mode.value,
                "protocol": protocol.name,
                "kvp": protocol.kvp,
                "ma": protocol.ma,
                "pulse_width_s": protocol.pulse_width_s,
                "pulse_rate_hz": protocol.pulse_rate_hz,
                "filtration": protocol.filtration,
                "field_side_mm": carm.collimated_field_mm,
                "primary_angle_deg": carm.lao_deg,
                "secondary_angle_deg": carm.cran_deg,
                "sid_mm": carm.sid,
                "sod_mm": carm.sod,
                "table_mm": tuple(float(x) for x in carm.table),
                "ka_r_mgy": ka,
                "dap_gycm2": dap,
            }
            self._pulse_cache = (carm, protocol, fields)
        ev = IrradiationEvent(time_s=float(t_s), **fields)
        ka, dap, mode = fields["ka_r_mgy"], fields["dap_gycm2"], fields["mode"]
        self.events.append(ev)
        self.ka_r_mgy += ka
        self.dap_gycm2 += dap
        self.n_pulses += 1
        if mode == "fluoro":
            self.fluoro_time_s += protocol.frame_interval_s
        else:
            new_run = (
                self._last_acq is None
                or self._last_acq[0] != mode
                or float(t_s) - self._last_acq[1] > 2.0 * protocol.frame_interval_s + 1e-9
            )
            if mode == "cine":
                self.n_cine_frames += 1
                self.n_cine_runs += int(new_run)
            else:
                self.n_dsa_frames += 1
                self.n_dsa_runs += int(new_run)
            self._last_acq = (mode, float(t_s), protocol.frame_interval_s)
        return ev

    def summary(self) -> dict:
        """Cumulative totals (units in the keys)."""
        return {
            "ka_r_mgy": self.ka_r_mgy,
            "dap_gycm2": self.dap_gycm2,
            "fluoro_time_s": self.fluoro_time_s,
            "n_pulses": self.n_pulses,
            "n_cine_frames": self.n_cine_frames,
            "n_cine_runs": self.n_cine_runs,
            "n_dsa_frames": self.n_dsa_frames,
            "n_dsa_runs": self.n_dsa_runs,
        }

    def to_rdsr_json(self) -> str:
        """The log as JSON, shaped like an RDSR: accumulated totals and the irradiation events."""
        doc = {
            "template": "TID 10001 Projection X-Ray Radiation Dose (simulated)",
            "accumulated": {
                "reference_point": "IEC 60601-2-43 IRP (isocentre − 15 cm toward source)",
                "dose_rp_total_gy": self.ka_r_mgy * 1e-3,
                "dose_area_product_total_gym2": self.dap_gycm2 * 1e-4,
                "fluoro_dose_area_product_total_gym2": sum(
                    e.dap_gycm2 for e in self.events if e.mode == "fluoro"
                )
                * 1e-4,
                "acquisition_dose_area_product_total_gym2": sum(
                    e.dap_gycm2 for e in self.events if e.mode != "fluoro"
                )
                * 1e-4,
                "total_fluoro_time_s": self.fluoro_time_s,
                "total_number_of_radiographic_frames": self.n_cine_frames + self.n_dsa_frames,
            },
            "summary": self.summary(),
            "events": [asdict(e) for e in self.events],
        }
        return json.dumps(doc)
