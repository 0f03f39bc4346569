"""numba kernels of the ray marcher (one ray per parallel iteration, all channels at once).

Pure functions: inputs first, outputs last; the numpy reference is ``_projector.march_reference``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = ["clip_rays", "march_numba"]


@nb.njit(cache=True, fastmath=True, inline="always")
def _slab(s, d, hi):
    """Entry/exit parameter of the line s + t d in the slab [0, hi] (t unbounded)."""
    if abs(d) < 1e-12:
        if s < 0.0 or s > hi:
            return 1.0, -1.0
        return -1e30, 1e30
    t0 = (0.0 - s) / d
    t1 = (hi - s) / d
    if t0 > t1:
        t0, t1 = t1, t0
    return t0, t1


@nb.njit(cache=True, fastmath=True)
def clip_rays(src_vox, dir_vox, shape, t_max, t_in, t_out):
    """Clip rays to the trilinear box [0, n−1]³ (voxel index).

    src_vox (3,) ray origin, voxel index; dir_vox (P, 3) voxel index per mm along the ray;
    shape (3,) grid size; t_max (P,) ray length (mm). Writes t_in, t_out (P,) in mm
    (t_out ≤ t_in when the ray misses).
    """
    for p in range(dir_vox.shape[0]):
        lo, hi = 0.0, t_max[p]
        for a in range(3):
            a0, a1 = _slab(src_vox[a], dir_vox[p, a], shape[a] - 1.0)
            lo = max(lo, a0)
            hi = min(hi, a1)
        t_in[p] = lo
        t_out[p] = hi


@nb.njit(cache=True, fastmath=True, inline="always")
def _tri(flat, b, oi, oj, ok, fx, fy, fz):
    """Trilinear value at base index b of a flattened channel-last grid (7 lerps)."""
    v000 = flat[b]
    v100 = flat[b + oi]
    v010 = flat[b + oj]
    v110 = flat[b + oi + oj]
    v001 = flat[b + ok]
    v101 = flat[b + oi + ok]
    v011 = flat[b + oj + ok]
    v111 = flat[b + oi + oj + ok]
    c00 = v000 + fx * (v100 - v000)
    c10 = v010 + fx * (v110 - v010)
    c01 = v001 + fx * (v101 - v001)
    c11 = v011 + fx * (v111 - v011)
    c0 = c00 + fy * (c10 - c00)
    c1 = c01 + fy * (c11 - c01)
    return c0 + fz * (c1 - c0)


@nb.njit(cache=True, fastmath=True, parallel=True)
def march_numba(density, src_vox, dir_vox, t_in, t_out, step_mm, out):
    """Line integrals of every channel along each ray (midpoint rule, trilinear samples).

    Parameters
    ----------
    density : (I, J, K, C) float32, C-contiguous, per-channel values (any unit u).
    src_vox : (3,) float64, ray origin (voxel index).
    dir_vox : (P, 3) float64, voxel index per mm along each ray.
    t_in, t_out : (P,) float64, clipped ray interval (mm).
    step_mm : float, nominal step (mm); each ray uses ``ceil(L / step)`` equal steps.
    out : (P, C) float32, written with sum of value * dt (u * mm).
    """
    ni, nj, nk, nc = density.shape
    flat = density.reshape(-1)
    ok = nc
    oj = nk * nc
    oi = nj * nk * nc
    for p in nb.prange(dir_vox.shape[0]):
        for c in range(nc):
            out[p, c] = 0.0
        length = t_out[p] - t_in[p]
        if length <= 0.0:
            continue
        ns = int(math.ceil(length / step_mm))
        dt = length / ns
        # float32 stepping: ~1.5x faster; drift after 1000 steps ~1e-4 voxel
        t0 = t_in[p] + 0.5 * dt
        x = np.float32(src_vox[0] + t0 * dir_vox[p, 0])
        y = np.float32(src_vox[1] + t0 * dir_vox[p, 1])
        z = np.float32(src_vox[2] + t0 * dir_vox[p, 2])
        sx = np.float32(dir_vox[p, 0] * dt)
        sy = np.float32(dir_vox[p, 1] * dt)
        sz = np.float32(dir_vox[p, 2] * dt)
        acc0 = np.float32(0.0)
        acc1 = np.float32(0.0)
        acc2 = np.float32(0.0)
        for _ in range(ns):
            # rays are clipped to [0, n-1]: clamp the cell only (fractions stay within rounding)
            i = min(max(int(x), 0), ni - 2)
            j = min(max(int(y), 0), nj - 2)
            k = min(max(int(z), 0), nk - 2)
            fx = x - np.float32(i)
            fy = y - np.float32(j)
            fz = z - np.float32(k)
            b = i * oi + j * oj + k * ok
            if nc == 3:
                acc0 += _tri(flat, b, oi, oj, ok, fx, fy, fz)
                acc1 += _tri(flat, b + 1, oi, oj, ok, fx, fy, fz)
                acc2 += _tri(flat, b + 2, oi, oj, ok, fx, fy, fz)
            elif nc == 1:
                acc0 += _tri(flat, b, oi, oj, ok, fx, fy, fz)
            else:
                for c in range(nc):
                    out[p, c] += _tri(flat, b + c, oi, oj, ok, fx, fy, fz)
            x += sx
            y += sy
            z += sz
        if nc == 3:
            out[p, 0] = acc0 * dt
            out[p, 1] = acc1 * dt
            out[p, 2] = acc2 * dt
        elif nc == 1:
            out[p, 0] = acc0 * dt
        else:
            for c in range(nc):
                out[p, c] *= dt
