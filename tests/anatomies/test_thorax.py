"""Thorax CT synthesis: tissues and HU, determinism, grids with flipped axes, lumen handling."""

import numpy as np
import pytest

from igtwin.anatomies import NOMINAL_HU, ThoraxLayout, synthesize_thorax_ct
from igtwin.anatomies._structures import label_of
from igtwin.anatomies._thorax import capsule_sdf_on_grid, smooth_curve

VOX = 3.0  # coarse voxels keep these tests fast


def _grid(vox=VOX):
    lo = np.array([-180.0, -120.0, -230.0])
    shape = tuple(int(v) for v in np.ceil(np.array([360.0, 260.0, 420.0]) / vox))
    aff = np.diag([vox, vox, vox, 1.0])
    aff[:3, 3] = lo
    return shape, aff


@pytest.fixture(scope="module")
def thorax():
    shape, aff = _grid()
    return synthesize_thorax_ct(shape, aff, seed=4), shape, aff


def test_structures_and_hu(thorax):
    (ct, labels, structures), shape, _ = thorax
    names = {s.name: lab for lab, s in structures.items()}
    for n in ("lungs", "body", "fat", "heart", "spine", "ribs", "sternum", "airway", "liver"):
        assert n in names, n
    expect = {"lungs": (-900, -700), "fat": (-130, -60), "body": (20, 70), "heart": (25, 60)}
    for n, (lo, hi) in expect.items():
        med = np.median(ct[labels == names[n]])
        assert lo <= med <= hi, (n, med)
    assert ct.dtype == np.int16 and labels.dtype == np.uint8 and ct.shape == shape
    # lungs: roughly 4–7 L for an adult thorax in this field of view
    lung_l = (labels == names["lungs"]).sum() * VOX**3 / 1e6
    assert 2.5 < lung_l < 8.0, lung_l
    # air around the body, body outline ~ 300–340 mm wide at the chest
    k = shape[2] // 2
    row = labels[:, shape[1] // 2, k] > 0
    width = row.sum() * VOX
    assert 290 <= width <= 350, width
    assert ct[0, 0, k] == NOMINAL_HU["air"]


def test_deterministic_for_seed(thorax):
    (ct, labels, _), shape, aff = thorax
    ct2, labels2, _ = synthesize_thorax_ct(shape, aff, seed=4)
    assert np.array_equal(ct, ct2) and np.array_equal(labels, labels2)
    ct3, _, _ = synthesize_thorax_ct(shape, aff, seed=5)
    assert not np.array_equal(ct, ct3)  # textures change with the seed


def test_flipped_axis_grid_mirrors(thorax):
    """A grid whose i axis runs right-to-left gives the same anatomy, mirrored in i."""
    (ct, labels, _), shape, aff = thorax
    f = aff.copy()
    f[0, 0] = -VOX
    f[0, 3] = aff[0, 3] + VOX * (shape[0] - 1)
    _, lab_f, _ = synthesize_thorax_ct(shape, f, seed=4)
    agree = (lab_f[::-1] == labels).mean()
    assert agree > 0.995, agree


def test_lumen_mask_is_blood_with_label():
    shape, aff = _grid()
    lumen = np.zeros(shape, bool)
    lumen[55:65, 40:50, 60:120] = True
    ct, labels, structures = synthesize_thorax_ct(shape, aff, lumen=lumen, seed=0)
    assert (labels[lumen] == label_of("arteries")).all()
    assert (ct[lumen] == NOMINAL_HU["arteries"]).all()
    assert structures[label_of("arteries")].material == "blood"
    typed = lumen.astype(np.uint8) * label_of("aorta")
    _, labels2, s2 = synthesize_thorax_ct(shape, aff, lumen=typed, seed=0)
    assert (labels2[lumen] == label_of("aorta")).all() and label_of("aorta") in s2


def test_layout_from_lumen_of_an_arch():
    """From the lumen of a generated arch, the guessed layout is near the generator's own."""
    from igtwin.anatomies import generate_aortic_arch

    a = generate_aortic_arch("II", seed=2, with_ct=False, sdf_spacing=2.0)
    shape, aff = _grid(2.0)
    lo, step = aff[:3, 3], np.full(3, 2.0)
    tree = a.vessel_tree
    sdf = capsule_sdf_on_grid(
        [b.points for b in tree], [b.radii for b in tree], origin=lo, step=step, shape=shape
    )
    guess = ThoraxLayout.from_lumen(sdf < 0, aff)
    assert abs(guess.midline_x - 0.0) < 15.0
    assert abs(guess.spine_y - ThoraxLayout().spine_y) < 20.0
    assert abs(guess.z_ref - a.landmarks["arch_apex"][2]) < 25.0


def test_bad_inputs():
    shape, aff = _grid()
    rot = aff.copy()
    rot[:3, :3] = np.array([[0, -VOX, 0], [VOX, 0, 0], [0, 0, VOX]])
    with pytest.raises(ValueError, match="axis-aligned"):
        synthesize_thorax_ct(shape, rot)
    with pytest.raises(ValueError, match="shape"):
        synthesize_thorax_ct(shape, aff, lumen=np.zeros((2, 2, 2), bool))


def test_smooth_curve_spacing_and_ends():
    c = np.array([[0, 0, 0], [10, 5, 0], [20, 0, 10], [30, 10, 20.0]])
    p, v = smooth_curve(c, step=1.0, values=[1, 2, 3, 4])
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    assert np.allclose(seg, seg.mean(), rtol=0.02) and abs(seg.mean() - 1.0) < 0.05
    assert np.allclose(p[0], c[0]) and np.allclose(p[-1], c[-1])
    assert v[0] == 1 and v[-1] == 4 and np.all(np.diff(v) >= 0)
