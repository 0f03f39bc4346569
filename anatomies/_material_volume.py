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

import numba as nb
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


@nb.njit(cache=True, parallel=True)
def _decompose(hu, labels, kind, fixed, params, out):
    """numba twin of :func:`hu_to_densities` with the label overrides (one pass, in place)."""
    rho_f, rho_s, rho_b, hu_f, hu_s, hu_b = (
        params[0],
        params[1],
        params[2],
        params[3],
        params[4],
        params[5],
    )
    for n in nb.prange(hu.shape[0]):
        h = np.float32(hu[n])
        lab = labels[n]
        kd = kind[lab] if 0 <= lab < kind.shape[0] else 0
        a = np.float32(0.0)
        f = np.float32(0.0)
        b = np.float32(0.0)
        if kd == 1:
            a = fixed[lab]
        elif kd == 2:
            a = min(max((h + 1000.0) / 1000.0, 0.0), 1.1)
        elif h < -200.0:
            a = max((h + 1000.0) / 1000.0, 0.0)
        elif h < hu_f:
            f = rho_f * (h + 1000.0) / (1000.0 + hu_f)
        elif h < hu_s:
            w = (h - hu_f) / (hu_s - hu_f)
            f = (1.0 - w) * rho_f
            a = w * rho_s
        else:
            wb = (h - hu_s) / (hu_b - hu_s)
            a = max(1.0 - wb, 0.0) * rho_s
            b = wb * rho_b
        out[n, 0] = a
        out[n, 1] = f
        out[n, 2] = b


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
    # per label: 0 = HU mapping, 1 = fixed density as soft tissue (blood, water), 2 = HU as soft
    # tissue (air, lung)
    kind = np.zeros(256 if labels.dtype.itemsize == 1 else int(labels.max()) + 1, np.int8)
    fixed = np.zeros(len(kind), np.float32)
    for label, st in structures.items():
        mat = str(getattr(st, "material", "")).lower()
        if 0 <= int(label) < len(kind) and mat in ("blood", "water", "air", "lung"):
            kind[int(label)] = 1 if mat in ("blood", "water") else 2
            fixed[int(label)] = get_material(mat).density
    density = np.empty((*ct_hu.shape, 3), np.float32)
    params = np.array(
        [
            get_material("adipose").density,
            get_material("soft_tissue").density,
            get_material("bone_cortical").density,
            HU_ADIPOSE,
            HU_SOFT,
            HU_BONE,
        ],
        np.float32,
    )
    _decompose(
        ct_hu.reshape(-1),
        labels.reshape(-1),
        kind,
        fixed,
        params,
        density.reshape(-1, 3),
    )
    return MaterialVolume(
        density=np.ascontiguousarray(density),
        materials=BASIS_MATERIALS,
        affine=np.asarray(affine, dtype=np.float64),
    )
