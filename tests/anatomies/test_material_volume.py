"""Material table and CT → basis-material decomposition."""

import numpy as np
import pytest

from igtwin.anatomies import (
    BASIS_MATERIALS,
    MATERIALS,
    Anatomy,
    Structure,
    get_material,
    material_volume,
)
from igtwin.anatomies._material_volume import hu_to_densities


def test_material_table_is_normalised_and_has_aliases():
    for m in MATERIALS.values():
        assert sum(m.composition.values()) == pytest.approx(1.0, abs=1e-9)
        assert m.density > 0
    assert get_material("bone").name == "bone_cortical"
    assert get_material("catheter_polymer").name == "polymer"
    assert get_material("nitinol").density == 6.45
    with pytest.raises(ValueError, match="Did you mean"):
        get_material("platnum")


@pytest.mark.parametrize(
    "hu,expected",
    [
        (-1000, (0.0, 0.0, 0.0)),  # air
        (-800, (0.2, 0.0, 0.0)),  # lung: soft tissue at water-equivalent density
        (-100, (0.0, 0.95, 0.0)),  # adipose nominal point
        (40, (1.06, 0.0, 0.0)),  # soft tissue nominal point
        (1400, (0.0, 0.0, 1.85)),  # cortical bone nominal point
        (720, (0.53, 0.0, 0.925)),  # half-way soft tissue / bone
    ],
)
def test_hu_mapping_nominal_points(hu, expected):
    np.testing.assert_allclose(hu_to_densities(np.array([hu]))[0], expected, atol=1e-6)


def test_total_density_increases_with_hu():
    hu = np.linspace(-1000, 2000, 301)
    rho = hu_to_densities(hu).sum(-1)
    jumps = np.diff(rho)
    assert (jumps > -0.06).all()  # small step where lung turns into fat at −200 HU only
    assert rho[0] == 0 and rho[-1] > 1.85


def test_blood_label_overrides_enhanced_lumen():
    ct = np.full((4, 4, 4), 40, np.int16)
    ct[1:3, 1:3, 1:3] = 350  # contrast-enhanced CTA lumen
    labels = np.zeros_like(ct, np.uint8)
    labels[1:3, 1:3, 1:3] = 5
    mv = material_volume(ct, labels, np.eye(4), structures={5: Structure(5, "aorta", "blood")})
    assert mv.density.shape == (4, 4, 4, 3) and mv.density.dtype == np.float32
    assert mv.materials == BASIS_MATERIALS
    np.testing.assert_allclose(mv.density[1, 1, 1], [1.06, 0, 0], atol=1e-6)
    assert mv.density[0, 0, 0, 0] == pytest.approx(1.06)


def test_anatomy_material_volume_delegates():
    ct = np.full((3, 3, 3), -1000, np.int16)
    ct[1, 1, 1] = 1400
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    a = Anatomy("t", ct, np.zeros_like(ct, np.uint8), aff, {})
    mv = a.material_volume()
    assert mv.density[1, 1, 1, 2] == pytest.approx(1.85)
    np.testing.assert_allclose(mv.spacing, 2.0)
    with pytest.raises(ValueError, match="3-D"):
        material_volume(ct[0], ct[0], aff, structures={})


def test_numba_decomposition_matches_numpy_reference():
    rng = np.random.default_rng(0)
    ct = rng.integers(-1100, 3000, (20, 21, 22)).astype(np.int16)
    labels = np.zeros_like(ct, np.uint8)
    mv = material_volume(ct, labels, np.eye(4), structures={})
    np.testing.assert_allclose(mv.density, hu_to_densities(ct), atol=1e-6)
