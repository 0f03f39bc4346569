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
_TOL_STEP = 0.1  # mm: iterate on (up to _MAX_ITER_FACTOR x) while a node moves more
_MAX_ITER_FACTOR = 8  # unconverged substeps (jammed, buckled wires) get up to 8x the minimum


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
def band_cholesky(hb, n, p, s, t, nl):
    """In-place Cholesky of L symmetric positive definite band matrices (lower storage).

    ``hb[r, k, w]`` holds ``H_w[r, r - k]`` for ``k = 0..p`` and lane (world) ``w``; on return it
    holds ``L_w`` likewise. Entries above the matrix (``k > r``) must be zero. Non-positive
    pivots are replaced by a tiny positive value (the caller regularises). ``s``, ``t``: (L,)
    scratch. The lane loop is innermost, so the compiler runs the L factorisations in SIMD.
    """
    for j in range(n):
        for w in range(nl):
            s[w] = hb[j, 0, w]
        for q in range(1, p + 1):
            for w in range(nl):
                s[w] -= hb[j, q, w] * hb[j, q, w]
        for w in range(nl):
            v = max(s[w], 1e-300)
            v = math.sqrt(v)
            hb[j, 0, w] = v
            s[w] = 1.0 / v
        for r in range(1, min(p, n - 1 - j) + 1):
            i = j + r
            for w in range(nl):
                t[w] = hb[i, r, w]
            for q in range(r + 1, p + 1):
                for w in range(nl):
                    t[w] -= hb[i, q, w] * hb[j, q - r, w]
            for w in range(nl):
                hb[i, r, w] = t[w] * s[w]


@nb.njit(cache=True, error_model="numpy")
def band_solve(lb, n, p, b, s, nl):
    """Solve ``L Lᵀ x = b`` in place in ``b`` (n, L) with the factors from :func:`band_cholesky`."""
    for i in range(n):
        for w in range(nl):
            s[w] = b[i, w]
        for q in range(1, min(p, i) + 1):
            for w in range(nl):
                s[w] -= lb[i, q, w] * b[i - q, w]
        for w in range(nl):
            b[i, w] = s[w] / lb[i, 0, w]
    for i in range(n - 1, -1, -1):
        for w in range(nl):
            s[w] = b[i, w]
        for q in range(1, min(p, n - 1 - i) + 1):
            for w in range(nl):
                s[w] -= lb[i + q, q, w] * b[i + q, w]
        for w in range(nl):
            b[i, w] = s[w] / lb[i, 0, w]


@nb.njit(cache=True, error_model="numpy")
def _frames(x, theta, u0, tt, uu, m1, m2, nl):
    """Tangents ``tt``, Bishop frames ``uu`` (transported from ``u0``) and material frames."""
    ne = x.shape[0] - 1
    for j in range(ne):
        for w in range(nl):
            ex = x[j + 1, 0, w] - x[j, 0, w]
            ey = x[j + 1, 1, w] - x[j, 1, w]
            ez = x[j + 1, 2, w] - x[j, 2, w]
            ln = max(math.sqrt(ex * ex + ey * ey + ez * ez), 1e-12)
            tt[j, 0, w] = ex / ln
            tt[j, 1, w] = ey / ln
            tt[j, 2, w] = ez / ln
    for w in range(nl):  # first edge: u0 made orthogonal to t0
        dp = u0[0] * tt[0, 0, w] + u0[1] * tt[0, 1, w] + u0[2] * tt[0, 2, w]
        ux = u0[0] - dp * tt[0, 0, w]
        uy = u0[1] - dp * tt[0, 1, w]
        uz = u0[2] - dp * tt[0, 2, w]
        nrm = math.sqrt(ux * ux + uy * uy + uz * uz)
        uu[0, 0, w] = ux / nrm
        uu[0, 1, w] = uy / nrm
        uu[0, 2, w] = uz / nrm
    for j in range(1, ne):
        for w in range(nl):  # parallel transport of uu[j-1] from tt[j-1] to tt[j]
            ax, ay, az = tt[j - 1, 0, w], tt[j - 1, 1, w], tt[j - 1, 2, w]
            tx, ty, tz = tt[j, 0, w], tt[j, 1, w], tt[j, 2, w]
            ux, uy, uz = uu[j - 1, 0, w], uu[j - 1, 1, w], uu[j - 1, 2, w]
            bx = ay * tz - az * ty
            by = az * tx - ax * tz
            bz = ax * ty - ay * tx
            c = ax * tx + ay * ty + az * tz
            # R u = u + b×u + b×(b×u)/(1+c)
            cx = by * uz - bz * uy
            cy = bz * ux - bx * uz
            cz = bx * uy - by * ux
            f = 1.0 / (1.0 + c) if c > -0.999999 else 0.0
            ox = ux + cx + f * (by * cz - bz * cy)
            oy = uy + cy + f * (bz * cx - bx * cz)
            oz = uz + cz + f * (bx * cy - by * cx)
            dp = ox * tx + oy * ty + oz * tz  # re-orthonormalise against tt[j]
            ox -= dp * tx
            oy -= dp * ty
            oz -= dp * tz
            nrm = math.sqrt(ox * ox + oy * oy + oz * oz)
            ok = nrm >= 1e-12
            inv = 1.0 / nrm if ok else 0.0
            uu[j, 0, w] = ox * inv if ok else ux
            uu[j, 1, w] = oy * inv if ok else uy
            uu[j, 2, w] = oz * inv if ok else uz
    for j in range(ne):
        for w in range(nl):
            tx, ty, tz = tt[j, 0, w], tt[j, 1, w], tt[j, 2, w]
            ux, uy, uz = uu[j, 0, w], uu[j, 1, w], uu[j, 2, w]
            vx = ty * uz - tz * uy
            vy = tz * ux - tx * uz
            vz = tx * uy - ty * ux
            c = math.cos(theta[j, w])
            s = math.sin(theta[j, w])
            m1[j, 0, w] = c * ux + s * vx
            m1[j, 1, w] = c * uy + s * vy
            m1[j, 2, w] = c * uz + s * vz
            m2[j, 0, w] = -s * ux + c * vx
            m2[j, 1, w] = -s * uy + c * vy
            m2[j, 2, w] = -s * uz + c * vz


