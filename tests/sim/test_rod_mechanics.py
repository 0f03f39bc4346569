"""Analytic checks of the elastic rod (tolerances stated per test) and kernel-vs-oracle checks."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_bvp
from scipy.linalg import solveh_banded

from igtwin.anatomies import VesselBranch, VesselTree, tube_sdf
from igtwin.sim import DeviceSpec, RodSimulator, Segment, TipCurve
from igtwin.sim._rod_kernels import _P, band_cholesky, band_solve, sdf_sample_grad

E = 60_000.0  # MPa
D = 0.5  # mm
EI = E * math.pi * D**4 / 64.0  # N·mm²
L = 99.0  # mm, a multiple of the node spacing: the clamp sits at the access point
ROD = DeviceSpec("test_rod", "guidewire", (Segment(2000.0, D, E),), length=2000.0)


def _free_space(device=ROD, *, length=L, radius=60.0, spacing=1.5, **kw):
    """A straight wide tube along +z: no wall contact for a rod of length ``length``."""
    pts = np.stack([np.zeros(41), np.zeros(41), np.linspace(0.0, 200.0, 41)], 1)
    tree = VesselTree([VesselBranch("tube", pts, np.full(41, radius))])
    sdf = tube_sdf([pts[::10]], [np.full(5, radius)], spacing=4.0)
    return RodSimulator(
        [device], sdf, tree.path("tube"), max_inserted_length=length, node_spacing=spacing,
        friction=0.0, **kw,
    )  # fmt: skip


def _settle(sim, state, force_at_tip, steps=60):
    fe = np.zeros((1, 1, sim.n_nodes, 3))
    for k in range(steps):
        fe[0, 0, -1] = force_at_tip * min(1.0, (k + 1) / (steps / 3))  # ramp, then hold
        state = sim.step(state, np.zeros((1, 1, 2)), 1 / 15, external_force=fe)
    return state


@pytest.mark.parametrize("spacing", [1.5, 0.75])
def test_cantilever_small_load_within_3_percent(spacing):
    sim = _free_space(spacing=spacing)
    st = sim.initial_state(inserted_length=L)
    f = 1e-3  # N: δ ≈ 1.8 mm = 1.8 % of L (linear regime)
    st = _settle(sim, st, np.array([f, 0.0, 0.0]))
    delta = st.tip_position[0, 0, 0]
    expected = f * L**3 / (3 * EI)
    assert delta == pytest.approx(expected, rel=0.03)


def _elastica_tip(alpha):
    """Tip (x/L, z/L) of a clamped beam along z under a dead tip load ⟂ (x), α = F L² / EI."""

    def rhs(s, y):  # y = (θ, θ', x, z), θ from the z axis; EI θ'' = -F cos θ
        return np.vstack([y[1], -alpha * np.cos(y[0]), np.sin(y[0]), np.cos(y[0])])

    def bc(ya, yb):
        return np.array([ya[0], yb[1], ya[2], ya[3]])

    s = np.linspace(0, 1, 201)
    y0 = np.zeros((4, s.size))
    y0[3] = s
    sol = solve_bvp(rhs, bc, s, y0, tol=1e-8)
    assert sol.success
    return sol.y[2, -1], sol.y[3, -1]


def test_large_deflection_elastica_within_5_percent():
    alpha = 3.0  # tip rotation ~ 60°: Bisshopp–Drucker regime
    sim = _free_space()
    st = sim.initial_state(inserted_length=L)
    st = _settle(sim, st, np.array([alpha * EI / L**2, 0.0, 0.0]), steps=90)
    x_ref, z_ref = _elastica_tip(alpha)
    x, z = st.tip_position[0, 0, 0] / L, st.tip_position[0, 0, 2] / L
    assert x == pytest.approx(x_ref, rel=0.05)
    assert z == pytest.approx(z_ref, rel=0.05)
    # Bisshopp & Drucker (1945), Mattiasson (1981) table: α = 3 gives tip deflection 0.60325 L
    assert x_ref == pytest.approx(0.60325, abs=5e-4)


def test_euler_buckling_load_within_5_percent():
    p_cr = math.pi**2 * EI / (4 * L**2)  # clamped-free column, K = 2
    lateral = []
    for ratio in (0.95, 1.05):
        sim = _free_space()
        st = sim.initial_state(inserted_length=L)
        st = _settle(sim, st, np.array([1e-4 * p_cr, 0.0, -ratio * p_cr]), steps=150)
        lateral.append(abs(st.tip_position[0, 0, 0]) / L)
    below, above = lateral
    assert below < 0.05, f"stable column deflected {below:.3f} L below the Euler load"
    assert above > 0.15, f"column did not buckle 5 % above the Euler load ({above:.3f} L)"


def _curved_tip_in_tube(friction: float):
    """A 60° pre-curved rod (9 mm tip) 120 mm into a straight Ø5 mm tube: (sim, state)."""
    dev = DeviceSpec(
        "curved_rod", "guidewire", (Segment(2000.0, D, E),), length=2000.0,
        tip_curves=(TipCurve(start=0.0, length=9.0, angle=math.radians(60.0)),),
    )  # fmt: skip
    pts = np.stack([np.zeros(41), np.zeros(41), np.linspace(0.0, 200.0, 41)], 1)
    tree = VesselTree([VesselBranch("tube", pts, np.full(41, 2.5))])
    sdf = tube_sdf([pts], [np.full(41, 2.5)], spacing=0.5)
    sim = RodSimulator([dev], sdf, tree.path("tube"), max_inserted_length=150.0, friction=friction)
    return sim, sim.initial_state(inserted_length=120.0)


def test_pre_curved_tip_follows_proximal_rotation():
    # frictionless: the steady state is then unique (with friction the tip whips, stick-slip)
    sim, st = _curved_tip_in_tube(friction=0.0)

    def azimuth(s):
        t = s.tip_direction[0, 0]
        return math.atan2(t[1], t[0])

    def settled(st, steps=15):
        """Steady state: circular mean of the tip azimuth over ``steps`` steps at rest."""
        z = 0j
        for _ in range(steps):
            st = sim.step(st, np.zeros((1, 1, 2)), 1 / 15)
            z += complex(math.cos(azimuth(st)), math.sin(azimuth(st)))
        return st, math.atan2(z.imag, z.real)

    st, a0 = settled(st, 30)
    omega = math.pi / 2  # rad/s: a quarter turn per second
    for quarter in range(1, 5):
        for _ in range(15):
            st = sim.step(st, np.array([[[0.0, omega]]]), 1 / 15)
        st, a = settled(st)
        turned = (a - a0 - quarter * math.pi / 2 + math.pi) % (2 * math.pi) - math.pi
        assert abs(turned) < math.radians(10), f"tip lags by {math.degrees(turned):.1f}°"
    assert st.rotation[0, 0] == pytest.approx(2 * math.pi)


def test_pre_curved_tip_at_rest_is_still_with_friction():
    """At rest with wall friction (μ = 0.1, the default) a pre-curved tip pressing on a round
    wall stays put; without friction it wanders in azimuth (a known gap: only the soft twist
    holds it on the faceted SDF wall). Measured: 0.2° mean, 1.1° max per step at μ = 0.1."""
    sim, st = _curved_tip_in_tube(friction=0.1)
    az = []
    for _ in range(60):
        st = sim.step(st, np.zeros((1, 1, 2)), 1 / 15)
        t = st.tip_direction[0, 0]
        az.append(math.atan2(t[1], t[0]))
    steps = np.degrees(np.abs(np.diff(np.unwrap(az[20:]))))
    assert steps.mean() < 1.0, f"tip wanders {steps.mean():.2f}° per step at rest"
    assert steps.max() < 3.0, f"tip jumps {steps.max():.2f}° in one step at rest"


def test_sdf_kernel_matches_sdfgrid():
    pts = np.array([[0.0, 0, 0], [30.0, 10, 5], [50.0, 0, 0]])
    sdf = tube_sdf([pts], [np.array([4.0, 3.0, 2.0])], spacing=0.7)
    rng = np.random.default_rng(1)
    q = rng.uniform(sdf.origin - 2, sdf.origin + np.array(sdf.shape) * sdf.spacing + 2, (500, 3))
    d_ref, g_ref = sdf.sample_with_gradient(q)
    for p, dr, gr in zip(q, d_ref, g_ref, strict=True):
        d, gx, gy, gz = sdf_sample_grad(
            sdf.values, sdf.origin, sdf.spacing, sdf.outside_value, p[0], p[1], p[2]
        )
        assert d == pytest.approx(dr, abs=1e-5)
        np.testing.assert_allclose([gx, gy, gz], gr, atol=1e-5)


def test_band_cholesky_matches_scipy():
    """The rod's band solver (half bandwidth _P, identity padding rows) against scipy."""
    rng = np.random.default_rng(2)
    n, p = 60, _P
    a = np.zeros((n, n))
    for k in range(p + 1):
        v = rng.normal(size=n - k)
        a += np.diag(v, -k) + (np.diag(v, k) if k else 0)
    a = a @ a.T + n * np.eye(n)  # SPD, bandwidth 2p: keep p by taking the band of a banded SPD
    a = np.triu(np.tril(a, p), -p) + 10 * n * np.eye(n)
    b = rng.normal(size=n)
    hb = np.zeros((n + p, p + 1))
    for k in range(p + 1):
        hb[k:n, k] = np.diag(a, -k)
    hb[n:, 0] = 1.0  # identity padding
    band_cholesky(hb, n)
    x = np.concatenate([b, np.zeros(p)])
    band_solve(hb, n, x)
    x = x[:n]
    lower = np.zeros((p + 1, n))
    for k in range(p + 1):
        lower[k, : n - k] = np.diag(a, -k)
    np.testing.assert_allclose(x, solveh_banded(lower, b, lower=True), rtol=1e-10)


def test_numpy_reference_backend_matches_numba():
    sims = [_free_space(length=30.0, backend=b) for b in ("numba", "numpy")]
    out = []
    for sim in sims:
        st = sim.initial_state(inserted_length=20.0)
        fe = np.zeros((1, 1, sim.n_nodes, 3))
        fe[0, 0, -1, 0] = 1e-3
        st = sim.step(st, np.array([[[10.0, 1.0]]]), 1 / 15, external_force=fe)
        out.append(st)
    np.testing.assert_allclose(out[0].positions, out[1].positions, atol=1e-9)
    np.testing.assert_allclose(out[0].twist, out[1].twist, atol=1e-9)
