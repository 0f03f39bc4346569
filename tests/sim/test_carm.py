"""C-arm geometry: DICOM angles, clinician orientation, pinhole projection."""

import dataclasses
import math

import numpy as np
import pytest

from igtwin.anatomies import MaterialVolume
from igtwin.sim import CArm, Imager, XRayProtocol, carm_pose


def _marker_volume(center_lps, *, n=64, spacing=4.0, radius=8.0):
    """A soft-tissue block with one bone ball (the marker) at ``center_lps``."""
    aff = np.diag([spacing, spacing, spacing, 1.0])
    aff[:3, 3] = -(n - 1) / 2 * spacing
    xyz = np.indices((n, n, n)).transpose(1, 2, 3, 0) * spacing + aff[:3, 3]
    dens = np.zeros((n, n, n, 3), np.float32)
    dens[..., 0] = 0.5
    ball = np.linalg.norm(xyz - np.asarray(center_lps), axis=-1) < radius
    dens[ball, 2] = 1.85 * 5  # very dense so the marker is the darkest spot
    return MaterialVolume(dens, ("soft_tissue", "adipose", "bone_cortical"), aff)


def _darkest_pixel(imager, carm):
    f = imager.render(carm, XRayProtocol.preset("fluoro-normal"), noise=False, scatter=False)
    d = f.display
    dark = np.clip(np.median(d) - d, 0, None)
    dark[dark < 0.5 * dark.max()] = 0  # the marker's core
    v, u = np.indices(d.shape)
    return np.array([(u * dark).sum(), (v * dark).sum()]) / dark.sum()  # centroid (u, v)


def test_ap_pose_source_posterior_detector_anterior():
    pose = CArm().pose()
    assert pose.source[0, 1] > 0 and pose.detector_center[0, 1] < 0  # +y is posterior
    np.testing.assert_allclose(pose.beam[0], [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(pose.u_axis[0], [1, 0, 0], atol=1e-12)  # image right = patient left
    np.testing.assert_allclose(pose.v_axis[0], [0, 0, -1], atol=1e-12)  # image down = feet


@pytest.mark.parametrize("lao,cran", [(0, 0), (30, 0), (-45, 20), (90, -30), (170, 45)])
def test_pose_orthonormal_and_distances(lao, cran):
    c = CArm.from_degrees(lao=lao, cran=cran, isocenter=np.array([5.0, -3.0, 12.0]))
    p = c.pose()
    m = np.stack([p.u_axis[0], p.v_axis[0], p.beam[0]])
    np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.cross(p.u_axis[0], p.v_axis[0]), -p.beam[0], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(p.source[0] - c.isocenter), c.sod)
    np.testing.assert_allclose(np.linalg.norm(p.detector_center[0] - p.source[0]), c.sid)


def test_lao_puts_detector_on_patient_left_and_cran_toward_head():
    lao90 = CArm.from_degrees(lao=90).pose()
    assert lao90.detector_center[0, 0] > 0 and lao90.source[0, 0] < 0
    cran = CArm.from_degrees(cran=30).pose()
    assert cran.detector_center[0, 2] > 0  # detector tilted toward the head
    np.testing.assert_allclose(
        cran.beam[0], [0, -math.cos(math.radians(30)), math.sin(math.radians(30))]
    )


def test_batched_pose():
    p = carm_pose(
        np.radians([0, 30, -30]), np.radians([0, 10, 0]), sid=1200, sod=800, isocenter=np.zeros(3)
    )
    assert p.source.shape == (3, 3) and p.matrix.shape == (3, 4, 4)
    np.testing.assert_allclose(p.matrix[:, :3, 3], p.source)


def test_marker_on_patient_left_appears_on_image_right():
    """AP: the patient's right is on the image's left, so a left-sided marker is on the right."""
    im = Imager(_marker_volume([60.0, 0.0, 0.0]), output_shape=(64, 64))
    uv = _darkest_pixel(im, CArm())
    assert uv[0] > 31.5 + 10, f"left-sided marker at column {uv[0]}, expected the right half"
    assert abs(uv[1] - 31.5) <= 1.5
    np.testing.assert_allclose(uv, im.project_points(CArm(), [[60.0, 0.0, 0.0]])[0], atol=1.0)


def test_lao_moves_anterior_marker_to_image_left():
    """LAO α: image column axis u = (cos α, sin α, 0); an anterior (−y) marker goes left."""
    im = Imager(_marker_volume([0.0, -60.0, 0.0]), output_shape=(64, 64))
    ap = _darkest_pixel(im, CArm())
    lao = _darkest_pixel(im, CArm.from_degrees(lao=40))
    rao = _darkest_pixel(im, CArm.from_degrees(lao=-40))
    assert abs(ap[0] - 31.5) <= 1.0
    assert lao[0] < ap[0] - 8 and rao[0] > ap[0] + 8
    for c, uv in ((CArm.from_degrees(lao=40), lao), (CArm.from_degrees(lao=-40), rao)):
        np.testing.assert_allclose(uv, im.project_points(c, [[0.0, -60.0, 0.0]])[0], atol=1.0)


def test_known_point_projects_to_pinhole_pixel():
    c = CArm(sid=1200.0, sod=800.0)
    im = Imager(_marker_volume([0, 0, 0]), output_shape=(300, 400))
    px = c.field_mm / 400
    mag = c.sid / c.sod  # the point is at the isocentre depth
    uv = im.project_points(c, [[10.0, 0.0, 20.0]])[0]
    np.testing.assert_allclose(uv, [199.5 + 10 * mag / px, 149.5 - 20 * mag / px], atol=1e-9)
    # the same through the table: moving the table +10 mm in x moves the patient left
    uv_t = im.project_points(c.replace(table=np.array([10.0, 0, 0])), [[0.0, 0.0, 20.0]])[0]
    np.testing.assert_allclose(uv_t[0], 199.5 + 10 * mag / px, atol=1e-9)


def test_immutable_and_angle_helpers():
    c = CArm.from_degrees(lao=30, cran=-10)
    assert math.isclose(c.lao_deg, 30) and math.isclose(c.cran_deg, -10)
    c2 = c.with_angles(alpha=0.1)
    assert c2.alpha == 0.1 and c.alpha == pytest.approx(math.radians(30))
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.alpha = 0.0
    with pytest.raises(ValueError, match="degrees"):
        CArm(alpha=30.0)
    with pytest.raises(ValueError, match="sod < sid"):
        CArm(sid=500.0, sod=800.0)
    with pytest.raises(ValueError, match="Did you mean"):
        CArm(magnification="42")