@nb.njit(cache=True, error_model="numpy")
def _rest_vectors(kap, m1, m2, l, rv, nl):
    """Rest turning vectors r_i = l² (κ1 m1 + κ2 m2) at interior vertices (frames averaged)."""
    n = kap.shape[0]
    for a in range(3):
        for w in range(nl):
            rv[0, a, w] = 0.0
            rv[n - 1, a, w] = 0.0
    for i in range(1, n - 1):
        for a in range(3):
            for w in range(nl):
                k1 = kap[i, 0, w] * l * l * 0.5
                k2 = kap[i, 1, w] * l * l * 0.5
                rv[i, a, w] = k1 * (m1[i - 1, a, w] + m1[i, a, w]) + k2 * (
                    m2[i - 1, a, w] + m2[i, a, w]
                )


@nb.njit(cache=True, error_model="numpy")
def _elastic_grad(x, rv, ei, ks, l, i_from, grad, nl):
    """Gradient (N) of stretch + bending energy w.r.t. every node, for terms touching nodes ≥ i_from."""
    n = x.shape[0]
    grad[:, :, :] = 0.0
    for j in range(max(i_from - 1, 0), n - 1):
        for w in range(nl):
            ex = x[j + 1, 0, w] - x[j, 0, w]
            ey = x[j + 1, 1, w] - x[j, 1, w]
            ez = x[j + 1, 2, w] - x[j, 2, w]
            ln = math.sqrt(ex * ex + ey * ey + ez * ez)
            f = ks[j] * (ln - l) / ln if ln >= 1e-12 else 0.0
            grad[j + 1, 0, w] += f * ex
            grad[j + 1, 1, w] += f * ey
            grad[j + 1, 2, w] += f * ez
            grad[j, 0, w] -= f * ex
            grad[j, 1, w] -= f * ey
            grad[j, 2, w] -= f * ez
    il3 = 1.0 / (l * l * l)
    for i in range(max(i_from - 1, 1), n - 1):
        for a in range(3):
            for w in range(nl):
                d = x[i + 1, a, w] - 2.0 * x[i, a, w] + x[i - 1, a, w] - rv[i, a, w]
                c = ei[i, w] * il3 * d
                grad[i - 1, a, w] += c
                grad[i, a, w] -= 2.0 * c
                grad[i + 1, a, w] += c


