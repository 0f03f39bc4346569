"""Flat-panel detector: energy-integrating CsI response, quantum and electronic noise, scatter,
log display.

Signal model per output pixel (energy-integrating):
``s = Σ_E N_E · η(E) · E · exp(−Σ_m μ_m(E) L_m)`` (keV), with N_E the photons of bin E reaching the
pixel area in one pulse without the patient, η(E) = 1 − exp(−μ_CsI(E) ρ_CsI t f) the absorbed
fraction of the CsI:Tl scintillator (t = 0.6 mm, fill f = 0.8; Konstantinidis et al. (2012),
flat-panel CsI 500–600 µm). Quantum noise of an energy-integrating detector is compound Poisson:
Var s = Σ_E N_E η(E) E² exp(...) (Swank), drawn as a Gaussian of that variance where a pixel
receives ≥ 20 quanta, and as scaled Poisson counts below. Electronic noise is Gaussian with
σ_e per native pixel (in keV-equivalent), summed in quadrature over the native pixels binned into
an output pixel. Scatter: a scatter-to-primary ratio times the primary blurred by a broad
Gaussian (σ ≈ 30 mm at the detector), the convolution model of Boone & Seibert (Med Phys 15
(1988) 713); SPR ≈ 0.5 stands for an adult trunk behind an anti-scatter grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import gaussian_filter, zoom

__all__ = ["Detector", "csi_absorption", "add_noise", "scatter_estimate", "log_display"]


@dataclass(frozen=True)
class Detector:
    """A flat-panel detector.

    Parameters
    ----------
    width_mm, height_mm : float, default: 300, 300
        Panel size (mm); the magnification mode selects the active square inside it.
    pixel_pitch_mm : float, default: 0.154
        Native pixel pitch (mm) (e.g. Varex/Trixell panels 0.139–0.194 mm); output pixels are bins.
    csi_thickness_mm : float, default: 0.6
        CsI:Tl thickness (mm).
    csi_fill : float, default: 0.8
        Packing fraction of the needle-structured CsI.
    electronic_noise_kev : float, default: 60
        Electronic noise σ per native pixel (keV equivalent, ~1.5 absorbed 40 keV photons).
    scatter_to_primary : float, default: 0.5
        Scatter-to-primary ratio behind the grid (0 turns scatter off).
    scatter_sigma_mm : float, default: 30
        Width of the scatter kernel at the detector (mm).
    """

    width_mm: float = 300.0
    height_mm: float = 300.0
    pixel_pitch_mm: float = 0.154
    csi_thickness_mm: float = 0.6
    csi_fill: float = 0.8
    electronic_noise_kev: float = 60.0
    scatter_to_primary: float = 0.5
    scatter_sigma_mm: float = 30.0

    def __post_init__(self) -> None:
        for n in ("width_mm", "height_mm", "pixel_pitch_mm", "csi_thickness_mm", "csi_fill"):
            v = getattr(self, n)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"`{n}` must be > 0, got {v}")
        for n in ("electronic_noise_kev", "scatter_to_primary", "scatter_sigma_mm"):
            if not getattr(self, n) >= 0:
                raise ValueError(f"`{n}` must be >= 0, got {getattr(self, n)}")

    def absorption(self, energies_kev: NDArray) -> NDArray[np.float64]:
        """Absorbed fraction η(E) of the scintillator at ``energies_kev``."""
        return csi_absorption(
            np.asarray(energies_kev, np.float64), self.csi_thickness_mm, self.csi_fill
        )


def csi_absorption(energies_kev: NDArray, thickness_mm: float, fill: float) -> NDArray[np.float64]:
    """Fraction of photons absorbed in CsI (ρ 4.51 g/cm³) of ``thickness_mm`` at ``fill``."""
    return np.array(
        _csi(
            tuple(np.round(np.atleast_1d(energies_kev), 6).tolist()),
            float(thickness_mm),
            float(fill),
        )
    )


@lru_cache(maxsize=64)
def _csi(e: tuple, t: float, f: float):
    import xraydb

    ev = np.asarray(e) * 1000.0
    mu = 0.5115 * np.asarray(xraydb.mu_elam("Cs", ev)) + 0.4885 * np.asarray(
        xraydb.mu_elam("I", ev)
    )
    return 1.0 - np.exp(-mu * 4.51 * t / 10.0 * f)


def scatter_estimate(primary: NDArray, *, spr: float, sigma_px: float) -> NDArray[np.float32]:
    """Scatter image: ``spr`` × the primary blurred by a Gaussian of ``sigma_px`` output pixels
    (computed on a 4× coarser grid; scatter is smooth)."""
    if spr <= 0:
        return np.zeros_like(primary, dtype=np.float32)
    p = np.asarray(primary, dtype=np.float32)
    f = 4 if min(p.shape) >= 64 else 1
    small = p[: p.shape[0] // f * f, : p.shape[1] // f * f]
    small = small.reshape(small.shape[0] // f, f, small.shape[1] // f, f).mean((1, 3))
    blurred = gaussian_filter(small, sigma_px / f, mode="nearest")
    if f > 1:
        blurred = zoom(
            blurred,
            (p.shape[0] / blurred.shape[0], p.shape[1] / blurred.shape[1]),
            order=1,
            mode="nearest",
            grid_mode=True,
        )
    return (spr * blurred).astype(np.float32)


def add_noise(
    mean: NDArray, variance: NDArray, rng: np.random.Generator, *, quanta: NDArray | None = None
) -> NDArray[np.float32]:
    """Draw a noisy signal of ``mean`` and ``variance`` (Gaussian; Poisson where ``quanta`` < 20).

    ``quanta`` (expected detected photons per pixel) selects low-count pixels, which are drawn as
    Poisson(quanta) × mean/quanta.
    """
    m = np.asarray(mean, dtype=np.float32)
    sd = np.sqrt(np.maximum(np.asarray(variance, dtype=np.float32), 0.0))
    out = m + sd * rng.standard_normal(m.shape, dtype=np.float32)
    if quanta is not None:
        low = quanta < 20
        if low.any():
            q = np.asarray(quanta)[low]
            out[low] = rng.poisson(q) * (m[low] / np.maximum(q, 1e-12))
    return np.maximum(out, 0.0)


def log_display(signal: NDArray, lo: float, hi: float) -> NDArray[np.float32]:
    """Display image in [0, 1]: (log s − lo) / (hi − lo), clipped; attenuating objects dark."""
    ls = np.log(np.maximum(signal, 1e-6, dtype=np.float32))
    return np.clip((ls - lo) / max(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)
