"""warp-lang port of the rod kernels (:mod:`._rod_kernels`): many worlds on the CPU or on CUDA.

The same algorithm as ``rod_step_batch`` / ``rod_substep`` and their helpers, line for line and in
the same operation order, compiled by NVIDIA warp instead of numba: float64 throughout, one warp
thread per world. Warp kernels have no dynamic local arrays, so every scratch array of a world
(``xprev``, the band matrix ``hb`` (3N, 7), ``g``, the frames, rest vectors, ``grad``, ``tw``,
``act`` and the combined stiffness of a catheter around a wire) is a preallocated global array
with the world index first. On CUDA those arrays are laid out world-minor (the world index has
stride 1) so that neighbouring threads touch neighbouring addresses (coalesced); the kernels index
them the same way either way (strided views). FMA contraction is off (``fuse_fp=False``) and the
SDF corner differences stay float32 as in numba, so on the CPU the results are bit-identical to
numba's (tests/sim/test_rod_warp.py). On CUDA, libdevice's sin/cos may differ from the C
library's in the last bit, and contact (active set, friction) can amplify such differences.

:class:`WarpRodKernels` has a ``rod_step_batch`` method with exactly the numba signature (numpy
in, results written back into the numpy arrays in place), so :class:`~._rod.RodSimulator` uses it
as its kernel module (``backend="warp"``). Parameters and the SDF are uploaded once and cached on
the device (keyed by array identity: they must not be changed in place afterwards); the state is
copied host -> device and back on every call (on CUDA two PCIe transfers per step, about
``B·D·N·8·8`` bytes each way).

warp is imported lazily: this module imports without it, and :func:`check_warp` raises
:class:`~._rod.WarpNotAvailableError` naming the fix (``pip install 'igtwin[gpu]'``).
"""

import difflib
import functools
import re
from typing import Any

import numpy as np

# the numerical constants are the numba kernels' own, so the two engines cannot drift apart
from ._rod_kernels import _EPS_V, _MAX_STEP, _N_RIDE, _N_WARM, _P, _TOL_STEP

__all__ = ["WarpRodKernels", "check_device", "check_warp"]