@nb.njit(cache=True, error_model="numpy")
def _twist_update(x, theta, kap, ei, gj, l, jb0, h, m1, m2, rv, tw, fe, live, nl):
    """One Gauss-Newton step on the free edge angles θ (tridiagonal; positions fixed).

    Edges ``j < jb0`` are held in every lane; ``fe[j, w]`` is 1 for a free edge of lane ``w``
    (held edges get identity rows); ``live[w]`` is 0 for a lane that has converged (its
    angles are not changed). Needs the frames (m1, m2) and rest vectors ``rv`` of the current
    ``x``, ``theta``; updates ``theta`` and then refreshes frames and rest vectors. ``tw``
    (N-1, 3, L) is scratch.
    """
    n = x.shape[0]
    il3 = 1.0 / (l * l * l)
    ih = 1.0 / h
    ne = n - 1
    tw[:, :, :] = 0.0
    for j in range(jb0, ne):
        for w in range(nl):  # twist drag (N·mm·s/rad) keeps the system definite
            tw[j, 0, w] = 1e-5 * ih * fe[j, w] + (1.0 - fe[j, w])
    for j in range(max(jb0 - 1, 0), ne - 1):  # pair (j, j+1)
        for w in range(nl):
            c = 0.5 * (gj[j, w] + gj[j + 1, w]) / l
            dth = theta[j + 1, w] - theta[j, w]
            f1 = fe[j + 1, w]
            f0 = fe[j, w]
            tw[j + 1, 2, w] += c * dth * f1
            tw[j + 1, 0, w] += c * f1
            tw[j, 2, w] -= c * dth * f0
            tw[j, 0, w] += c * f0
            tw[j, 1, w] -= c * f0
    cl = 0.5 * l * l
    for i in range(max(jb0, 1), n - 1):
        ja = i - 1
        jc = i
        for w in range(nl):
            k1 = kap[i, 0, w]
            k2 = kap[i, 1, w]
            c = ei[i, w] * il3
            # dr/dθ for the two edges of vertex i
            da0 = cl * (k1 * m2[ja, 0, w] - k2 * m1[ja, 0, w])
            da1 = cl * (k1 * m2[ja, 1, w] - k2 * m1[ja, 1, w])
            da2 = cl * (k1 * m2[ja, 2, w] - k2 * m1[ja, 2, w])
            dc0 = cl * (k1 * m2[jc, 0, w] - k2 * m1[jc, 0, w])
            dc1 = cl * (k1 * m2[jc, 1, w] - k2 * m1[jc, 1, w])
            dc2 = cl * (k1 * m2[jc, 2, w] - k2 * m1[jc, 2, w])
            r0 = x[i + 1, 0, w] - 2.0 * x[i, 0, w] + x[i - 1, 0, w] - rv[i, 0, w]
            r1 = x[i + 1, 1, w] - 2.0 * x[i, 1, w] + x[i - 1, 1, w] - rv[i, 1, w]
            r2 = x[i + 1, 2, w] - 2.0 * x[i, 2, w] + x[i - 1, 2, w] - rv[i, 2, w]
            # second-order part of the Hessian, ρ·(∂²r/∂θ²) = -ρ·r_edge, kept where positive
            pa = cl * (r0 * (k1 * m1[ja, 0, w] + k2 * m2[ja, 0, w])
                       + r1 * (k1 * m1[ja, 1, w] + k2 * m2[ja, 1, w])
                       + r2 * (k1 * m1[ja, 2, w] + k2 * m2[ja, 2, w]))  # fmt: skip
            pc = cl * (r0 * (k1 * m1[jc, 0, w] + k2 * m2[jc, 0, w])
                       + r1 * (k1 * m1[jc, 1, w] + k2 * m2[jc, 1, w])
                       + r2 * (k1 * m1[jc, 2, w] + k2 * m2[jc, 2, w]))  # fmt: skip
            fa = fe[ja, w]
            fc = fe[jc, w]
            tw[ja, 2, w] -= fa * c * (r0 * da0 + r1 * da1 + r2 * da2)
            tw[ja, 0, w] += fa * c * (da0 * da0 + da1 * da1 + da2 * da2 + max(pa, 0.0))
            tw[ja, 1, w] += fa * c * (da0 * dc0 + da1 * dc1 + da2 * dc2)
            tw[jc, 2, w] -= fc * c * (r0 * dc0 + r1 * dc1 + r2 * dc2)
            tw[jc, 0, w] += fc * c * (dc0 * dc0 + dc1 * dc1 + dc2 * dc2 + max(pc, 0.0))
    # Thomas algorithm on edges jb0..ne-1 (held edges: identity rows, zero right-hand side)
    for j in range(jb0 + 1, ne):
        for w in range(nl):
            f = tw[j - 1, 1, w] / tw[j - 1, 0, w]
            tw[j, 0, w] -= f * tw[j - 1, 1, w]
            tw[j, 2, w] -= f * tw[j - 1, 2, w]
    for w in range(nl):
        tw[ne - 1, 2, w] /= tw[ne - 1, 0, w]
    for j in range(ne - 2, jb0 - 1, -1):
        for w in range(nl):
            tw[j, 2, w] = (tw[j, 2, w] - tw[j, 1, w] * tw[j + 1, 2, w]) / tw[j, 0, w]
    for j in range(jb0, ne):
        for w in range(nl):
            dth = -tw[j, 2, w] * live[w]
            theta[j, w] += dth
            c = math.cos(dth)
            s = math.sin(dth)
            for a in range(3):
                p1 = m1[j, a, w]
                p2 = m2[j, a, w]
                m1[j, a, w] = c * p1 + s * p2
                m2[j, a, w] = -s * p1 + c * p2
    _rest_vectors(kap, m1, m2, l, rv, nl)


