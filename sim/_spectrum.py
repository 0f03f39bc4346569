"""X-ray tube spectra (spekpy), cached, and their reduction to a small energy grid.

spekpy (Poludniowski et al., Med Phys 48 (2021) 3630; offline, MIT licence) models a tungsten
anode; fluence is given per mAs at 1 m. Reference (DESIGN.md): 80 kVp, 12° anode, 2.5 mm Al:
HVL1 2.734 mm Al, mean energy 42.9 keV, air kerma 81.98 µGy/mAs at 1 m.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

__all__ = ["Spectrum", "tube_spectrum"]


@dataclass(frozen=True)
class Spectrum:
    """A tube spectrum at 1 m from the focal spot, per mAs.

    Attributes
    ----------
    energies_kev : ndarray, shape (E,)
        Bin centres (keV).
    fluence : ndarray, shape (E,)
        Photons per mm² per mAs at 1 m in each bin (already multiplied by the bin width).
    kvp : float
        Tube voltage (kV).
    filtration : tuple of (str, float)
        Added filters (element or material, thickness mm), e.g. ``(("Al", 2.5), ("Cu", 0.1))``.
    kerma_ugy_per_mas : float
        Air kerma (µGy) per mAs at 1 m, no backscatter.
    hvl1_mm_al : float
        First half-value layer (mm Al).
    mean_kev : float
        Fluence-weighted mean energy (keV).
    """

    energies_kev: NDArray[np.float64]
    fluence: NDArray[np.float64]
    kvp: float
    filtration: tuple[tuple[str, float], ...]
    kerma_ugy_per_mas: float
    hvl1_mm_al: float
    mean_kev: float

    def rebin(self, n_bins: int) -> Spectrum:
        """The same spectrum on ``n_bins`` equal-width bins (fluence summed, centres weighted)."""
        if n_bins < 1:
            raise ValueError(f"`n_bins` must be >= 1, got {n_bins}")
        keep = self.fluence > self.fluence.max() * 1e-6
        e, f = self.energies_kev[keep], self.fluence[keep]
        edges = np.linspace(e[0] - 1e-9, e[-1] + 1e-9, n_bins + 1)
        idx = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, n_bins - 1)
        fb = np.bincount(idx, weights=f, minlength=n_bins)
        eb = np.bincount(idx, weights=f * e, minlength=n_bins) / np.maximum(fb, 1e-300)
        ok = fb > 0
        return Spectrum(
            eb[ok],
            fb[ok],
            self.kvp,
            self.filtration,
            self.kerma_ugy_per_mas,
            self.hvl1_mm_al,
            self.mean_kev,
        )


def tube_spectrum(
    kvp: float, *, filtration=(("Al", 2.5),), anode_angle_deg: float = 12.0
) -> Spectrum:
    """Tube spectrum for ``kvp`` (kV) with added ``filtration`` ((material, mm), ...), cached.

    Examples
    --------
    >>> s = tube_spectrum(80.0, filtration=(("Al", 2.5),))
    >>> round(s.kerma_ugy_per_mas, 1), round(s.hvl1_mm_al, 2)
    (82.0, 2.73)
    """
    if not 20 <= float(kvp) <= 150:
        raise ValueError(f"`kvp` must be in 20..150 kV, got {kvp}")
    filt = tuple((str(m), float(t)) for m, t in filtration)
    for m, t in filt:
        if t < 0:
            raise ValueError(f"filter {m!r} thickness must be >= 0 mm, got {t}")
    return _spectrum(round(float(kvp), 3), filt, float(anode_angle_deg))


@lru_cache(maxsize=64)
def _spectrum(kvp: float, filtration: tuple, anode_angle_deg: float) -> Spectrum:
    import spekpy

    s = spekpy.Spek(kvp=kvp, th=anode_angle_deg, dk=0.5)
    for m, t in filtration:
        if t > 0:
            s.filter(m, t)
    k, f = s.get_spectrum()  # photons / cm² / mAs / keV at 1 m
    dk = float(k[1] - k[0])
    fluence = np.asarray(f, dtype=np.float64) * dk / 100.0  # per mm² per bin
    return Spectrum(
        energies_kev=np.asarray(k, dtype=np.float64),
        fluence=fluence,
        kvp=kvp,
        filtration=filtration,
        kerma_ugy_per_mas=float(s.get_kerma()),
        hvl1_mm_al=float(s.get_hvl1()),
        mean_kev=float(s.get_emean()),
    )