_HINT = "install it with `pip install 'igtwin[gpu]'` (or `pip install warp-lang`)"
_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device(device: str) -> str:
    """Validate a warp device string ("cpu", "cuda", "cuda:<n>"); ValueError otherwise."""
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        close = difflib.get_close_matches(str(device), ["cpu", "cuda", "cuda:0"], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown device {device!r}; expected 'cpu', 'cuda' or 'cuda:<n>'.{hint}")
    return device


def check_warp() -> Any:
    """Import warp and return it, or raise :class:`~._rod.WarpNotAvailableError` saying how."""
    from ._rod import WarpNotAvailableError

    try:
        import warp as wp
    except ImportError as e:
        raise WarpNotAvailableError(f"warp-lang is not importable ({e}); {_HINT}") from e
    return wp


def _resolve_device(wp: Any, device: str) -> Any:
    """The warp device for a validated device string; RuntimeError if CUDA is asked but absent."""
    check_device(device)
    if device == "cpu":
        return wp.get_device("cpu")
    from ._rod import WarpDeviceUnavailableError

    n = wp.get_cuda_device_count() if wp.is_cuda_available() else 0
    idx = int(device.split(":")[1]) if ":" in device else 0
    if idx >= n:
        raise WarpDeviceUnavailableError(
            f"device {device!r} requested but warp sees {n} CUDA device(s) (no NVIDIA driver or "
            "GPU here?); use device='cpu', or run where `warp.is_cuda_available()` is True"
        )
    return wp.get_device(device)


@functools.cache
def _build() -> Any:
    """Define the warp functions and the batch kernel (once per process)."""
    import types

    wp = check_warp()
    wp.config.quiet = True
    wp.set_module_options({"enable_backward": False, "fuse_fp": False})

    f64 = wp.float64
    A1 = wp.array(dtype=wp.float64)
    A2 = wp.array2d(dtype=wp.float64)
    A3 = wp.array3d(dtype=wp.float64)
    A4 = wp.array4d(dtype=wp.float64)
    SDF = wp.array3d(dtype=wp.float32)
    P = _P

    @wp.func
    def sdf_sample_grad(values: SDF, origin: A1, spacing: f64, outside: f64, px: f64, py: f64,
                        pz: f64):  # fmt: skip
        ni = values.shape[0]
        nj = values.shape[1]
        nk = values.shape[2]
        ux = (px - origin[0]) / spacing
        uy = (py - origin[1]) / spacing
        uz = (pz - origin[2]) / spacing
        fi = wp.floor(ux)
        fj = wp.floor(uy)
        fk = wp.floor(uz)
        if (fi < f64(0.0) or fj < f64(0.0) or fk < f64(0.0) or fi >= f64(ni - 1)
                or fj >= f64(nj - 1) or fk >= f64(nk - 1)):  # fmt: skip
            return outside, f64(0.0), f64(0.0), f64(0.0)
        i = int(fi)
        j = int(fj)
        k = int(fk)
        fx = ux - fi
        fy = uy - fj
        fz = uz - fk
        one = f64(1.0)
        # the corners stay float32 as in numba: their differences (gx) are float32 there
        c000 = values[i, j, k]
        c100 = values[i + 1, j, k]
        c010 = values[i, j + 1, k]
        c110 = values[i + 1, j + 1, k]
        c001 = values[i, j, k + 1]
        c101 = values[i + 1, j, k + 1]
        c011 = values[i, j + 1, k + 1]
        c111 = values[i + 1, j + 1, k + 1]
        c00 = f64(c000) * (one - fx) + f64(c100) * fx
        c10 = f64(c010) * (one - fx) + f64(c110) * fx
        c01 = f64(c001) * (one - fx) + f64(c101) * fx
        c11 = f64(c011) * (one - fx) + f64(c111) * fx
        c0 = c00 * (one - fy) + c10 * fy
        c1 = c01 * (one - fy) + c11 * fy
        d = c0 * (one - fz) + c1 * fz
        gx = (f64(c100 - c000) * (one - fy) + f64(c110 - c010) * fy) * (one - fz) + (
            f64(c101 - c001) * (one - fy) + f64(c111 - c011) * fy
        ) * fz
        gy = (c10 - c00) * (one - fz) + (c11 - c01) * fz
        gz = c1 - c0
        return d, gx / spacing, gy / spacing, gz / spacing

    @wp.func
    def band_cholesky(hb: A2, n: int):
        for j in range(n):
            s = hb[j, 0]
            for q in range(1, P + 1):
                v = hb[j, q]
                s = s - v * v
            if s <= f64(1e-300):
                s = f64(1e-300)
            ljj = wp.sqrt(s)
            hb[j, 0] = ljj
            inv = f64(1.0) / ljj
            for r in range(1, wp.min(P, n - 1 - j) + 1):
                i = j + r
                s2 = hb[i, r]
                for q in range(r + 1, P + 1):
                    s2 = s2 - hb[i, q] * hb[j, q - r]
                hb[i, r] = s2 * inv

    @wp.func
    def band_solve(lb: A2, n: int, b: A1):
        for i in range(n):
            s = b[i]
            for q in range(1, wp.min(P, i) + 1):
                s = s - lb[i, q] * b[i - q]
            b[i] = s / lb[i, 0]
        for i in range(n - 1, -1, -1):
            s = b[i]
            for q in range(1, wp.min(P, n - 1 - i) + 1):
                s = s - lb[i + q, q] * b[i + q]
            b[i] = s / lb[i, 0]

    @wp.func
    def transport(uu: A2, tt: A2, j: int):
        """uu[j] = parallel transport of uu[j-1] from tangent tt[j-1] to tt[j]."""
        t00 = tt[j - 1, 0]
        t01 = tt[j - 1, 1]
        t02 = tt[j - 1, 2]
        t10 = tt[j, 0]
        t11 = tt[j, 1]
        t12 = tt[j, 2]
        u0 = uu[j - 1, 0]
        u1 = uu[j - 1, 1]
        u2 = uu[j - 1, 2]
        bx = t01 * t12 - t02 * t11
        by = t02 * t10 - t00 * t12
        bz = t00 * t11 - t01 * t10
        c = t00 * t10 + t01 * t11 + t02 * t12
        cx = by * u2 - bz * u1
        cy = bz * u0 - bx * u2
        cz = bx * u1 - by * u0
        f = f64(0.0)
        if c > f64(-0.999999):
            f = f64(1.0) / (f64(1.0) + c)
        dx = by * cz - bz * cy
        dy = bz * cx - bx * cz
        dz = bx * cy - by * cx
        ox = u0 + cx + f * dx
        oy = u1 + cy + f * dy
        oz = u2 + cz + f * dz
        dp = ox * t10 + oy * t11 + oz * t12
        ox = ox - dp * t10
        oy = oy - dp * t11
        oz = oz - dp * t12
        nrm = wp.sqrt(ox * ox + oy * oy + oz * oz)
        if nrm < f64(1e-12):
            uu[j, 0] = u0
            uu[j, 1] = u1
            uu[j, 2] = u2
        else:
            uu[j, 0] = ox / nrm
            uu[j, 1] = oy / nrm
            uu[j, 2] = oz / nrm

    @wp.func
    def frames(x: A2, theta: A1, u0: A1, tt: A2, uu: A2, m1: A2, m2: A2):
        ne = x.shape[0] - 1
        for j in range(ne):
            ex = x[j + 1, 0] - x[j, 0]
            ey = x[j + 1, 1] - x[j, 1]
            ez = x[j + 1, 2] - x[j, 2]
            ln = wp.sqrt(ex * ex + ey * ey + ez * ez)
            if ln < f64(1e-12):
                ln = f64(1e-12)
            tt[j, 0] = ex / ln
            tt[j, 1] = ey / ln
            tt[j, 2] = ez / ln
        dp = u0[0] * tt[0, 0] + u0[1] * tt[0, 1] + u0[2] * tt[0, 2]
        ux = u0[0] - dp * tt[0, 0]
        uy = u0[1] - dp * tt[0, 1]
        uz = u0[2] - dp * tt[0, 2]
        nrm = wp.sqrt(ux * ux + uy * uy + uz * uz)
        uu[0, 0] = ux / nrm
        uu[0, 1] = uy / nrm
        uu[0, 2] = uz / nrm
        for j in range(1, ne):
            transport(uu, tt, j)
        for j in range(ne):
            t0 = tt[j, 0]
            t1 = tt[j, 1]
            t2 = tt[j, 2]
            v0 = uu[j, 0]
            v1 = uu[j, 1]
            v2 = uu[j, 2]
            vx = t1 * v2 - t2 * v1
            vy = t2 * v0 - t0 * v2
            vz = t0 * v1 - t1 * v0
            c = wp.cos(theta[j])
            s = wp.sin(theta[j])
            m1[j, 0] = c * v0 + s * vx
            m1[j, 1] = c * v1 + s * vy
            m1[j, 2] = c * v2 + s * vz
            m2[j, 0] = -s * v0 + c * vx
            m2[j, 1] = -s * v1 + c * vy
            m2[j, 2] = -s * v2 + c * vz

    @wp.func
    def rest_vectors(kap: A2, m1: A2, m2: A2, l: f64, rv: A2):
        n = kap.shape[0]
        for a in range(3):
            rv[0, a] = f64(0.0)
            rv[n - 1, a] = f64(0.0)
        for i in range(1, n - 1):
            k1 = kap[i, 0] * l * l * f64(0.5)
            k2 = kap[i, 1] * l * l * f64(0.5)
            for a in range(3):
                rv[i, a] = k1 * (m1[i - 1, a] + m1[i, a]) + k2 * (m2[i - 1, a] + m2[i, a])

    @wp.func
    def elastic_grad(x: A2, rv: A2, ei: A1, ks: A1, l: f64, i_from: int, grad: A2):
        n = x.shape[0]
        for i in range(n):
            for a in range(3):
                grad[i, a] = f64(0.0)
        for j in range(wp.max(i_from - 1, 0), n - 1):
            ex = x[j + 1, 0] - x[j, 0]
            ey = x[j + 1, 1] - x[j, 1]
            ez = x[j + 1, 2] - x[j, 2]
            ln = wp.sqrt(ex * ex + ey * ey + ez * ez)
            if ln >= f64(1e-12):
                f = ks[j] * (ln - l) / ln
                grad[j + 1, 0] = grad[j + 1, 0] + f * ex
                grad[j + 1, 1] = grad[j + 1, 1] + f * ey
                grad[j + 1, 2] = grad[j + 1, 2] + f * ez
                grad[j, 0] = grad[j, 0] - f * ex
                grad[j, 1] = grad[j, 1] - f * ey
                grad[j, 2] = grad[j, 2] - f * ez
        il3 = f64(1.0) / (l * l * l)
        for i in range(wp.max(i_from - 1, 1), n - 1):
            w = ei[i] * il3
            for a in range(3):
                d = x[i + 1, a] - f64(2.0) * x[i, a] + x[i - 1, a] - rv[i, a]
                grad[i - 1, a] = grad[i - 1, a] + w * d
                grad[i, a] = grad[i, a] - f64(2.0) * w * d
                grad[i + 1, a] = grad[i + 1, a] + w * d

    @wp.func
    def add_block_diag(hb: A2, r0: int, c0: int, val: f64):
        off = r0 - c0
        for a in range(3):
            hb[r0 + a, off] = hb[r0 + a, off] + val

    @wp.func
    def add_block_outer(hb: A2, r0: int, c0: int, w: f64, v: wp.vec3d, sym: bool):
        for a in range(3):
            for b in range(3):
                r = r0 + a
                c = c0 + b
                if r >= c:
                    if sym or r0 > c0:
                        hb[r, r - c] = hb[r, r - c] + w * v[a] * v[b]

    @wp.func
    def twist_update(x: A2, theta: A1, kap: A2, ei: A1, gj: A1, l: f64, jb: int, h: f64,
                     m1: A2, m2: A2, rv: A2, tw: A2):  # fmt: skip
        n = x.shape[0]
        il3 = f64(1.0) / (l * l * l)
        ih = f64(1.0) / h
        ne = n - 1
        for j in range(ne):
            tw[j, 0] = f64(0.0)
            tw[j, 1] = f64(0.0)
            tw[j, 2] = f64(0.0)
        for j in range(jb, ne):
            tw[j, 0] = f64(1e-5) * ih
        for j in range(jb - 1, ne - 1):
            w = f64(0.5) * (gj[j] + gj[j + 1]) / l
            dth = theta[j + 1] - theta[j]
            tw[j + 1, 2] = tw[j + 1, 2] + w * dth
            tw[j + 1, 0] = tw[j + 1, 0] + w
            if j >= jb:
                tw[j, 2] = tw[j, 2] - w * dth
                tw[j, 0] = tw[j, 0] + w
                tw[j, 1] = tw[j, 1] - w
        for i in range(wp.max(jb, 1), n - 1):
            k1 = kap[i, 0]
            k2 = kap[i, 1]
            if k1 != f64(0.0) or k2 != f64(0.0):
                w = ei[i] * il3
                c = f64(0.5) * l * l
                ja = i - 1
                jc = i
                da0 = c * (k1 * m2[ja, 0] - k2 * m1[ja, 0])
                da1 = c * (k1 * m2[ja, 1] - k2 * m1[ja, 1])
                da2 = c * (k1 * m2[ja, 2] - k2 * m1[ja, 2])
                dc0 = c * (k1 * m2[jc, 0] - k2 * m1[jc, 0])
                dc1 = c * (k1 * m2[jc, 1] - k2 * m1[jc, 1])
                dc2 = c * (k1 * m2[jc, 2] - k2 * m1[jc, 2])
                r0 = x[i + 1, 0] - f64(2.0) * x[i, 0] + x[i - 1, 0] - rv[i, 0]
                r1 = x[i + 1, 1] - f64(2.0) * x[i, 1] + x[i - 1, 1] - rv[i, 1]
                r2 = x[i + 1, 2] - f64(2.0) * x[i, 2] + x[i - 1, 2] - rv[i, 2]
                pa = c * (r0 * (k1 * m1[ja, 0] + k2 * m2[ja, 0])
                          + r1 * (k1 * m1[ja, 1] + k2 * m2[ja, 1])
                          + r2 * (k1 * m1[ja, 2] + k2 * m2[ja, 2]))  # fmt: skip
                pc = c * (r0 * (k1 * m1[jc, 0] + k2 * m2[jc, 0])
                          + r1 * (k1 * m1[jc, 1] + k2 * m2[jc, 1])
                          + r2 * (k1 * m1[jc, 2] + k2 * m2[jc, 2]))  # fmt: skip
                if ja >= jb:
                    tw[ja, 2] = tw[ja, 2] - w * (r0 * da0 + r1 * da1 + r2 * da2)
                    tw[ja, 0] = tw[ja, 0] + w * (
                        da0 * da0 + da1 * da1 + da2 * da2 + wp.max(pa, f64(0.0))
                    )
                    tw[ja, 1] = tw[ja, 1] + w * (da0 * dc0 + da1 * dc1 + da2 * dc2)
                tw[jc, 2] = tw[jc, 2] - w * (r0 * dc0 + r1 * dc1 + r2 * dc2)
                tw[jc, 0] = tw[jc, 0] + w * (
                    dc0 * dc0 + dc1 * dc1 + dc2 * dc2 + wp.max(pc, f64(0.0))
                )
        # Thomas algorithm on edges jb..ne-1
        for j in range(jb + 1, ne):
            f = tw[j - 1, 1] / tw[j - 1, 0]
            tw[j, 0] = tw[j, 0] - f * tw[j - 1, 1]
            tw[j, 2] = tw[j, 2] - f * tw[j - 1, 2]
        tw[ne - 1, 2] = tw[ne - 1, 2] / tw[ne - 1, 0]
        for j in range(ne - 2, jb - 1, -1):
            tw[j, 2] = (tw[j, 2] - tw[j, 1] * tw[j + 1, 2]) / tw[j, 0]
        for j in range(jb, ne):
            dth = -tw[j, 2]
            theta[j] = theta[j] + dth
            c = wp.cos(dth)
            s = wp.sin(dth)
            for a in range(3):
                p1 = m1[j, a]
                p2 = m2[j, a]
                m1[j, a] = c * p1 + s * p2
                m2[j, a] = -s * p1 + c * p2
        rest_vectors(kap, m1, m2, l, rv)

    @wp.func
    def rod_substep(
        x: A2, theta: A1, lin: f64, phi: f64, h: f64, fext: A2, ei: A1, gj: A1, ks: A1,
        kap: A2, rad: A1, drag: A1, mu: f64, kc: f64, l: f64, a0: A1, d0: A1, u0: A1,
        gpos: A2, glin: f64, ipos: A2, ilin: f64, kg: f64, sdf_v: SDF, sdf_o: A1, sdf_h: f64,
        sdf_out: f64, n_newton: int, max_iter: int, ftol: f64,
        cforce: A1, xprev: A2, hb: A2, g: A1, tt: A2, uu: A2, m1: A2, m2: A2, rv: A2,
        grad: A2, tw: A2, act: A1, gt: A2, gw: A1,
    ):  # fmt: skip
        n = x.shape[0]
        off = f64(n - 1) * l - lin
        hold = wp.max(glin, f64(0.0))
        ib = int(wp.floor((off + hold) / l))
        if glin > f64(0.0):
            ib = ib + 1
        else:
            ib = ib + 2
        if ib < 2:
            ib = 2
        if ib > n:
            ib = n
        goff = f64(n - 1) * l - glin
        jc = wp.min(ib, n) - 1
        cx = x[jc, 0]
        cy = x[jc, 1]
        cz = x[jc, 2]
        for i in range(ib):
            s = f64(i) * l - off
            if s <= f64(0.0) or glin <= f64(0.0):
                for a in range(3):
                    x[i, a] = a0[a] + d0[a] * s
            else:
                u = (s + goff) / l
                k = wp.min(wp.max(int(wp.floor(u)), 0), n - 2)
                f = wp.min(wp.max(u - f64(k), f64(0.0)), f64(1.0))
                for a in range(3):
                    x[i, a] = gpos[k, a] * (f64(1.0) - f) + gpos[k + 1, a] * f
        if glin > f64(0.0):
            dx = x[jc, 0] - cx
            dy = x[jc, 1] - cy
            dz = x[jc, 2] - cz
            for i in range(ib, wp.min(ib + wp.int32(_N_WARM), n)):
                w = f64(1.0) - f64(i - ib + 1) / (f64(_N_WARM) + f64(1.0))
                x[i, 0] = x[i, 0] + w * dx
                x[i, 1] = x[i, 1] + w * dy
                x[i, 2] = x[i, 2] + w * dz
        if ib == n:
            for j in range(n - 1):
                theta[j] = phi
            for i in range(n):
                cforce[i] = f64(0.0)
            return f64(0.0), f64(0.0), ib
        for i in range(n):
            for a in range(3):
                xprev[i, a] = x[i, a]
        for i in range(n):
            act[i] = f64(0.0)
            if i >= ib and cforce[i] > f64(0.0):
                d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1],
                                                x[i, 2])  # fmt: skip
                if d + rad[i] > f64(-0.01):
                    act[i] = f64(1.0)
        jb = ib - 1
        for j in range(jb):
            theta[j] = phi
        frames(x, theta, u0, tt, uu, m1, m2)
        rest_vectors(kap, m1, m2, l, rv)
        # over the wire: the catheter's distal nodes held on the wire that leads out of it
        offi = f64(n - 1) * l - ilin
        for i in range(n):
            gw[i] = f64(0.0)
            for a in range(3):
                gt[i, a] = f64(0.0)
            si = f64(i) * l - off
            if ilin > f64(0.0) and kg > f64(0.0) and i >= ib:
                if si > lin - (f64(_N_RIDE) - f64(0.5)) * l and si < ilin - f64(0.25) * l:
                    u = (si + offi) / l
                    k = wp.min(wp.max(int(wp.floor(u)), 0), n - 2)
                    f = wp.min(wp.max(u - f64(k), f64(0.0)), f64(1.0))
                    gw[i] = kg
                    for a in range(3):
                        gt[i, a] = ipos[k, a] * (f64(1.0) - f) + ipos[k + 1, a] * f
        nd = 3 * (n - ib)
        il3 = f64(1.0) / (l * l * l)
        ih = f64(1.0) / h
        nv = wp.vec3d()
        for it in range(max_iter):
            for r in range(nd):
                for q in range(P + 1):
                    hb[r, q] = f64(0.0)
                g[r] = f64(0.0)
            elastic_grad(x, rv, ei, ks, l, ib, grad)
            for i in range(ib, n):
                r0 = 3 * (i - ib)
                cdh = drag[i] * ih
                for a in range(3):
                    g[r0 + a] = g[r0 + a] + (
                        grad[i, a] - fext[i, a] + cdh * (x[i, a] - xprev[i, a])
                    )
                    g[r0 + a] = g[r0 + a] + gw[i] * (x[i, a] - gt[i, a])
                add_block_diag(hb, r0, r0, cdh + gw[i])
            # stretch Hessian (Gauss-Newton + geometric part when stretched)
            for j in range(wp.max(jb, 0), n - 1):
                ex = x[j + 1, 0] - x[j, 0]
                ey = x[j + 1, 1] - x[j, 1]
                ez = x[j + 1, 2] - x[j, 2]
                ln = wp.sqrt(ex * ex + ey * ey + ez * ez)
                if ln >= f64(1e-12):
                    nv = wp.vec3d(ex / ln, ey / ln, ez / ln)
                    w = ks[j]
                    geo = f64(0.0)
                    if ln > l:
                        geo = ks[j] * (f64(1.0) - l / ln)
                    rb = 3 * (j + 1 - ib)
                    add_block_outer(hb, rb, rb, w - geo, nv, True)
                    add_block_diag(hb, rb, rb, geo)
                    if j >= ib:
                        ra = 3 * (j - ib)
                        add_block_outer(hb, ra, ra, w - geo, nv, True)
                        add_block_diag(hb, ra, ra, geo)
                        add_block_outer(hb, rb, ra, -(w - geo), nv, False)
                        add_block_diag(hb, rb, ra, -geo)
            # bending Hessian: w c cᵀ ⊗ I3, c = (1, -2, 1)
            for i in range(wp.max(jb, 1), n - 1):
                w = ei[i] * il3
                for p in range(3):
                    np_ = i - 1 + p
                    if np_ >= ib:
                        cp = f64(1.0)
                        if p == 1:
                            cp = f64(-2.0)
                        for q in range(p + 1):
                            nq = i - 1 + q
                            if nq >= ib:
                                cq = f64(1.0)
                                if q == 1:
                                    cq = f64(-2.0)
                                add_block_diag(hb, 3 * (np_ - ib), 3 * (nq - ib), w * cp * cq)
            # contact penalty and regularised Coulomb friction
            for i in range(ib, n):
                d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1],
                                                x[i, 2])  # fmt: skip
                gn = wp.sqrt(gx * gx + gy * gy + gz * gz)
                if gn >= f64(1e-9):
                    nv = wp.vec3d(gx / gn, gy / gn, gz / gn)
                    r0 = 3 * (i - ib)
                    pen = d + rad[i]
                    if pen > f64(0.0):
                        act[i] = f64(1.0)
                    if act[i] > f64(0.0):
                        for a in range(3):
                            g[r0 + a] = g[r0 + a] + kc * pen * nv[a]
                        add_block_outer(hb, r0, r0, kc, nv, True)
                    fn = cforce[i]
                    if mu > f64(0.0) and fn > f64(0.0):
                        vx = (x[i, 0] - xprev[i, 0]) * ih
                        vy = (x[i, 1] - xprev[i, 1]) * ih
                        vz = (x[i, 2] - xprev[i, 2]) * ih
                        vn = vx * nv[0] + vy * nv[1] + vz * nv[2]
                        vx = vx - vn * nv[0]
                        vy = vy - vn * nv[1]
                        vz = vz - vn * nv[2]
                        sp = wp.sqrt(vx * vx + vy * vy + vz * vz + f64(_EPS_V) * f64(_EPS_V))
                        s = mu * fn / sp
                        g[r0] = g[r0] + s * vx
                        g[r0 + 1] = g[r0 + 1] + s * vy
                        g[r0 + 2] = g[r0 + 2] + s * vz
                        add_block_diag(hb, r0, r0, s * ih)
                        add_block_outer(hb, r0, r0, -s * ih, nv, True)
            res = f64(0.0)
            if ftol > f64(0.0):  # the largest force residual (N) before this iteration's step
                for r in range(nd):
                    if wp.abs(g[r]) > res:
                        res = wp.abs(g[r])
            band_cholesky(hb, nd)
            band_solve(hb, nd, g)
            # damped step: no node moves more than _MAX_STEP mm per iteration
            big = f64(0.0)
            for i in range(ib, n):
                r0 = 3 * (i - ib)
                mm = g[r0] * g[r0] + g[r0 + 1] * g[r0 + 1] + g[r0 + 2] * g[r0 + 2]
                if mm > big:
                    big = mm
            scale = f64(1.0)
            if big > f64(_MAX_STEP) * f64(_MAX_STEP):
                scale = f64(_MAX_STEP) / wp.sqrt(big)
            for i in range(ib, n):
                r0 = 3 * (i - ib)
                for a in range(3):
                    x[i, a] = x[i, a] - scale * g[r0 + a]
            twist_update(x, theta, kap, ei, gj, l, jb, h, m1, m2, rv, tw)
            if (it + 1 >= n_newton and big < f64(_TOL_STEP) * f64(_TOL_STEP)
                    and (ftol <= f64(0.0) or res < ftol)):  # fmt: skip
                break
        # wall normal forces and the proximal force from the elastic balance at the solution
        elastic_grad(x, rv, ei, ks, l, ib, grad)
        for i in range(n):
            cforce[i] = f64(0.0)
        for i in range(ib, n):
            d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1],
                                            x[i, 2])  # fmt: skip
            gn = wp.sqrt(gx * gx + gy * gy + gz * gz)
            if not (gn < f64(1e-9) or d + rad[i] < f64(-0.05)):
                fx = -grad[i, 0] + fext[i, 0] - gw[i] * (x[i, 0] - gt[i, 0])
                fy = -grad[i, 1] + fext[i, 1] - gw[i] * (x[i, 1] - gt[i, 1])
                fz = -grad[i, 2] + fext[i, 2] - gw[i] * (x[i, 2] - gt[i, 2])
                fo = (fx * gx + fy * gy + fz * gz) / gn
                if fo > f64(0.0):
                    cforce[i] = fo
        fprox = f64(0.0)
        for i in range(ib):
            fprox = fprox + (grad[i, 0] * d0[0] + grad[i, 1] * d0[1] + grad[i, 2] * d0[2])
        # projection into the lumen: sdf(x) <= -radius for every inserted node
        for i in range(ib, n):
            for _k in range(4):
                d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1],
                                                x[i, 2])  # fmt: skip
                pen = d + rad[i]
                if pen <= f64(0.0):
                    break
                gg = gx * gx + gy * gy + gz * gz
                if gg < f64(1e-12):
                    break
                x[i, 0] = x[i, 0] - pen * gx / gg
                x[i, 1] = x[i, 1] - pen * gy / gg
                x[i, 2] = x[i, 2] - pen * gz / gg
            d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1],
                                            x[i, 2])  # fmt: skip
            if d > f64(0.0):
                dp, gpx, gpy, gpz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, xprev[i, 0],
                                                    xprev[i, 1], xprev[i, 2])  # fmt: skip
                if dp < d:
                    for a in range(3):
                        x[i, a] = xprev[i, a]
        tprox = f64(0.5) * (gj[jb - 1] + gj[jb]) / l * (phi - theta[jb])
        return fprox, tprox, ib

    @wp.kernel
    def rod_step_kernel(
        xs: A4, thetas: A3, lins: A2, phis: A2, cforces: A3, vel: A2, omega: A2, fext: A4,
        dt: f64, n_sub: int, n_newton: int, max_iter: int, ftol: f64, lmax: f64, fmax: f64,
        ei: A2, gj: A2, ks: A2, kap: A3, rad: A2, drag: A2, mu: f64, kc: f64, kg: f64, l: f64,
        a0: A1, d0: A1, u0: A1, sdf_v: SDF, sdf_o: A1, sdf_h: f64, sdf_out: f64,
        fprox: A2, tprox: A2, nfirst: wp.array2d(dtype=wp.int64),
        s_xprev: A3, s_hb: A3, s_g: A2, s_tt: A3, s_uu: A3, s_m1: A3, s_m2: A3, s_rv: A3,
        s_grad: A3, s_tw: A3, s_act: A2, s_eic: A2, s_gjc: A2, s_kapc: A3, s_gt: A3, s_gw: A2,
    ):  # fmt: skip
        b = wp.tid()
        nd_ = xs.shape[1]
        n = xs.shape[2]
        h = dt / f64(n_sub)
        xprev = s_xprev[b]
        hb = s_hb[b]
        g = s_g[b]
        tt = s_tt[b]
        uu = s_uu[b]
        m1 = s_m1[b]
        m2 = s_m2[b]
        rv = s_rv[b]
        grad = s_grad[b]
        tw = s_tw[b]
        act = s_act[b]
        eic = s_eic[b]
        gjc = s_gjc[b]
        kapc = s_kapc[b]
        gt = s_gt[b]
        gw = s_gw[b]
        for _s in range(n_sub):
            for dv in range(nd_):
                # the operator's grip slips beyond fmax: a jammed device is not fed further
                v = vel[b, dv]
                fp = fprox[b, dv]
                if (v > f64(0.0) and fp >= fmax) or (v < f64(0.0) and fp <= -fmax):
                    v = f64(0.0)
                lin = wp.min(wp.max(lins[b, dv] + v * h, f64(0.0)), lmax)
                lins[b, dv] = lin
                phis[b, dv] = phis[b, dv] + omega[b, dv] * h
                gd = 0
                glin = f64(-1.0)
                if dv > 0:
                    gd = dv - 1
                    glin = lins[b, gd]
                # a device with another inside it bends as the combined section (EI, GJ add up)
                for i in range(n):
                    eic[i] = ei[dv, i]
                    kapc[i, 0] = kap[dv, i, 0]
                    kapc[i, 1] = kap[dv, i, 1]
                for j in range(n - 1):
                    gjc[j] = gj[dv, j]
                if dv + 1 < nd_:
                    offo = f64(n - 1) * l - lin
                    offi = f64(n - 1) * l - lins[b, dv + 1]
                    for i in range(n):
                        sg = f64(i) * l - offo
                        if sg > f64(0.0) and sg <= lins[b, dv + 1]:
                            k = wp.min(wp.max(int(wp.rint((sg + offi) / l)), 0), n - 1)
                            wsum = eic[i] + ei[dv + 1, k]
                            for c in range(2):
                                kapc[i, c] = (
                                    eic[i] * kapc[i, c] + ei[dv + 1, k] * kap[dv + 1, k, c]
                                ) / wsum
                            eic[i] = wsum
                            if i < n - 1:
                                gjc[i] = gjc[i] + gj[dv + 1, wp.min(k, n - 2)]
                di = dv
                ilin = f64(-1.0)
                if dv + 1 < nd_:
                    di = dv + 1
                    ilin = lins[b, di]
                fp2, tp, ib = rod_substep(
                    xs[b, dv], thetas[b, dv], lin, phis[b, dv], h, fext[b, dv], eic, gjc,
                    ks[dv], kapc, rad[dv], drag[dv], mu, kc, l, a0, d0, u0, xs[b, gd], glin,
                    xs[b, di], ilin, kg, sdf_v, sdf_o, sdf_h, sdf_out, n_newton, max_iter, ftol,
                    cforces[b, dv], xprev, hb, g, tt, uu, m1, m2, rv, grad, tw, act, gt, gw,
                )  # fmt: skip
                fprox[b, dv] = fp2
                tprox[b, dv] = tp
                nfirst[b, dv] = wp.int64(ib)

    return types.SimpleNamespace(wp=wp, rod_step_kernel=rod_step_kernel)


