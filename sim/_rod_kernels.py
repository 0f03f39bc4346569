"""numba kernels of the elastic rod: SDF sampling, banded Cholesky, one rod substep, batch step.

All kernels are pure free functions: inputs first, then outputs/scratch, no globals; ``h`` (s) is
always passed. Each has a plain-Python reference: ``kernel.py_func`` (the same code, not
compiled), checked against numpy/scipy oracles in ``tests/sim/test_rod_mechanics.py``.

Model (see docs/devices.md): nodes ``x`` (N, 3) LPS mm, proximal (0) to distal (N-1), spacing
``l`` mm; one twist angle per edge ``theta`` (N-1,) rad measured from the space-parallel
(Bishop) frame transported from the access direction. Energy

    E = Σ_edges EA/(2l) (|e_j| - l)²                    stretch (near-inextensible)
      + Σ_vertices EI/(2l³) |e_i - e_{i-1} - r_i(θ)|²   bending, rest turning vector r_i
      + Σ_edge-pairs GJ/(2l) (θ_{j+1} - θ_j)²           twist
      + Σ_nodes k_c/2 max(sdf(x_i) + ρ_i, 0)²           wall contact (penalty in the solve)
    - Σ f_ext · x,

with ``r_i = l² (κ1 m1 + κ2 m2)`` the rest curvature in the material frame (m1, m2). Each substep
is a backward-Euler/quasi-static step with viscous drag ``c/h`` on the nodes: Gauss-Newton on
positions (banded 3N system, half bandwidth 6), then a Gauss-Newton twist update (tridiagonal),
regularised Coulomb friction inside the solve, and a final projection of every inserted node
into the lumen (sdf ≤ -ρ) so that no node can leave the lumen.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

__all__ = [
    "band_cholesky",
    "band_solve",
    "rod_step_batch",
    "sdf_sample_grad",
]

_P = 6  # half bandwidth of the position Hessian: stretch blocks reach dof offset 5, bending 6
_EPS_V = 1.0  # mm/s, regularisation speed of Coulomb friction
_MAX_STEP = 1.0  # mm, largest node move per Gauss-Newton iteration (damping)
_TOL_STEP = 0.1  # mm: iterate on (up to max_iter) while a node moves more
_N_RIDE = 3  # a catheter's last nodes held on the wire that leads out of it
_N_WARM = 6  # free wire nodes beyond a catheter tip that follow its move (warm start)


@nb.njit(cache=True, error_model="numpy")
def sdf_sample_grad(values, origin, spacing, outside, px, py, pz):
    """Trilinear SDF value (mm) and gradient at one LPS point (mm); numba twin of SDFGrid.

    Returns (d, gx, gy, gz); outside the grid ``outside`` and a zero gradient.
    """
    ni, nj, nk = values.shape
    ux = (px - origin[0]) / spacing
    uy = (py - origin[1]) / spacing
    uz = (pz - origin[2]) / spacing
    fi = math.floor(ux)
    fj = math.floor(uy)
    fk = math.floor(uz)
    if fi < 0 or fj < 0 or fk < 0 or fi >= ni - 1 or fj >= nj - 1 or fk >= nk - 1:
        return outside, 0.0, 0.0, 0.0
    i = int(fi)
    j = int(fj)
    k = int(fk)
    fx = ux - fi
    fy = uy - fj
    fz = uz - fk
    c000 = values[i, j, k]
    c100 = values[i + 1, j, k]
    c010 = values[i, j + 1, k]
    c110 = values[i + 1, j + 1, k]
    c001 = values[i, j, k + 1]
    c101 = values[i + 1, j, k + 1]
    c011 = values[i, j + 1, k + 1]
    c111 = values[i + 1, j + 1, k + 1]
    c00 = c000 * (1 - fx) + c100 * fx
    c10 = c010 * (1 - fx) + c110 * fx
    c01 = c001 * (1 - fx) + c101 * fx
    c11 = c011 * (1 - fx) + c111 * fx
    c0 = c00 * (1 - fy) + c10 * fy
    c1 = c01 * (1 - fy) + c11 * fy
    d = c0 * (1 - fz) + c1 * fz
    gx = ((c100 - c000) * (1 - fy) + (c110 - c010) * fy) * (1 - fz) + (
        (c101 - c001) * (1 - fy) + (c111 - c011) * fy
    ) * fz
    gy = (c10 - c00) * (1 - fz) + (c11 - c01) * fz
    gz = c1 - c0
    return d, gx / spacing, gy / spacing, gz / spacing


@nb.njit(cache=True, error_model="numpy")
def band_cholesky(hb, n):
    """In-place Cholesky of the rod's symmetric positive definite band matrix (lower storage).

    ``hb[r, k]`` holds ``H[r, r - k]`` for ``k = 0.._P`` (half bandwidth ``_P``); on return it
    holds ``L`` likewise. Entries above the matrix (``k > r``) must be zero, and rows
    ``n .. n+_P-1`` must hold an identity padding (1 on the diagonal, 0 off it): the loops then
    run to constant bounds, which the compiler unrolls (10-25 % faster than variable bounds on
    the ~300-row rod matrix, with the same result). Non-positive pivots are replaced by a tiny
    positive value (the caller regularises).
    """
    for j in range(n):
        s = hb[j, 0]
        for q in range(1, _P + 1):
            v = hb[j, q]
            s -= v * v
        if s <= 1e-300:
            s = 1e-300
        ljj = math.sqrt(s)
        hb[j, 0] = ljj
        inv = 1.0 / ljj
        for r in range(1, _P + 1):
            i = j + r
            s = hb[i, r]
            for q in range(r + 1, _P + 1):
                s -= hb[i, q] * hb[j, q - r]
            hb[i, r] = s * inv


@nb.njit(cache=True, error_model="numpy")
def band_solve(lb, n, b):
    """Solve ``L Lᵀ x = b`` in place in ``b`` with the factor from :func:`band_cholesky`;
    ``b[n : n+_P]`` must be 0 (the padding)."""
    for i in range(min(_P, n)):
        s = b[i]
        for q in range(1, i + 1):
            s -= lb[i, q] * b[i - q]
        b[i] = s / lb[i, 0]
    for i in range(_P, n):
        s = b[i]
        for q in range(1, _P + 1):
            s -= lb[i, q] * b[i - q]
        b[i] = s / lb[i, 0]
    for i in range(n - 1, -1, -1):
        s = b[i]
        for q in range(1, _P + 1):
            s -= lb[i + q, q] * b[i + q]
        b[i] = s / lb[i, 0]


@nb.njit(cache=True, error_model="numpy")
def _transport(u, t0, t1, out):
    """Parallel-transport unit vector ``u`` from tangent t0 to t1 (both unit) into ``out``."""
    bx = t0[1] * t1[2] - t0[2] * t1[1]
    by = t0[2] * t1[0] - t0[0] * t1[2]
    bz = t0[0] * t1[1] - t0[1] * t1[0]
    c = t0[0] * t1[0] + t0[1] * t1[1] + t0[2] * t1[2]
    # R v = v + b×v + b×(b×v)/(1+c)
    cx = by * u[2] - bz * u[1]
    cy = bz * u[0] - bx * u[2]
    cz = bx * u[1] - by * u[0]
    f = 1.0 / (1.0 + c) if c > -0.999999 else 0.0
    dx = by * cz - bz * cy
    dy = bz * cx - bx * cz
    dz = bx * cy - by * cx
    ox = u[0] + cx + f * dx
    oy = u[1] + cy + f * dy
    oz = u[2] + cz + f * dz
    # re-orthonormalise against t1
    dp = ox * t1[0] + oy * t1[1] + oz * t1[2]
    ox -= dp * t1[0]
    oy -= dp * t1[1]
    oz -= dp * t1[2]
    nrm = math.sqrt(ox * ox + oy * oy + oz * oz)
    if nrm < 1e-12:
        out[0] = u[0]
        out[1] = u[1]
        out[2] = u[2]
    else:
        out[0] = ox / nrm
        out[1] = oy / nrm
        out[2] = oz / nrm


@nb.njit(cache=True, error_model="numpy")
def _frames(x, theta, u0, tt, uu, m1, m2):
    """Tangents ``tt``, Bishop frames ``uu`` and material frames (m1, m2) of every edge."""
    ne = x.shape[0] - 1
    for j in range(ne):
        ex = x[j + 1, 0] - x[j, 0]
        ey = x[j + 1, 1] - x[j, 1]
        ez = x[j + 1, 2] - x[j, 2]
        ln = math.sqrt(ex * ex + ey * ey + ez * ez)
        if ln < 1e-12:
            ln = 1e-12
        tt[j, 0] = ex / ln
        tt[j, 1] = ey / ln
        tt[j, 2] = ez / ln
    # first edge: u0 made orthogonal to t0
    dp = u0[0] * tt[0, 0] + u0[1] * tt[0, 1] + u0[2] * tt[0, 2]
    ux = u0[0] - dp * tt[0, 0]
    uy = u0[1] - dp * tt[0, 1]
    uz = u0[2] - dp * tt[0, 2]
    nrm = math.sqrt(ux * ux + uy * uy + uz * uz)
    uu[0, 0] = ux / nrm
    uu[0, 1] = uy / nrm
    uu[0, 2] = uz / nrm
    for j in range(1, ne):
        _transport(uu[j - 1], tt[j - 1], tt[j], uu[j])
    for j in range(ne):
        t = tt[j]
        u = uu[j]
        vx = t[1] * u[2] - t[2] * u[1]
        vy = t[2] * u[0] - t[0] * u[2]
        vz = t[0] * u[1] - t[1] * u[0]
        c = math.cos(theta[j])
        s = math.sin(theta[j])
        m1[j, 0] = c * u[0] + s * vx
        m1[j, 1] = c * u[1] + s * vy
        m1[j, 2] = c * u[2] + s * vz
        m2[j, 0] = -s * u[0] + c * vx
        m2[j, 1] = -s * u[1] + c * vy
        m2[j, 2] = -s * u[2] + c * vz


@nb.njit(cache=True, error_model="numpy")
def _rest_vectors(kap, m1, m2, l, rv):
    """Rest turning vectors r_i = l² (κ1 m1 + κ2 m2) at interior vertices (frames averaged)."""
    n = kap.shape[0]
    rv[0, :] = 0.0
    rv[n - 1, :] = 0.0
    for i in range(1, n - 1):
        k1 = kap[i, 0] * l * l * 0.5
        k2 = kap[i, 1] * l * l * 0.5
        for a in range(3):
            rv[i, a] = k1 * (m1[i - 1, a] + m1[i, a]) + k2 * (m2[i - 1, a] + m2[i, a])


@nb.njit(cache=True, error_model="numpy")
def _elastic_grad(x, rv, ei, ks, l, i_from, grad):
    """Gradient (N) of stretch + bending energy w.r.t. every node, for terms touching nodes ≥ i_from."""
    n = x.shape[0]
    grad[:, :] = 0.0
    for j in range(max(i_from - 1, 0), n - 1):
        ex = x[j + 1, 0] - x[j, 0]
        ey = x[j + 1, 1] - x[j, 1]
        ez = x[j + 1, 2] - x[j, 2]
        ln = math.sqrt(ex * ex + ey * ey + ez * ez)
        if ln < 1e-12:
            continue
        f = ks[j] * (ln - l) / ln
        grad[j + 1, 0] += f * ex
        grad[j + 1, 1] += f * ey
        grad[j + 1, 2] += f * ez
        grad[j, 0] -= f * ex
        grad[j, 1] -= f * ey
        grad[j, 2] -= f * ez
    il3 = 1.0 / (l * l * l)
    for i in range(max(i_from - 1, 1), n - 1):
        w = ei[i] * il3
        for a in range(3):
            d = x[i + 1, a] - 2.0 * x[i, a] + x[i - 1, a] - rv[i, a]
            grad[i - 1, a] += w * d
            grad[i, a] -= 2.0 * w * d
            grad[i + 1, a] += w * d


@nb.njit(cache=True, error_model="numpy")
def _add_block_diag(hb, r0, c0, val):
    """Add ``val`` to the (r0+a, c0+a) diagonal of a 3x3 block, lower band storage."""
    off = r0 - c0
    for a in range(3):
        hb[r0 + a, off] += val


@nb.njit(cache=True, error_model="numpy")
def _add_block_outer(hb, r0, c0, w, v, sym):
    """Add ``w v vᵀ`` as the 3x3 block (r0, c0) (r0 ≥ c0); ``sym``: a diagonal block."""
    for a in range(3):
        for b in range(3):
            r = r0 + a
            c = c0 + b
            if r >= c:
                if sym or r0 > c0:
                    hb[r, r - c] += w * v[a] * v[b]


@nb.njit(cache=True, error_model="numpy")
def _twist_update(x, theta, kap, ei, gj, l, jb, h, u0, tt, uu, m1, m2, rv, tw):
    """One Gauss-Newton step on the free edge angles θ[jb:] (tridiagonal; positions fixed).

    Needs the frames (m1, m2) and rest vectors ``rv`` of the current ``x``, ``theta``; updates
    ``theta`` and then refreshes frames and rest vectors. ``tw`` (N-1, 3) is scratch.
    """
    n = x.shape[0]
    il3 = 1.0 / (l * l * l)
    ih = 1.0 / h
    ne = n - 1
    for j in range(ne):
        tw[j, 0] = 0.0
        tw[j, 1] = 0.0
        tw[j, 2] = 0.0
    for j in range(jb, ne):
        tw[j, 0] = 1e-5 * ih  # twist drag (N·mm·s/rad) keeps the system definite
    for j in range(jb - 1, ne - 1):  # pair (j, j+1)
        w = 0.5 * (gj[j] + gj[j + 1]) / l
        dth = theta[j + 1] - theta[j]
        tw[j + 1, 2] += w * dth
        tw[j + 1, 0] += w
        if j >= jb:
            tw[j, 2] -= w * dth
            tw[j, 0] += w
            tw[j, 1] -= w
    for i in range(max(jb, 1), n - 1):
        k1 = kap[i, 0]
        k2 = kap[i, 1]
        if k1 == 0.0 and k2 == 0.0:
            continue
        w = ei[i] * il3
        c = 0.5 * l * l
        # dr/dθ for the two edges of vertex i
        ja = i - 1
        jc = i
        da0 = c * (k1 * m2[ja, 0] - k2 * m1[ja, 0])
        da1 = c * (k1 * m2[ja, 1] - k2 * m1[ja, 1])
        da2 = c * (k1 * m2[ja, 2] - k2 * m1[ja, 2])
        dc0 = c * (k1 * m2[jc, 0] - k2 * m1[jc, 0])
        dc1 = c * (k1 * m2[jc, 1] - k2 * m1[jc, 1])
        dc2 = c * (k1 * m2[jc, 2] - k2 * m1[jc, 2])
        r0 = x[i + 1, 0] - 2.0 * x[i, 0] + x[i - 1, 0] - rv[i, 0]
        r1 = x[i + 1, 1] - 2.0 * x[i, 1] + x[i - 1, 1] - rv[i, 1]
        r2 = x[i + 1, 2] - 2.0 * x[i, 2] + x[i - 1, 2] - rv[i, 2]
        # second-order part of the Hessian, ρ·(∂²r/∂θ²) = -ρ·r_edge, kept where positive
        pa = c * (r0 * (k1 * m1[ja, 0] + k2 * m2[ja, 0]) + r1 * (k1 * m1[ja, 1] + k2 * m2[ja, 1])
                  + r2 * (k1 * m1[ja, 2] + k2 * m2[ja, 2]))  # fmt: skip
        pc = c * (r0 * (k1 * m1[jc, 0] + k2 * m2[jc, 0]) + r1 * (k1 * m1[jc, 1] + k2 * m2[jc, 1])
                  + r2 * (k1 * m1[jc, 2] + k2 * m2[jc, 2]))  # fmt: skip
        if ja >= jb:
            tw[ja, 2] -= w * (r0 * da0 + r1 * da1 + r2 * da2)
            tw[ja, 0] += w * (da0 * da0 + da1 * da1 + da2 * da2 + max(pa, 0.0))
            tw[ja, 1] += w * (da0 * dc0 + da1 * dc1 + da2 * dc2)
        tw[jc, 2] -= w * (r0 * dc0 + r1 * dc1 + r2 * dc2)
        tw[jc, 0] += w * (dc0 * dc0 + dc1 * dc1 + dc2 * dc2 + max(pc, 0.0))
    # Thomas algorithm on edges jb..ne-1
    for j in range(jb + 1, ne):
        f = tw[j - 1, 1] / tw[j - 1, 0]
        tw[j, 0] -= f * tw[j - 1, 1]
        tw[j, 2] -= f * tw[j - 1, 2]
    tw[ne - 1, 2] /= tw[ne - 1, 0]
    for j in range(ne - 2, jb - 1, -1):
        tw[j, 2] = (tw[j, 2] - tw[j, 1] * tw[j + 1, 2]) / tw[j, 0]
    for j in range(jb, ne):
        dth = -tw[j, 2]
        theta[j] += dth
        c = math.cos(dth)
        s = math.sin(dth)
        for a in range(3):
            p1 = m1[j, a]
            p2 = m2[j, a]
            m1[j, a] = c * p1 + s * p2
            m2[j, a] = -s * p1 + c * p2
    _rest_vectors(kap, m1, m2, l, rv)


@nb.njit(cache=True, error_model="numpy")
def rod_substep(
    x, theta, lin, phi, h, fext, ei, gj, ks, kap, rad, drag, mu, kc, l, a0, d0, u0,
    gpos, glin, ipos, ilin, kg, sdf_v, sdf_o, sdf_h, sdf_out, n_newton, max_iter, ftol,
    cforce, xprev, hb, g, tt, uu, m1, m2, rv, grad, tw, act, gt, gw,
):  # fmt: skip
    """Advance one rod by one substep ``h`` (s); ``x``, ``theta`` and ``cforce`` in place.

    Parameters
    ----------
    x : (N, 3) node positions (LPS mm), proximal to distal; theta : (N-1,) edge twist (rad).
    lin, phi : inserted length (mm) and proximal rotation (rad) after this substep.
    fext : (N, 3) external node forces (N). ei (N,), gj (N-1,) : E·I, G·J (N·mm²) at vertices
    and edges; ks (N-1,) : E·A/l (N/mm); kap (N, 2) rest curvature (1/mm) in the material
    frame; rad (N,) device radius (mm); drag (N,) viscous node drag (N·s/mm); mu : Coulomb
    friction coefficient; kc : contact stiffness (N/mm); l : node spacing (mm); a0, d0, u0 :
    access point (mm), unit insertion direction, reference director; gpos (N, 3), glin : the
    guide's nodes (mm) and inserted length (mm) for a wire inside a catheter (glin <= 0: no
    guide), the wire being held on the guide's centreline up to ``glin``; ipos (N, 3), ilin :
    for a catheter, the nodes (mm, last substep) and inserted length (mm) of the wire inside it
    (ilin <= 0: none); kg : stiffness (N/mm) that holds the catheter's last ``_N_RIDE`` nodes on
    the wire's centreline where the wire runs on beyond them (the catheter rides over the
    wire); sdf_* : lumen SDF; n_newton, max_iter : least and most Gauss-Newton iterations;
    ftol : force tolerance (N): with ftol > 0 an iteration stops only once the largest force
    residual at a free node is also below it (else the 0.1 mm step criterion alone).
    cforce : (N,) wall normal force (N), read (last substep, for friction) and written.
    Remaining arguments are scratch.

    Returns
    -------
    (proximal_force N, proximal_torque N·mm, first free node index)
    """
    n = x.shape[0]
    off = (n - 1) * l - lin
    hold = max(glin, 0.0)  # length held inside the guide (the catheter around a wire)
    # nodes up to one spacing beyond the clamp (the access point, or the catheter tip) are held:
    # the discrete clamp (zero slope) sits mid-edge, so it then lies within ±l/2 of the access
    # (inside a guide, only up to the guide's tip: nothing is extrapolated past it)
    ib = int(math.floor((off + hold) / l)) + (1 if glin > 0.0 else 2)
    if ib < 2:
        ib = 2
    if ib > n:
        ib = n
    goff = (n - 1) * l - glin
    # warm start inside a guide: the first free nodes follow the clamp (the catheter tip),
    # fading out over _N_WARM nodes (moving the whole free part rigidly carried nodes lying
    # against a wall through it when the catheter tip swung)
    jc = min(ib, n) - 1
    cx = x[jc, 0]
    cy = x[jc, 1]
    cz = x[jc, 2]
    for i in range(ib):
        s = i * l - off
        if s <= 0.0 or glin <= 0.0:  # behind the access point, on the insertion line
            for a in range(3):
                x[i, a] = a0[a] + d0[a] * s
        else:  # inside the guide: on its centreline at the same arc length
            u = (s + goff) / l
            k = min(max(int(math.floor(u)), 0), n - 2)
            f = min(max(u - k, 0.0), 1.0)
            for a in range(3):
                x[i, a] = gpos[k, a] * (1.0 - f) + gpos[k + 1, a] * f
    if glin > 0.0:
        dx = x[jc, 0] - cx
        dy = x[jc, 1] - cy
        dz = x[jc, 2] - cz
        for i in range(ib, min(ib + _N_WARM, n)):
            w = 1.0 - (i - ib + 1) / (_N_WARM + 1.0)
            x[i, 0] += w * dx
            x[i, 1] += w * dy
            x[i, 2] += w * dz
    if ib == n:  # nothing inserted: the whole device lies behind the access point
        for j in range(n - 1):
            theta[j] = phi
        for i in range(n):
            cforce[i] = 0.0
        return 0.0, 0.0, ib
    for i in range(n):
        for a in range(3):
            xprev[i, a] = x[i, a]
    # contact active set: nodes touching the wall and pressing on it in the last substep
    for i in range(n):
        act[i] = 0.0
        if i >= ib and cforce[i] > 0.0:
            d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1], x[i, 2])
            if d + rad[i] > -0.01:
                act[i] = 1.0
    jb = ib - 1  # first free edge
    for j in range(jb):
        theta[j] = phi
    _frames(x, theta, u0, tt, uu, m1, m2)
    _rest_vectors(kap, m1, m2, l, rv)
    # over the wire: the catheter's distal nodes follow the wire that leads out of it (held
    # by a spring kg to the wire's centreline at the same arc length, last substep's wire)
    offi = (n - 1) * l - ilin
    for i in range(n):
        gw[i] = 0.0
        for a in range(3):
            gt[i, a] = 0.0
        si = i * l - off
        if ilin > 0.0 and kg > 0.0 and i >= ib and si > lin - (_N_RIDE - 0.5) * l:
            if si < ilin - 0.25 * l:
                u = (si + offi) / l
                k = min(max(int(math.floor(u)), 0), n - 2)
                f = min(max(u - k, 0.0), 1.0)
                gw[i] = kg
                for a in range(3):
                    gt[i, a] = ipos[k, a] * (1.0 - f) + ipos[k + 1, a] * f
    nf = n - ib
    nd = 3 * nf
    il3 = 1.0 / (l * l * l)
    ih = 1.0 / h
    nv = np.zeros(3)
    for _it in range(max_iter):
        hb[: nd + _P, :] = 0.0  # with _P rows of identity padding (ib >= 2 leaves room)
        hb[nd : nd + _P, 0] = 1.0
        g[: nd + _P] = 0.0
        _elastic_grad(x, rv, ei, ks, l, ib, grad)
        for i in range(ib, n):
            r0 = 3 * (i - ib)
            cdh = drag[i] * ih
            for a in range(3):
                g[r0 + a] += grad[i, a] - fext[i, a] + cdh * (x[i, a] - xprev[i, a])
                g[r0 + a] += gw[i] * (x[i, a] - gt[i, a])
            _add_block_diag(hb, r0, r0, cdh + gw[i])
        # stretch Hessian (Gauss-Newton + geometric part when stretched)
        for j in range(max(jb, 0), n - 1):
            ex = x[j + 1, 0] - x[j, 0]
            ey = x[j + 1, 1] - x[j, 1]
            ez = x[j + 1, 2] - x[j, 2]
            ln = math.sqrt(ex * ex + ey * ey + ez * ez)
            if ln < 1e-12:
                continue
            nv[0] = ex / ln
            nv[1] = ey / ln
            nv[2] = ez / ln
            w = ks[j]
            geo = ks[j] * (1.0 - l / ln) if ln > l else 0.0
            rb = 3 * (j + 1 - ib)
            _add_block_outer(hb, rb, rb, w - geo, nv, True)
            _add_block_diag(hb, rb, rb, geo)
            if j >= ib:
                ra = 3 * (j - ib)
                _add_block_outer(hb, ra, ra, w - geo, nv, True)
                _add_block_diag(hb, ra, ra, geo)
                _add_block_outer(hb, rb, ra, -(w - geo), nv, False)
                _add_block_diag(hb, rb, ra, -geo)
        # bending Hessian: w c cᵀ ⊗ I3, c = (1, -2, 1)
        for i in range(max(jb, 1), n - 1):
            w = ei[i] * il3
            for p in range(3):
                np_ = i - 1 + p
                if np_ < ib:
                    continue
                cp = -2.0 if p == 1 else 1.0
                for q in range(p + 1):
                    nq = i - 1 + q
                    if nq < ib:
                        continue
                    cq = -2.0 if q == 1 else 1.0
                    _add_block_diag(hb, 3 * (np_ - ib), 3 * (nq - ib), w * cp * cq)
        # contact penalty and regularised Coulomb friction
        for i in range(ib, n):
            d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1], x[i, 2])
            gn = math.sqrt(gx * gx + gy * gy + gz * gz)
            if gn < 1e-9:
                continue
            nv[0] = gx / gn
            nv[1] = gy / gn
            nv[2] = gz / gn
            r0 = 3 * (i - ib)
            pen = d + rad[i]
            if pen > 0.0:
                act[i] = 1.0
            if act[i] > 0.0:  # active contacts stay (bilaterally) active for the substep
                for a in range(3):
                    g[r0 + a] += kc * pen * nv[a]
                _add_block_outer(hb, r0, r0, kc, nv, True)
            fn = cforce[i]
            if mu > 0.0 and fn > 0.0:
                vx = (x[i, 0] - xprev[i, 0]) * ih
                vy = (x[i, 1] - xprev[i, 1]) * ih
                vz = (x[i, 2] - xprev[i, 2]) * ih
                vn = vx * nv[0] + vy * nv[1] + vz * nv[2]
                vx -= vn * nv[0]
                vy -= vn * nv[1]
                vz -= vn * nv[2]
                sp = math.sqrt(vx * vx + vy * vy + vz * vz + _EPS_V * _EPS_V)
                s = mu * fn / sp
                g[r0] += s * vx
                g[r0 + 1] += s * vy
                g[r0 + 2] += s * vz
                _add_block_diag(hb, r0, r0, s * ih)
                _add_block_outer(hb, r0, r0, -s * ih, nv, True)
        res = 0.0
        if ftol > 0.0:  # the largest force residual (N) before this iteration's step
            for r in range(nd):
                if abs(g[r]) > res:
                    res = abs(g[r])
        band_cholesky(hb, nd)
        band_solve(hb, nd, g)
        # damped step: no node moves more than _MAX_STEP mm per iteration
        big = 0.0
        for i in range(ib, n):
            r0 = 3 * (i - ib)
            m2_ = g[r0] * g[r0] + g[r0 + 1] * g[r0 + 1] + g[r0 + 2] * g[r0 + 2]
            if m2_ > big:
                big = m2_
        scale = 1.0
        if big > _MAX_STEP * _MAX_STEP:
            scale = _MAX_STEP / math.sqrt(big)
        for i in range(ib, n):
            r0 = 3 * (i - ib)
            for a in range(3):
                x[i, a] -= scale * g[r0 + a]
        # twist with the reference (Bishop) frames of the substep start: re-transporting them
        # inside the iteration feeds the frame's holonomy back into the rest shape (2-cycles)
        _twist_update(x, theta, kap, ei, gj, l, jb, h, u0, tt, uu, m1, m2, rv, tw)
        # converged (largest move < _TOL_STEP mm) after the minimum number of iterations?
        if _it + 1 >= n_newton and big < _TOL_STEP * _TOL_STEP and (ftol <= 0.0 or res < ftol):
            break
    # wall normal forces (for friction next substep and for the output) and the proximal force,
    # from the elastic balance at the Newton solution (the projection below is not an
    # equilibrium move: forces measured after it would include its stretch artefacts)
    _elastic_grad(x, rv, ei, ks, l, ib, grad)
    for i in range(n):
        cforce[i] = 0.0
    for i in range(ib, n):
        d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1], x[i, 2])
        gn = math.sqrt(gx * gx + gy * gy + gz * gz)
        if gn < 1e-9 or d + rad[i] < -0.05:
            continue
        fx = -grad[i, 0] + fext[i, 0] - gw[i] * (x[i, 0] - gt[i, 0])
        fy = -grad[i, 1] + fext[i, 1] - gw[i] * (x[i, 1] - gt[i, 1])
        fz = -grad[i, 2] + fext[i, 2] - gw[i] * (x[i, 2] - gt[i, 2])
        fo = (fx * gx + fy * gy + fz * gz) / gn
        if fo > 0.0:
            cforce[i] = fo
    fprox = 0.0
    for i in range(ib):
        fprox += grad[i, 0] * d0[0] + grad[i, 1] * d0[1] + grad[i, 2] * d0[2]
    # projection into the lumen: sdf(x) <= -radius for every inserted node
    for i in range(ib, n):
        for _k in range(4):
            d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1], x[i, 2])
            pen = d + rad[i]
            if pen <= 0.0:
                break
            gg = gx * gx + gy * gy + gz * gz
            if gg < 1e-12:
                break
            x[i, 0] -= pen * gx / gg
            x[i, 1] -= pen * gy / gg
            x[i, 2] -= pen * gz / gg
        d, gx, gy, gz = sdf_sample_grad(sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0], x[i, 1], x[i, 2])
        if d > 0.0:  # could not project (e.g. off the grid): keep the last admissible position
            dp, _, _, _ = sdf_sample_grad(
                sdf_v, sdf_o, sdf_h, sdf_out, xprev[i, 0], xprev[i, 1], xprev[i, 2]
            )
            if dp < d:
                for a in range(3):
                    x[i, a] = xprev[i, a]
    tprox = 0.5 * (gj[jb - 1] + gj[jb]) / l * (phi - theta[jb])
    return fprox, tprox, ib


@nb.njit(cache=True, parallel=True, error_model="numpy")
def rod_step_batch(
    xs, thetas, lins, phis, cforces, vel, omega, fext, dt, n_sub, n_newton, max_iter, ftol,
    lmax, fmax, ei, gj, ks, kap, rad, drag, mu, kc, kg, l, a0, d0, u0, sdf_v, sdf_o, sdf_h, sdf_out,
    fprox, tprox, nfirst,
):  # fmt: skip
    """Advance B worlds of D coaxial devices by ``dt`` (s) in ``n_sub`` substeps, in place.

    xs (B, D, N, 3) mm; thetas (B, D, N-1) rad; lins, phis (B, D) mm, rad; cforces (B, D, N)
    N; vel (B, D) mm/s, omega (B, D) rad/s; fext (B, D, N, 3) N; lmax : largest inserted
    length (mm); fmax : largest proximal push/pull force (N): beyond it the feed stops (the
    grip slips). Per-device parameters ei, gj, ks, kap, rad, drag have a leading D axis.
    Device d > 0 runs inside device d-1 (wire in catheter): it is held on the catheter's
    centreline over the catheter's inserted length, each substep after the catheter moved,
    and the catheter bends and twists with the summed stiffness where the wire is inside
    (rest curvature: the stiffness-weighted mean, so a stiff wire straightens a curved tip).
    Where the wire leads out of the catheter, the catheter's distal nodes are held on the wire's
    centreline by ``kg`` (N/mm): a catheter advanced over a wire follows it.
    fprox (B, D) N: in, the last proximal force; out, the new one. Outputs tprox (B, D) N·mm,
    nfirst (B, D) first free node. Worlds run in parallel (numba prange), one per thread.
    """
    nb_ = xs.shape[0]
    nd_ = xs.shape[1]
    n = xs.shape[2]
    h = dt / n_sub
    for b in nb.prange(nb_):
        xprev = np.empty((n, 3))
        hb = np.empty((3 * n, _P + 1))
        g = np.empty(3 * n)
        tt = np.empty((n - 1, 3))
        uu = np.empty((n - 1, 3))
        m1 = np.empty((n - 1, 3))
        m2 = np.empty((n - 1, 3))
        rv = np.empty((n, 3))
        grad = np.empty((n, 3))
        tw = np.empty((n - 1, 3))
        act = np.empty(n)
        gt = np.zeros((n, 3))
        gw = np.zeros(n)
        eic = np.empty(n)  # combined bending stiffness of a catheter with the wire inside
        gjc = np.empty(n - 1)
        kapc = np.empty((n, 2))
        for _s in range(n_sub):
            for dv in range(nd_):
                # the operator's grip slips beyond fmax: a jammed device is not fed further
                v = vel[b, dv]
                fp = fprox[b, dv]
                if (v > 0.0 and fp >= fmax) or (v < 0.0 and fp <= -fmax):
                    v = 0.0
                lin = min(max(lins[b, dv] + v * h, 0.0), lmax)
                lins[b, dv] = lin
                phis[b, dv] += omega[b, dv] * h
                gd = dv - 1 if dv > 0 else 0
                glin = lins[b, gd] if dv > 0 else -1.0
                # a device with another inside it (catheter around the wire) bends as the
                # stiffer combined section where they overlap: E·I and G·J add up
                for i in range(n):
                    eic[i] = ei[dv, i]
                    kapc[i, 0] = kap[dv, i, 0]
                    kapc[i, 1] = kap[dv, i, 1]
                for j in range(n - 1):
                    gjc[j] = gj[dv, j]
                if dv + 1 < nd_:
                    offo = (n - 1) * l - lin
                    offi = (n - 1) * l - lins[b, dv + 1]
                    for i in range(n):
                        sg = i * l - offo
                        if sg > 0.0 and sg <= lins[b, dv + 1]:
                            k = min(max(int(round((sg + offi) / l)), 0), n - 1)
                            # rest curvature of the section: stiffness-weighted mean
                            wsum = eic[i] + ei[dv + 1, k]
                            for c in range(2):
                                kapc[i, c] = (
                                    eic[i] * kapc[i, c] + ei[dv + 1, k] * kap[dv + 1, k, c]
                                ) / wsum
                            eic[i] = wsum
                            if i < n - 1:
                                gjc[i] += gj[dv + 1, min(k, n - 2)]
                di = dv + 1 if dv + 1 < nd_ else dv
                ilin = lins[b, di] if dv + 1 < nd_ else -1.0
                fp, tp, ib = rod_substep(
                    xs[b, dv], thetas[b, dv], lin, phis[b, dv], h, fext[b, dv], eic, gjc,
                    ks[dv], kapc, rad[dv], drag[dv], mu, kc, l, a0, d0, u0, xs[b, gd], glin,
                    xs[b, di], ilin, kg, sdf_v, sdf_o, sdf_h, sdf_out, n_newton, max_iter, ftol,
                    cforces[b, dv], xprev, hb, g, tt, uu, m1, m2, rv, grad, tw, act, gt, gw,
                )  # fmt: skip
                fprox[b, dv] = fp
                tprox[b, dv] = tp
                nfirst[b, dv] = ib
