"""Lumen SDF: analytic tube values, the compiled kernel against the numpy oracle, gradients."""

import numpy as np
import pytest

from igtwin.anatomies import SDFGrid, tube_sdf
from igtwin.anatomies._sdf import _tube_sdf_reference


def _bent_tree():
    t = np.linspace(0, np.pi / 2, 30)
    arc = np.c_[40 * (1 - np.cos(t)), np.zeros_like(t), 40 * np.sin(t)]
    side = np.c_[np.full(15, 12.0), np.linspace(0, 30, 15), np.full(15, 25.0)]
    side[:, 0] = np.interp(0.0, [0, 1], [0, 0]) + 40 * (1 - np.cos(np.arcsin(25 / 40)))
    return [arc, side], [np.linspace(6, 4, 30), np.linspace(3, 2, 15)]


def test_straight_tube_is_exact_inside_and_outside():
    z = np.linspace(0, 60, 13)
    sdf = tube_sdf([np.c_[0 * z, 0 * z, z]], [np.full(13, 4.0)], spacing=0.5)
    q = np.array([[0, 0, 30.0], [2.0, 0, 30], [4.0, 0, 30], [0, 6.5, 30]])
    np.testing.assert_allclose(sdf.sample(q), [-4.0, -2.0, 0.0, 2.5], atol=1e-4)


def test_compiled_kernel_matches_numpy_oracle_within_the_band():
    lines, radii = _bent_tree()
    fast = tube_sdf(lines, radii, spacing=1.0, margin=4.0)
    ref = _tube_sdf_reference(lines, radii, spacing=1.0, margin=4.0)
    assert fast.shape == ref.shape
    band = ref.values < 4.0
    np.testing.assert_allclose(fast.values[band], ref.values[band], atol=1e-4)


def test_gradient_points_outward_with_unit_length():
    z = np.linspace(0, 60, 13)
    sdf = tube_sdf([np.c_[0 * z, 0 * z, z]], [np.full(13, 5.0)], spacing=0.5)
    d, g = sdf.sample_with_gradient(np.array([[3.0, 0.25, 30.0]]))
    assert d[0] == pytest.approx(np.hypot(3.0, 0.25) - 5.0, abs=0.02)  # trilinear, h = 0.5 mm
    exact = np.array([3.0, 0.25, 0.0]) / np.hypot(3.0, 0.25)  # radial unit vector
    np.testing.assert_allclose(g[0], exact, atol=0.01)


def test_bad_grids_are_rejected():
    with pytest.raises(ValueError, match="3-D"):
        SDFGrid(values=np.zeros((3, 3)), origin=np.zeros(3), spacing=1.0)
    with pytest.raises(ValueError, match="spacing"):
        SDFGrid(values=np.zeros((3, 3, 3)), origin=np.zeros(3), spacing=0.0)
    with pytest.raises(ValueError, match="NaN"):
        SDFGrid(values=np.full((3, 3, 3), np.nan), origin=np.zeros(3), spacing=1.0)
    with pytest.raises(ValueError, match="radii"):
        tube_sdf([np.zeros((3, 3))], [np.ones(2)])