class WarpRodKernels:
    """The rod kernels on a warp device, with the numba ``rod_step_batch`` signature.

    Parameters
    ----------
    device : {"cpu", "cuda", "cuda:<n>"}, default: "cpu"
        warp device. ``"cuda"`` without a CUDA device raises
        :class:`~._rod.WarpDeviceUnavailableError` (no silent fallback to the CPU).
    world_minor : bool, optional
        Lay the per-world arrays out with the world index fastest (coalesced on a GPU); default:
        True on CUDA, False on the CPU. The results do not depend on it.

    Notes
    -----
    warp runs CPU kernels on one thread (its CPU backend does not spread launches over cores), so
    on the CPU this is a portability and validation path: numba's ``prange`` is faster there.
    """

    def __init__(self, device: str = "cpu", *, world_minor: bool | None = None) -> None:
        self._m = _build()
        self.wp = self._m.wp
        self.device = _resolve_device(self.wp, device)
        self.world_minor = self.device.is_cuda if world_minor is None else bool(world_minor)
        self._const: dict[str, tuple[Any, Any]] = {}  # name -> (numpy source, warp array)
        self._bufs: dict[str, tuple[Any, Any]] = {}  # name -> (contiguous base, (B,...) view)
        self._key: tuple | None = None

    # ----------------------------------------------------------------- device arrays
    def _const_array(self, name: str, a: np.ndarray, dtype: Any) -> Any:
        """Upload ``a`` once and reuse it while the same numpy array is passed."""
        hit = self._const.get(name)
        if hit is not None and hit[0] is a:
            return hit[1]
        arr = self.wp.array(np.ascontiguousarray(a), dtype=dtype, device=self.device)
        self._const[name] = (a, arr)
        return arr

    def _alloc(self, name: str, shape: tuple[int, ...], dtype: Any) -> Any:
        """A (B, ...) device array; world-minor storage with a strided view when asked."""
        wp = self.wp
        if not self.world_minor:
            base = wp.empty(shape, dtype=dtype, device=self.device)
            view = base
        else:
            base = wp.empty(shape[1:] + (shape[0],), dtype=dtype, device=self.device)
            nd = len(shape)
            view = base.transpose((nd - 1, *range(nd - 1)))
        self._bufs[name] = (base, view)
        return view

    def _ensure(self, b: int, d: int, n: int) -> None:
        if self._key == (b, d, n):
            return
        wp = self.wp
        f = wp.float64
        self._bufs = {}
        for name, shp, dt in (
            ("xs", (b, d, n, 3), f), ("thetas", (b, d, n - 1), f), ("lins", (b, d), f),
            ("phis", (b, d), f), ("cforces", (b, d, n), f), ("vel", (b, d), f),
            ("omega", (b, d), f), ("fext", (b, d, n, 3), f), ("fprox", (b, d), f),
            ("tprox", (b, d), f), ("nfirst", (b, d), wp.int64),
            ("xprev", (b, n, 3), f), ("hb", (b, 3 * n, _P + 1), f), ("g", (b, 3 * n), f),
            ("tt", (b, n - 1, 3), f), ("uu", (b, n - 1, 3), f), ("m1", (b, n - 1, 3), f),
            ("m2", (b, n - 1, 3), f), ("rv", (b, n, 3), f), ("grad", (b, n, 3), f),
            ("tw", (b, n - 1, 3), f), ("act", (b, n), f), ("eic", (b, n), f),
            ("gjc", (b, n - 1), f), ("kapc", (b, n, 2), f), ("gt", (b, n, 3), f),
            ("gw", (b, n), f),
        ):  # fmt: skip
            self._alloc(name, shp, dt)
        self._key = (b, d, n)

    def _upload(self, name: str, a: np.ndarray) -> Any:
        base, view = self._bufs[name]
        host = np.moveaxis(a, 0, -1) if self.world_minor else a
        base.assign(np.ascontiguousarray(host))
        return view

    def _download(self, name: str, out: np.ndarray) -> None:
        base, _ = self._bufs[name]
        host = base.numpy()
        out[...] = np.moveaxis(host, -1, 0) if self.world_minor else host

    # ----------------------------------------------------------------- the numba signature
    def rod_step_batch(
        self, xs, thetas, lins, phis, cforces, vel, omega, fext, dt, n_sub, n_newton, max_iter,
        ftol, lmax, fmax,
        ei, gj, ks, kap, rad, drag, mu, kc, kg, l, a0, d0, u0, sdf_v, sdf_o, sdf_h, sdf_out,
        fprox, tprox, nfirst,
    ):  # fmt: skip
        """Same contract as :func:`._rod_kernels.rod_step_batch` (numpy arrays, in place)."""
        wp = self.wp
        f = wp.float64
        b, d, n = xs.shape[0], xs.shape[1], xs.shape[2]
        self._ensure(b, d, n)
        up = {
            k: self._upload(k, np.asarray(a, dtype=np.float64))
            for k, a in (
                ("xs", xs), ("thetas", thetas), ("lins", lins), ("phis", phis),
                ("cforces", cforces), ("vel", vel), ("omega", omega), ("fext", fext),
                ("fprox", fprox),
            )
        }  # fmt: skip
        c = self._const_array
        bufs = {k: v[1] for k, v in self._bufs.items()}
        wp.launch(
            self._m.rod_step_kernel,
            dim=b,
            inputs=[
                up["xs"], up["thetas"], up["lins"], up["phis"], up["cforces"], up["vel"],
                up["omega"], up["fext"], float(dt), int(n_sub), int(n_newton), int(max_iter), float(ftol), float(lmax),
                float(fmax), c("ei", ei, f), c("gj", gj, f), c("ks", ks, f), c("kap", kap, f),
                c("rad", rad, f), c("drag", drag, f), float(mu), float(kc), float(kg), float(l),
                c("a0", a0, f), c("d0", d0, f), c("u0", u0, f), c("sdf_v", sdf_v, wp.float32),
                c("sdf_o", sdf_o, f), float(sdf_h), float(sdf_out),
                up["fprox"], bufs["tprox"], bufs["nfirst"],
                bufs["xprev"], bufs["hb"], bufs["g"], bufs["tt"], bufs["uu"], bufs["m1"],
                bufs["m2"], bufs["rv"], bufs["grad"], bufs["tw"], bufs["act"], bufs["eic"],
                bufs["gjc"], bufs["kapc"], bufs["gt"], bufs["gw"],
            ],
            device=self.device,
        )  # fmt: skip
        for k, out in (
            ("xs", xs), ("thetas", thetas), ("lins", lins), ("phis", phis),
            ("cforces", cforces), ("fprox", fprox), ("tprox", tprox), ("nfirst", nfirst),
        ):  # fmt: skip
            self._download(k, out)
