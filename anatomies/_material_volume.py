"""Material decomposition of a CT: partial densities of a few basis materials per voxel.

Each voxel holds the partial density (g/cm³) of three basis materials, ``soft_tissue``,
``adipose`` and ``bone_cortical``: the X-ray imager multiplies their line integrals by each
material's mass attenuation. Air and lung are soft tissue at low density (their μ/ρ differ from
soft tissue's by < 2 % at 30–100 keV); fat/soft tissue and soft tissue/bone are two-material
mixtures interpolated linearly in HU between the nominal points (adipose −100 HU at 0.95 g/cm³,
soft tissue 40 HU at 1.06 g/cm³, cortical bone 1400 HU at 1.85 g/cm³), in the spirit of Schneider
et al., Phys Med Biol 45 (2000) 459 and of DeepDRR's HU segmentation (Unberath et al., MICCAI
2018). Labelled structures whose material is ``blood`` (vessel lumen, so that a contrast-enhanced
CTA does not render as bone), ``air``, ``lung`` or ``water`` are set from the material table
instead of from HU. Iodinated contrast is not in the volume: the imager renders it from the
vessel tree at the concentration of the contrast model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._materials import get_material

__all__ = ["MaterialVolume", "material_volume", "BASIS_MATERIALS"]

#: The basis materials, in channel order.
BASIS_MATERIALS = ("soft_tissue", "adipose", "bone_cortical")

HU_ADIPOSE = -100.0
HU_SOFT = 40.0
HU_BONE = 1400.0


@dataclass(frozen=True)
class MaterialVolume:
    """Partial densities of the basis materials on the CT grid.

    Attributes
    ----------
    density : ndarray, shape (I, J, K, C), float32
        Partial density (g/cm³) of each material channel per voxel (channel last, so that a
        ray sample reads all channels from one cache line).
    materials : tuple of str
        Material name of each channel (see :data:`BASIS_MATERIALS`).
    affine : ndarray, shape (4, 4)
        Voxel index → patient LPS (mm).
    """

    density: NDArray[np.float32]
    materials: tuple[str, ...]
    affine: NDArray[np.float64]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape (I, J, K)."""
        return tuple(self.density.shape[:3])  # type: ignore[return-value]

    @property
    def spacing(self) -> NDArray[np.float64]:
        """Voxel size (mm) along i, j, k."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)


def hu_to_densities(ct_hu: NDArray) -> NDArray[np.float32]:
    """Partial densities (g/cm³) of the basis materials from HU.

    Parameters
    ----------
    ct_hu : ndarray, shape (...)
        CT values (HU).

    Returns
    -------
    ndarray, shape (..., 3), float32
        Partial densities of ``soft_tissue``, ``adipose``, ``bone_cortical`` (g/cm³).
    """
    hu = np.asarray(ct_hu, dtype=np.float32)
    rho_f = get_material("adipose").density
    rho_s = get_material("soft_tissue").density
    rho_b = get_material("bone_cortical").density
    out = np.zeros((*hu.shape, 3), dtype=np.float32)
    # air and lung: soft tissue at water-equivalent density
    low = hu < -200
    out[..., 0] = np.where(low, np.clip((hu + 1000.0) / 1000.0, 0.0, None), 0.0)
    # fat below its nominal point: adipose at scaled density
    fat = (hu >= -200) & (hu < HU_ADIPOSE)
    out[..., 1] = np.where(fat, rho_f * (hu + 1000.0) / (1000.0 + HU_ADIPOSE), out[..., 1])
    # fat – soft tissue mixture
    w = np.clip((hu - HU_ADIPOSE) / (HU_SOFT - HU_ADIPOSE), 0.0, 1.0)
    mix = (hu >= HU_ADIPOSE) & (hu < HU_SOFT)
    out[..., 1] = np.where(mix, (1 - w) * rho_f, out[..., 1])
    out[..., 0] = np.where(mix, w * rho_s, out[..., 0])
    # soft tissue – bone mixture (bone fraction > 1 above HU_BONE: denser bone)
    wb = np.maximum((hu - HU_SOFT) / (HU_BONE - HU_SOFT), 0.0)
    hi = hu >= HU_SOFT
    out[..., 0] = np.where(hi, np.clip(1 - wb, 0.0, None) * rho_s, out[..., 0])
    out[..., 2] = np.where(hi, wb * rho_b, 0.0)
    return out


def material_volume(
    ct_hu: NDArray, labels: NDArray, affine: NDArray, *, structures: dict
) -> MaterialVolume:
    """Decompose a CT into basis-material partial densities.

    Parameters
    ----------
    ct_hu : ndarray, shape (I, J, K)
        CT (HU).
    labels : ndarray, shape (I, J, K)
        Label map (0 background).
    affine : ndarray, shape (4, 4)
        Voxel index → LPS (mm).
    structures : dict of int to Structure
        Label → structure; a structure whose ``material`` is ``blood``, ``air``, ``lung`` or
        ``water`` overrides the HU mapping inside its label.

    Returns
    -------
    MaterialVolume
        Channel-last partial densities (g/cm³), float32.
    """
    ct_hu = np.asarray(ct_hu)
    if ct_hu.ndim != 3:
        raise ValueError(f"`ct_hu` must be 3-D, got shape {ct_hu.shape}")
    labels = np.asarray(labels)
    if labels.shape != ct_hu.shape:
        raise ValueError(f"`labels` shape {labels.shape} differs from `ct_hu` shape {ct_hu.shape}")
    density = hu_to_densities(ct_hu)
    for label, s in structures.items():
        mat = str(getattr(s, "material", "")).lower()
        if mat in ("blood", "air", "lung", "water"):
            m = labels == label
            if not m.any():
                continue
            density[m] = 0.0
            if mat in ("blood", "water"):
                density[m, 0] = get_material(mat).density
            else:  # air, lung: keep the measured density (HU) as soft tissue
                density[m, 0] = np.clip((ct_hu[m].astype(np.float32) + 1000.0) / 1000.0, 0, 1.1)
    return MaterialVolume(
        density=np.ascontiguousarray(density),
        materials=BASIS_MATERIALS,
        affine=np.asarray(affine, dtype=np.float64),
    )