@nb.njit(cache=True, error_model="numpy")
def rod_substep(
    x, theta, lins, phis, h, fext, ei, gj, ks, kap, rad, drag, mu, kc, l, a0, d0, u0,
    gpos, glins, sdf_v, sdf_o, sdf_h, sdf_out, n_newton,
    cforce, fprox, tprox, ibs,
    xprev, hb, hc, g, tt, uu, m1, m2, rv, grad, tw, act, fr, fe, live, big, sc, s1, s2, nl,
):  # fmt: skip
    """Advance L worlds' rods (lanes, last axis) by one substep ``h`` (s), in place.

    Parameters
    ----------
    x : (N, 3, L) node positions (LPS mm), proximal to distal; theta : (N-1, L) edge twist (rad).
    lins, phis : (L,) inserted length (mm) and proximal rotation (rad) after this substep.
    fext : (N, 3, L) external node forces (N). ei (N, L), gj (N-1, L) : E·I, G·J (N·mm²) at
    vertices and edges; ks (N-1,) : E·A/l (N/mm); kap (N, 2, L) rest curvature (1/mm) in the
    material frame; rad (N,) device radius (mm); drag (N,) viscous node drag (N·s/mm); mu :
    Coulomb friction coefficient; kc : contact stiffness (N/mm); l : node spacing (mm); a0, d0,
    u0 : access point (mm), unit insertion direction, reference director; gpos (N, 3, L), glins
    (L,) : the guide's nodes (mm) and inserted length (mm) for a wire inside a catheter
    (glin <= 0: no guide), the wire being held on the guide's centreline up to ``glin``;
    sdf_* : lumen SDF. cforce : (N, L) wall normal force (N), read (last substep, for
    friction) and written. Outputs fprox (L,) N, tprox (L,) N·mm, ibs (L,) first free node.
    Remaining arguments are scratch.

    Every lane runs the same arithmetic on its own data (held nodes are masked by ``fr``,
    converged lanes by ``live``), so a lane's result does not depend on its neighbours.
    """
    n = x.shape[0]
    ne = n - 1
    for w in range(nl):
        lin = lins[w]
        glin = glins[w]
        off = (n - 1) * l - lin
        hold = max(glin, 0.0)  # length held inside the guide (the catheter around a wire)
        # nodes up to one spacing beyond the clamp (the access point, or the catheter tip) are
        # held: the discrete clamp (zero slope) sits mid-edge, so it then lies within ±l/2 of
        # the access (inside a guide, only up to the guide's tip: nothing is extrapolated)
        ib = int(math.floor((off + hold) / l)) + (1 if glin > 0.0 else 2)
        ib = min(max(ib, 2), n)
        ibs[w] = ib
        goff = (n - 1) * l - glin
        # warm start inside a guide: the free part follows the clamp (the catheter tip) rigidly
        jc = min(ib, n) - 1
        cx = x[jc, 0, w]
        cy = x[jc, 1, w]
        cz = x[jc, 2, w]
        for i in range(ib):
            s = i * l - off
            if s <= 0.0 or glin <= 0.0:  # behind the access point, on the insertion line
                for a in range(3):
                    x[i, a, w] = a0[a] + d0[a] * s
            else:  # inside the guide: on its centreline at the same arc length
                u = (s + goff) / l
                k = min(max(int(math.floor(u)), 0), n - 2)
                f = min(max(u - k, 0.0), 1.0)
                for a in range(3):
                    x[i, a, w] = gpos[k, a, w] * (1.0 - f) + gpos[k + 1, a, w] * f
        if glin > 0.0:
            dx = x[jc, 0, w] - cx
            dy = x[jc, 1, w] - cy
            dz = x[jc, 2, w] - cz
            for i in range(ib, n):
                x[i, 0, w] += dx
                x[i, 1, w] += dy
                x[i, 2, w] += dz
        fprox[w] = 0.0
        tprox[w] = 0.0
        live[w] = 1.0 if ib < n else 0.0
        for j in range(ne):
            fe[j, w] = 1.0 if j >= ib - 1 else 0.0
            if j < ib - 1:  # held edges turn with the operator's grip
                theta[j, w] = phis[w]
        for i in range(n):
            fr[i, w] = 1.0 if i >= ib else 0.0
            for a in range(3):
                xprev[i, a, w] = x[i, a, w]
            # contact active set: nodes touching the wall and pressing on it last substep
            act[i, w] = 0.0
            if i >= ib and cforce[i, w] > 0.0:
                d, _, _, _ = sdf_sample_grad(
                    sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0, w], x[i, 1, w], x[i, 2, w]
                )
                if d + rad[i] > -0.01:
                    act[i, w] = 1.0
            if ib == n:  # nothing inserted: the whole device lies behind the access point
                cforce[i, w] = 0.0
    ib0 = n
    for w in range(nl):
        ib0 = min(ib0, ibs[w])
    if ib0 == n:
        return
    jb0 = ib0 - 1  # first edge free in some lane
    _frames(x, theta, u0, tt, uu, m1, m2, nl)
    _rest_vectors(kap, m1, m2, l, rv, nl)
    nd = 3 * (n - ib0)  # unknowns: nodes ib0..n-1 (held ones get identity rows per lane)
    il3 = 1.0 / (l * l * l)
    ih = 1.0 / h
    # constant part of the Hessian in this substep: drag, bending (w c cᵀ ⊗ I3, c = (1,-2,1)),
    # and identity rows for nodes held in a lane
    hc[:nd, :, :] = 0.0
    for i in range(ib0, n):
        r0 = 3 * (i - ib0)
        for a in range(3):
            for w in range(nl):
                hc[r0 + a, 0, w] += drag[i] * ih * fr[i, w] + (1.0 - fr[i, w])
    for i in range(max(jb0, 1), n - 1):
        for p in range(3):
            np_ = i - 1 + p
            if np_ < ib0:
                continue
            cp = -2.0 if p == 1 else 1.0
            for q in range(p + 1):
                nq = i - 1 + q
                if nq < ib0:
                    continue
                cq = -2.0 if q == 1 else 1.0
                for a in range(3):
                    for w in range(nl):
                        hc[3 * (np_ - ib0) + a, 3 * (p - q), w] += (
                            ei[i, w] * il3 * cp * cq * fr[np_, w] * fr[nq, w]
                        )
    for _it in range(_MAX_ITER_FACTOR * n_newton):
        hb[:nd, :, :] = hc[:nd, :, :]
        _elastic_grad(x, rv, ei, ks, l, ib0, grad, nl)
        for i in range(ib0, n):
            r0 = 3 * (i - ib0)
            cdh = drag[i] * ih
            for a in range(3):
                for w in range(nl):
                    g[r0 + a, w] = fr[i, w] * (
                        grad[i, a, w] - fext[i, a, w] + cdh * (x[i, a, w] - xprev[i, a, w])
                    )
        # stretch Hessian (Gauss-Newton + geometric part when stretched)
        for j in range(max(jb0, 0), n - 1):
            rb = 3 * (j + 1 - ib0)
            ra = rb - 3
            for w in range(nl):
                ex = x[j + 1, 0, w] - x[j, 0, w]
                ey = x[j + 1, 1, w] - x[j, 1, w]
                ez = x[j + 1, 2, w] - x[j, 2, w]
                ln = math.sqrt(ex * ex + ey * ey + ez * ez)
                inv = 1.0 / ln if ln >= 1e-12 else 0.0
                n0 = ex * inv
                n1 = ey * inv
                n2 = ez * inv
                geo = ks[j] * (1.0 - l / ln) if ln > l else 0.0
                kb = fr[j + 1, w] * (ks[j] - geo) * (1.0 if ln >= 1e-12 else 0.0)
                gb = fr[j + 1, w] * geo
                hb[rb, 0, w] += kb * n0 * n0 + gb
                hb[rb + 1, 0, w] += kb * n1 * n1 + gb
                hb[rb + 2, 0, w] += kb * n2 * n2 + gb
                hb[rb + 1, 1, w] += kb * n1 * n0
                hb[rb + 2, 1, w] += kb * n2 * n1
                hb[rb + 2, 2, w] += kb * n2 * n0
                if j >= ib0:
                    ka = fr[j, w] * (ks[j] - geo) * (1.0 if ln >= 1e-12 else 0.0)
                    ga = fr[j, w] * geo
                    hb[ra, 0, w] += ka * n0 * n0 + ga
                    hb[ra + 1, 0, w] += ka * n1 * n1 + ga
                    hb[ra + 2, 0, w] += ka * n2 * n2 + ga
                    hb[ra + 1, 1, w] += ka * n1 * n0
                    hb[ra + 2, 1, w] += ka * n2 * n1
                    hb[ra + 2, 2, w] += ka * n2 * n0
                    # off-diagonal block (node j+1, node j): offset 3 + a - b
                    ko = -fr[j + 1, w] * ka
                    go = -fr[j + 1, w] * ga
                    hb[rb, 3, w] += ko * n0 * n0 + go
                    hb[rb + 1, 3, w] += ko * n1 * n1 + go
                    hb[rb + 2, 3, w] += ko * n2 * n2 + go
                    hb[rb + 1, 4, w] += ko * n1 * n0
                    hb[rb + 2, 4, w] += ko * n2 * n1
                    hb[rb + 2, 5, w] += ko * n2 * n0
                    hb[rb, 2, w] += ko * n0 * n1
                    hb[rb + 1, 2, w] += ko * n1 * n2
                    hb[rb, 1, w] += ko * n0 * n2
        # contact penalty and regularised Coulomb friction (one SDF sample per node and lane)
        for i in range(ib0, n):
            r0 = 3 * (i - ib0)
            for w in range(nl):
                if fr[i, w] == 0.0:
                    continue
                d, gx, gy, gz = sdf_sample_grad(
                    sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0, w], x[i, 1, w], x[i, 2, w]
                )
                gn = math.sqrt(gx * gx + gy * gy + gz * gz)
                if gn < 1e-9:
                    continue
                n0 = gx / gn
                n1 = gy / gn
                n2 = gz / gn
                pen = d + rad[i]
                if pen > 0.0:
                    act[i, w] = 1.0
                if act[i, w] > 0.0:  # active contacts stay (bilaterally) active this substep
                    g[r0, w] += kc * pen * n0
                    g[r0 + 1, w] += kc * pen * n1
                    g[r0 + 2, w] += kc * pen * n2
                    hb[r0, 0, w] += kc * n0 * n0
                    hb[r0 + 1, 0, w] += kc * n1 * n1
                    hb[r0 + 2, 0, w] += kc * n2 * n2
                    hb[r0 + 1, 1, w] += kc * n1 * n0
                    hb[r0 + 2, 1, w] += kc * n2 * n1
                    hb[r0 + 2, 2, w] += kc * n2 * n0
                fn = cforce[i, w]
                if mu > 0.0 and fn > 0.0:
                    vx = (x[i, 0, w] - xprev[i, 0, w]) * ih
                    vy = (x[i, 1, w] - xprev[i, 1, w]) * ih
                    vz = (x[i, 2, w] - xprev[i, 2, w]) * ih
                    vn = vx * n0 + vy * n1 + vz * n2
                    vx -= vn * n0
                    vy -= vn * n1
                    vz -= vn * n2
                    sp = math.sqrt(vx * vx + vy * vy + vz * vz + _EPS_V * _EPS_V)
                    s = mu * fn / sp
                    g[r0, w] += s * vx
                    g[r0 + 1, w] += s * vy
                    g[r0 + 2, w] += s * vz
                    sh = s * ih
                    hb[r0, 0, w] += sh - sh * n0 * n0
                    hb[r0 + 1, 0, w] += sh - sh * n1 * n1
                    hb[r0 + 2, 0, w] += sh - sh * n2 * n2
                    hb[r0 + 1, 1, w] -= sh * n1 * n0
                    hb[r0 + 2, 1, w] -= sh * n2 * n1
                    hb[r0 + 2, 2, w] -= sh * n2 * n0
        band_cholesky(hb, nd, _P, s1, s2, nl)
        band_solve(hb, nd, _P, g, s1, nl)
        # damped step: no node moves more than _MAX_STEP mm per iteration
        for w in range(nl):
            big[w] = 0.0
        for i in range(ib0, n):
            r0 = 3 * (i - ib0)
            for w in range(nl):
                m = g[r0, w] * g[r0, w] + g[r0 + 1, w] * g[r0 + 1, w] + g[r0 + 2, w] * g[r0 + 2, w]
                big[w] = max(big[w], m)
        for w in range(nl):
            big_w = big[w]
            sc[w] = live[w] * (
                _MAX_STEP / math.sqrt(big_w) if big_w > _MAX_STEP * _MAX_STEP else 1.0
            )
        for i in range(ib0, n):
            r0 = 3 * (i - ib0)
            for a in range(3):
                for w in range(nl):
                    x[i, a, w] -= sc[w] * g[r0 + a, w]
        # twist with the reference (Bishop) frames of the substep start: re-transporting them
        # inside the iteration feeds the frame's holonomy back into the rest shape (2-cycles)
        _twist_update(x, theta, kap, ei, gj, l, jb0, h, m1, m2, rv, tw, fe, live, nl)
        # converged (largest move < _TOL_STEP mm) after the minimum number of iterations?
        n_live = 0
        for w in range(nl):
            if _it + 1 >= n_newton and big[w] < _TOL_STEP * _TOL_STEP:
                live[w] = 0.0
            if live[w] > 0.0:
                n_live += 1
        if n_live == 0:
            break
    # wall normal forces (for friction next substep and for the output) and the proximal force,
    # from the elastic balance at the Newton solution (the projection below is not an
    # equilibrium move: forces measured after it would include its stretch artefacts)
    _elastic_grad(x, rv, ei, ks, l, ib0, grad, nl)
    for w in range(nl):
        ib = ibs[w]
        if ib == n:
            continue
        for i in range(n):
            cforce[i, w] = 0.0
        for i in range(ib, n):
            d, gx, gy, gz = sdf_sample_grad(
                sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0, w], x[i, 1, w], x[i, 2, w]
            )
            gn = math.sqrt(gx * gx + gy * gy + gz * gz)
            if gn < 1e-9 or d + rad[i] < -0.05:
                continue
            fo = ((-grad[i, 0, w] + fext[i, 0, w]) * gx + (-grad[i, 1, w] + fext[i, 1, w]) * gy
                  + (-grad[i, 2, w] + fext[i, 2, w]) * gz) / gn  # fmt: skip
            if fo > 0.0:
                cforce[i, w] = fo
        fp = 0.0
        for i in range(ib):
            fp += grad[i, 0, w] * d0[0] + grad[i, 1, w] * d0[1] + grad[i, 2, w] * d0[2]
        fprox[w] = fp
        # projection into the lumen: sdf(x) <= -radius for every inserted node
        for i in range(ib, n):
            for _k in range(4):
                d, gx, gy, gz = sdf_sample_grad(
                    sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0, w], x[i, 1, w], x[i, 2, w]
                )
                pen = d + rad[i]
                if pen <= 0.0:
                    break
                gg = gx * gx + gy * gy + gz * gz
                if gg < 1e-12:
                    break
                x[i, 0, w] -= pen * gx / gg
                x[i, 1, w] -= pen * gy / gg
                x[i, 2, w] -= pen * gz / gg
            d, gx, gy, gz = sdf_sample_grad(
                sdf_v, sdf_o, sdf_h, sdf_out, x[i, 0, w], x[i, 1, w], x[i, 2, w]
            )
            if d > 0.0:  # could not project (e.g. off the grid): keep the last admissible position
                dp, _, _, _ = sdf_sample_grad(
                    sdf_v,
                    sdf_o,
                    sdf_h,
                    sdf_out,
                    xprev[i, 0, w],
                    xprev[i, 1, w],
                    xprev[i, 2, w],
                )
                if dp < d:
                    for a in range(3):
                        x[i, a, w] = xprev[i, a, w]
        jb = ib - 1
        tprox[w] = 0.5 * (gj[jb - 1, w] + gj[jb, w]) / l * (phis[w] - theta[jb, w])


