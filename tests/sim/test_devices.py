"""Device catalogue: names, dimensions, stiffness, tip shapes."""

import math

import numpy as np
import pytest

from igtwin.sim import DeviceSpec, Segment, UnknownDeviceError, get_device, list_devices


def test_catalogue_covers_the_issue():
    names = list_devices()
    for od in ("035", "018", "014"):
        for shape in ("straight", "angled", "j"):
            assert f"guidewire_{od}_{shape}" in names
    for fr in (4, 5, 6):
        for shape in ("straight", "berenstein", "cobra", "simmons", "vertebral", "pigtail"):
            assert f"catheter_{fr}fr_{shape}" in names
    assert set(list_devices("guidewire")) | set(list_devices("catheter")) == set(names)


def test_unknown_name_did_you_mean():
    with pytest.raises(UnknownDeviceError, match=r"Did you mean.*guidewire_035_angled"):
        get_device("guidewire_035_angeld")
    with pytest.raises(ValueError):
        list_devices("needle")


def test_dimensions_and_materials():
    w = get_device("guidewire_035_straight")
    assert w.outer_diameter == pytest.approx(0.035 * 25.4)
    c = get_device("catheter_5fr_cobra")
    assert c.outer_diameter == pytest.approx(5 / 3) and c.inner_diameter > 0.035 * 25.4
    assert get_device("guidewire_014_j").material_at(np.array([5.0]))[0] == "platinum"
    assert c.material_at(np.array([100.0]))[0] == "catheter_polymer"
    assert 10.0 <= c.max_translation_speed <= 100.0 and w.max_rotation_speed > 0


def test_floppy_tip_softer_than_shaft():
    for name in ("guidewire_035_angled", "guidewire_018_straight", "guidewire_014_j"):
        d = get_device(name)
        ei = d.bending_stiffness_at(np.array([5.0, 50.0, 500.0]))
        assert ei[0] < ei[1] < ei[2], name
        assert ei[2] / ei[0] > 5


def test_second_moment_of_area():
    s = Segment(10.0, 1.0, 1000.0)
    assert s.bending_stiffness == pytest.approx(1000.0 * math.pi / 64)
    t = Segment(10.0, 1.0, 1000.0, inner_diameter=0.6)
    assert t.bending_stiffness == pytest.approx(1000.0 * math.pi * (1 - 0.6**4) / 64)
    assert t.torsional_stiffness == pytest.approx(2 * t.bending_stiffness / (2 * 1.33))


@pytest.mark.parametrize(
    ("name", "turn_deg"),
    [("guidewire_035_angled", 45), ("guidewire_035_j", 180), ("catheter_5fr_pigtail", 360)],
)
def test_tip_shape_total_turn(name, turn_deg):
    d = get_device(name)
    s = np.linspace(0, 200, 200001)
    k = d.rest_curvature_at(s)
    turn = np.trapezoid(np.linalg.norm(k, axis=1), s)
    assert math.degrees(turn) == pytest.approx(turn_deg, rel=0.01)


def test_spec_validation():
    with pytest.raises(ValueError, match="outer_diameter"):
        Segment(10.0, -1.0, 1.0)
    with pytest.raises(ValueError, match="kind"):
        DeviceSpec("x", "needle", (Segment(1.0, 1.0, 1.0),))
