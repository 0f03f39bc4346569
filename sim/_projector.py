"""Ray geometry and line integrals through voxel volumes (ray marching, trilinear samples).

A ray runs from the focal spot to a detector pixel centre. Each ray is first clipped to the
volume box (the trilinear support, voxel index 0..n−1 on each axis), then sampled at the
midpoints of ``ceil(L / step)`` equal steps; the line integral of each channel is
Σ value(sample) · Δt. Units: whatever the volume holds × mm (the imager passes partial densities
in g/cm³ and converts to g/cm²).

Backends (``backend=``): ``"numba"`` (CPU, parallel, the default on a CPU), ``"torch"``
(``grid_sample``; CUDA when present), ``"reference"`` (plain numpy, the oracle of the tests) and
``"auto"`` (torch on CUDA if available, else numba).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from ._carm import CArm, CArmPose

__all__ = ["Rays", "detector_rays", "project_volume", "ProjectorBackend", "resolve_backend"]


class ProjectorBackend(StrEnum):
    """Ray-marching backends."""

    AUTO = "auto"
    NUMBA = "numba"
    TORCH = "torch"
    REFERENCE = "reference"
    DEEPDRR = "deepdrr"


def resolve_backend(backend: str | ProjectorBackend, *, allow_deepdrr: bool = False) -> str:
    """Validate ``backend`` and resolve ``"auto"`` (torch on CUDA if present, else numba)."""
    try:
        b = ProjectorBackend(str(getattr(backend, "value", backend)).lower())
    except ValueError:
        choices = [m.value for m in ProjectorBackend if allow_deepdrr or m.value != "deepdrr"]
        raise ValueError(f"unknown backend {backend!r}; expected one of {choices}") from None
    if b is ProjectorBackend.DEEPDRR and not allow_deepdrr:
        raise ValueError("backend 'deepdrr' renders whole images: use it through Imager")
    if b is ProjectorBackend.AUTO:
        try:
            import torch

            return "torch" if torch.cuda.is_available() else "numba"
        except ImportError:  # pragma: no cover
            return "numba"
    return b.value


@dataclass(frozen=True)
class Rays:
    """Rays from the focal spot to the centres of an (H, W) detector grid.

    Attributes
    ----------
    source : ndarray, shape (3,)
        Focal spot (mm, LPS).
    targets : ndarray, shape (H, W, 3)
        Pixel centres on the detector plane (mm, LPS); row 0 is the top of the displayed image,
        column 0 its left.
    pixel_mm : tuple of float
        Pixel size (row, column) at the detector (mm).
    """

    source: NDArray[np.float64]
    targets: NDArray[np.float64]
    pixel_mm: tuple[float, float]

    @property
    def shape(self) -> tuple[int, int]:
        return self.targets.shape[:2]  # type: ignore[return-value]


def detector_rays(
    carm: CArm | CArmPose, shape: tuple[int, int], *, field_mm: float | None = None
) -> Rays:
    """Rays to every pixel centre of an (H, W) image of the C-arm's active field.

    Parameters
    ----------
    carm : CArm or CArmPose
        Geometry; for a batched pose the first entry is used.
    shape : (int, int)
        Output (H, W) pixels.
    field_mm : float, optional
        Active field side (mm) at the detector; default the C-arm's magnification mode. The
        longer image side spans it; pixels are square.
    """
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"`shape` must be two positive ints, got {shape}")
    if isinstance(carm, CArm):
        pose = carm.pose()
        field_mm = carm.field_mm if field_mm is None else field_mm
    else:
        pose = carm
        if field_mm is None:
            raise ValueError("`field_mm` is required with a CArmPose")
    px = float(field_mm) / max(h, w)
    cols = (np.arange(w) - (w - 1) / 2.0) * px
    rows = (np.arange(h) - (h - 1) / 2.0) * px
    tgt = (
        pose.detector_center[0][None, None, :]
        + cols[None, :, None] * pose.u_axis[0][None, None, :]
        + rows[:, None, None] * pose.v_axis[0][None, None, :]
    )
    return Rays(source=pose.source[0].copy(), targets=tgt, pixel_mm=(px, px))


def _voxel_rays(source, targets, affine, shape):
    inv = np.linalg.inv(np.asarray(affine, dtype=np.float64))
    d = targets.reshape(-1, 3) - source[None, :]
    t_max = np.linalg.norm(d, axis=1)
    d = d / t_max[:, None]
    src_vox = inv[:3, :3] @ source + inv[:3, 3]
    dir_vox = np.ascontiguousarray(d @ inv[:3, :3].T)
    return src_vox, dir_vox, t_max


def clip_reference(src_vox, dir_vox, shape, t_max):
    """numpy oracle of :func:`_projector_numba.clip_rays`; returns (t_in, t_out) mm."""
    lo = np.zeros(len(dir_vox))
    hi = np.asarray(t_max, dtype=np.float64).copy()
    for a in range(3):
        d = dir_vox[:, a]
        s = src_vox[a]
        with np.errstate(divide="ignore", invalid="ignore"):
            t0 = (0.0 - s) / d
            t1 = (shape[a] - 1.0 - s) / d
        tmin, tmax = np.minimum(t0, t1), np.maximum(t0, t1)
        par = np.abs(d) < 1e-12
        inside = (s >= 0) & (s <= shape[a] - 1)
        tmin = np.where(par, np.where(inside, -1e30, 1.0), tmin)
        tmax = np.where(par, np.where(inside, 1e30, -1.0), tmax)
        lo, hi = np.maximum(lo, tmin), np.minimum(hi, tmax)
    return lo, hi


def march_reference(density, src_vox, dir_vox, t_in, t_out, step_mm):
    """Plain-numpy oracle of the ray marcher (same sampling as the numba kernel)."""
    ni, nj, nk, nc = density.shape
    length = np.maximum(t_out - t_in, 0.0)
    ns = np.where(length > 0, np.ceil(length / step_mm), 0).astype(np.int64)
    out = np.zeros((len(dir_vox), nc), np.float64)
    ray = np.repeat(np.arange(len(dir_vox)), ns)
    if len(ray) == 0:
        return out.astype(np.float32)
    first = np.repeat(np.cumsum(ns) - ns, ns)
    k = np.arange(len(ray)) - first
    dt = length[ray] / ns[ray]
    t = t_in[ray] + (k + 0.5) * dt
    pts = src_vox[None, :] + t[:, None] * dir_vox[ray]
    hi = np.array([ni - 2, nj - 2, nk - 2])
    i0 = np.clip(np.floor(pts).astype(np.int64), 0, hi)
    f = np.clip(pts - i0, 0.0, 1.0)
    val = np.zeros((len(ray), nc))
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = (
                    (f[:, 0] if dx else 1 - f[:, 0])
                    * (f[:, 1] if dy else 1 - f[:, 1])
                    * (f[:, 2] if dz else 1 - f[:, 2])
                )
                val += w[:, None] * density[i0[:, 0] + dx, i0[:, 1] + dy, i0[:, 2] + dz]
    for c in range(nc):
        out[:, c] = np.bincount(ray, weights=val[:, c] * dt, minlength=len(dir_vox))
    return out.astype(np.float32)


def _march_torch(density, src_vox, dir_vox, t_in, t_out, step_mm, *, chunk_samples=2**24):
    import torch
    import torch.nn.functional as F

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ni, nj, nk, nc = density.shape
    vol = torch.as_tensor(np.ascontiguousarray(np.moveaxis(density, -1, 0)), device=dev)[None]
    length = np.maximum(t_out - t_in, 0.0)
    n_s = max(int(math.ceil(length.max() / step_mm)) if len(length) else 1, 1)
    out = np.zeros((len(dir_vox), nc), np.float32)
    scale = torch.tensor(
        [2.0 / (nk - 1), 2.0 / (nj - 1), 2.0 / (ni - 1)], device=dev, dtype=torch.float32
    )
    per = max(1, chunk_samples // n_s)
    src = torch.as_tensor(src_vox, device=dev, dtype=torch.float32)
    u = (torch.arange(n_s, device=dev, dtype=torch.float32) + 0.5) / n_s
    for a in range(0, len(dir_vox), per):
        b = min(a + per, len(dir_vox))
        d = torch.as_tensor(dir_vox[a:b], device=dev, dtype=torch.float32)
        t0 = torch.as_tensor(t_in[a:b], device=dev, dtype=torch.float32)
        ln = torch.as_tensor(length[a:b], device=dev, dtype=torch.float32)
        t = t0[:, None] + u[None, :] * ln[:, None]  # (R, S)
        p = src[None, None, :] + t[..., None] * d[:, None, :]  # (R, S, 3) ijk
        g = p.flip(-1) * scale - 1.0  # (x, y, z) = (k, j, i) normalised
        s = F.grid_sample(
            vol, g[None, None], mode="bilinear", padding_mode="zeros", align_corners=True
        )  # (1, C, 1, R, S)
        res = s[0, :, 0].sum(-1) * (ln / n_s)[None, :]
        out[a:b] = res.T.cpu().numpy()
    return out


@lru_cache(maxsize=16)
def _tile_order(shape: tuple[int, int], tile: int = 16) -> NDArray[np.int64]:
    """Permutation of a row-major (H, W) grid into ``tile`` × ``tile`` blocks. Rays of one block
    sample the same voxels, so marching them one after another keeps those voxels in cache
    (~1.5–2× faster than row order on a 160 MB 3-channel volume)."""
    h, w = shape
    rr, cc = np.divmod(np.arange(h * w), w)
    key = (
        ((rr // tile) * ((w + tile - 1) // tile) + cc // tile) * tile * tile
        + (rr % tile) * tile
        + cc % tile
    )
    return np.argsort(key, kind="stable")


def project_volume(
    volume: NDArray,
    affine: NDArray,
    source: NDArray,
    targets: NDArray,
    *,
    step_mm: float | None = None,
    backend: str = "auto",
) -> NDArray[np.float32]:
    """Line integrals of every channel of ``volume`` along rays source → targets.

    Parameters
    ----------
    volume : ndarray, shape (I, J, K, C) or (I, J, K)
        Channel-last values (unit u, e.g. g/cm³ or 1/mm); cast to float32.
    affine : ndarray, shape (4, 4)
        Voxel index → LPS mm.
    source : ndarray, shape (3,)
        Ray origin (mm, LPS).
    targets : ndarray, shape (..., 3)
        Ray ends (mm, LPS); integration stops there.
    step_mm : float, optional
        Sampling step (mm); default half the smallest voxel size.
    backend : {"auto", "numba", "torch", "reference"}
        See the module docstring.

    Returns
    -------
    ndarray, shape (..., C) (or (...) for a 3-D volume), float32
        Σ value · Δt (u · mm).
    """
    be = resolve_backend(backend)
    vol = np.asarray(volume)
    squeeze = vol.ndim == 3
    if squeeze:
        vol = vol[..., None]
    if vol.ndim != 4 or min(vol.shape[:3]) < 2:
        raise ValueError(f"`volume` must be (I, J, K[, C]) with I, J, K >= 2, got {vol.shape}")
    vol = np.ascontiguousarray(vol, dtype=np.float32)
    affine = np.asarray(affine, dtype=np.float64)
    if step_mm is None:
        step_mm = 0.5 * float(np.linalg.norm(affine[:3, :3], axis=0).min())
    if not step_mm > 0:
        raise ValueError(f"`step_mm` must be > 0, got {step_mm}")
    source = np.asarray(source, dtype=np.float64).reshape(3)
    targets = np.asarray(targets, dtype=np.float64)
    lead = targets.shape[:-1]
    src_vox, dir_vox, t_max = _voxel_rays(source, targets, affine, vol.shape[:3])
    shape = np.array(vol.shape[:3], dtype=np.float64)
    if be == "numba":
        from ._projector_numba import clip_rays, march_numba

        t_in = np.empty(len(dir_vox))
        t_out = np.empty(len(dir_vox))
        clip_rays(src_vox, dir_vox, shape, t_max, t_in, t_out)
        perm = _tile_order(lead) if len(lead) == 2 else None
        if perm is not None:  # march neighbouring rays together: they share cache lines
            dir_vox, t_in, t_out = np.ascontiguousarray(dir_vox[perm]), t_in[perm], t_out[perm]
        out = np.empty((len(dir_vox), vol.shape[3]), np.float32)
        march_numba(vol, src_vox, dir_vox, t_in, t_out, float(step_mm), out)
        if perm is not None:
            unperm = np.empty_like(out)
            unperm[perm] = out
            out = unperm
    else:
        t_in, t_out = clip_reference(src_vox, dir_vox, shape, t_max)
        if be == "torch":
            out = _march_torch(vol, src_vox, dir_vox, t_in, t_out, float(step_mm))
        else:
            out = march_reference(vol, src_vox, dir_vox, t_in, t_out, float(step_mm))
    out = out.reshape(*lead, vol.shape[3])
    return out[..., 0] if squeeze else out