def _make_step_batch(nl):
    """The batch stepper for groups of ``nl`` worlds (a compile-time constant in every loop)."""

    @nb.njit(cache=True, parallel=True, error_model="numpy")
    def step_batch(
    xs, thetas, lins, phis, cforces, vel, omega, fext, dt, n_sub, n_newton, lmax, fmax,
    ei, gj, ks, kap, rad, drag, mu, kc, l, a0, d0, u0, sdf_v, sdf_o, sdf_h, sdf_out,
    fprox, tprox, nfirst,
    ):  # fmt: skip

        nb_ = xs.shape[0]
        nd_ = xs.shape[1]
        n = xs.shape[2]
        h = dt / n_sub
        n_groups = (nb_ + nl - 1) // nl
        for gi in nb.prange(n_groups):
            # the last group is padded with copies of its last world (computed, then discarded)
            n_real = min(nl, nb_ - gi * nl)
            src = np.empty(nl, np.int64)
            for w in range(nl):
                src[w] = gi * nl + min(w, n_real - 1)
            # the group's state, lanes last
            x = np.empty((nd_, n, 3, nl))
            th = np.empty((nd_, n - 1, nl))
            cf = np.empty((nd_, n, nl))
            fe_ = np.empty((nd_, n, 3, nl))
            lin = np.empty((nd_, nl))
            phi = np.empty((nd_, nl))
            fp = np.empty((nd_, nl))
            tp = np.zeros((nd_, nl))
            ibs = np.empty((nd_, nl), np.int64)
            for dv in range(nd_):
                for w in range(nl):
                    b = src[w]
                    lin[dv, w] = lins[b, dv]
                    phi[dv, w] = phis[b, dv]
                    fp[dv, w] = fprox[b, dv]
                    for i in range(n):
                        cf[dv, i, w] = cforces[b, dv, i]
                        for a in range(3):
                            x[dv, i, a, w] = xs[b, dv, i, a]
                            fe_[dv, i, a, w] = fext[b, dv, i, a]
                    for j in range(n - 1):
                        th[dv, j, w] = thetas[b, dv, j]
            # scratch
            xprev = np.empty((n, 3, nl))
            hb = np.empty((3 * n, _P + 1, nl))
            hc = np.empty((3 * n, _P + 1, nl))
            g = np.empty((3 * n, nl))
            tt = np.empty((n - 1, 3, nl))
            uu = np.empty((n - 1, 3, nl))
            m1 = np.empty((n - 1, 3, nl))
            m2 = np.empty((n - 1, 3, nl))
            rv = np.empty((n, 3, nl))
            grad = np.empty((n, 3, nl))
            tw = np.empty((n - 1, 3, nl))
            act = np.empty((n, nl))
            fr = np.empty((n, nl))
            fe = np.empty((n - 1, nl))
            live = np.empty(nl)
            big = np.empty(nl)
            sc = np.empty(nl)
            s1 = np.empty(nl)
            s2 = np.empty(nl)
            glin = np.empty(nl)
            eic = np.empty((n, nl))  # combined bending stiffness of a catheter with the wire inside
            gjc = np.empty((n - 1, nl))
            kapc = np.empty((n, 2, nl))
            for _s in range(n_sub):
                for dv in range(nd_):
                    for w in range(nl):
                        # the operator's grip slips beyond fmax: a jammed device is not fed further
                        v = vel[src[w], dv]
                        f = fp[dv, w]
                        if (v > 0.0 and f >= fmax) or (v < 0.0 and f <= -fmax):
                            v = 0.0
                        lin[dv, w] = min(max(lin[dv, w] + v * h, 0.0), lmax)
                        phi[dv, w] += omega[src[w], dv] * h
                        glin[w] = lin[dv - 1, w] if dv > 0 else -1.0
                        for i in range(n):
                            eic[i, w] = ei[dv, i]
                            kapc[i, 0, w] = kap[dv, i, 0]
                            kapc[i, 1, w] = kap[dv, i, 1]
                        for j in range(n - 1):
                            gjc[j, w] = gj[dv, j]
                        # a device with another inside it (catheter around the wire) bends as the
                        # stiffer combined section where they overlap: E·I and G·J add up
                        if dv + 1 < nd_:
                            lin_in = lin[dv + 1, w]  # the inner device, as of the last substep
                            offo = (n - 1) * l - lin[dv, w]
                            offi = (n - 1) * l - lin_in
                            for i in range(n):
                                sg = i * l - offo
                                if sg > 0.0 and sg <= lin_in:
                                    k = min(max(int(round((sg + offi) / l)), 0), n - 1)
                                    # rest curvature of the section: stiffness-weighted mean
                                    wsum = eic[i, w] + ei[dv + 1, k]
                                    for c in range(2):
                                        kapc[i, c, w] = (
                                            eic[i, w] * kapc[i, c, w]
                                            + ei[dv + 1, k] * kap[dv + 1, k, c]
                                        ) / wsum
                                    eic[i, w] = wsum
                                    if i < n - 1:
                                        gjc[i, w] += gj[dv + 1, min(k, n - 2)]
                    gd = dv - 1 if dv > 0 else 0
                    rod_substep(
                        x[dv], th[dv], lin[dv], phi[dv], h, fe_[dv], eic, gjc, ks[dv], kapc,
                        rad[dv], drag[dv], mu, kc, l, a0, d0, u0, x[gd], glin, sdf_v, sdf_o,
                        sdf_h, sdf_out, n_newton, cf[dv], fp[dv], tp[dv], ibs[dv],
                        xprev, hb, hc, g, tt, uu, m1, m2, rv, grad, tw, act, fr, fe, live, big,
                        sc, s1, s2, nl,
                    )  # fmt: skip
            for dv in range(nd_):
                for w in range(n_real):
                    b0 = gi * nl
                    lins[b0 + w, dv] = lin[dv, w]
                    phis[b0 + w, dv] = phi[dv, w]
                    fprox[b0 + w, dv] = fp[dv, w]
                    tprox[b0 + w, dv] = tp[dv, w]
                    nfirst[b0 + w, dv] = ibs[dv, w]
                    for i in range(n):
                        cforces[b0 + w, dv, i] = cf[dv, i, w]
                        for a in range(3):
                            xs[b0 + w, dv, i, a] = x[dv, i, a, w]
                    for j in range(n - 1):
                        thetas[b0 + w, dv, j] = th[dv, j, w]

    return step_batch


_STEP_BATCH: dict = {}


def rod_step_batch(
    xs, thetas, lins, phis, cforces, vel, omega, fext, dt, n_sub, n_newton, lmax, fmax,
    ei, gj, ks, kap, rad, drag, mu, kc, l, a0, d0, u0, sdf_v, sdf_o, sdf_h, sdf_out,
    fprox, tprox, nfirst, lanes,
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
    fprox (B, D) N: in, the last proximal force; out, the new one. Outputs tprox (B, D) N·mm,
    nfirst (B, D) first free node.

    Worlds run in groups of ``lanes``: a group is laid out lanes-last (SIMD across worlds in
    every loop of the solver), and groups run in parallel (numba prange), one per thread.
    """
    f = _STEP_BATCH.get(lanes)
    if f is None:
        f = _STEP_BATCH[lanes] = _make_step_batch(lanes)
    f(
        xs, thetas, lins, phis, cforces, vel, omega, fext, dt, n_sub, n_newton, lmax, fmax,
        ei, gj, ks, kap, rad, drag, mu, kc, l, a0, d0, u0, sdf_v, sdf_o, sdf_h, sdf_out,
        fprox, tprox, nfirst,
    )  # fmt: skip
