"""Liver and lung generators: lesion sizes/places, HU, targets, entry paths, determinism."""

import numpy as np
import pytest

from igtwin.anatomies import generate
from igtwin.anatomies._liver import generate_liver, suggest_entry
from igtwin.anatomies._lung import generate_lung
from igtwin.anatomies._structures import label_of

VOX = 2.5  # coarse voxels keep the tests fast; the built-ins use 1.25 mm


@pytest.fixture(scope="module")
def liver():
    return generate_liver(3, seed=2, voxel_size=VOX)


@pytest.fixture(scope="module")
def lung():
    return generate_lung(20.0, seed=3, voxel_size=VOX)


def test_liver_lesions(liver):
    d = np.array(liver.meta["lesion_diameters_mm"])
    assert len(d) == 3 and ((d >= 8) & (d <= 50)).all()
    assert set(liver.targets) == {"lesion_1", "lesion_2", "lesion_3"}
    lab = liver.labels
    for c in liver.targets.values():
        ijk = tuple(np.rint(liver.lps_to_voxel(c)).astype(int))
        assert lab[ijk] == label_of("lesion")
    # lesion volume vs spheres (±15 %: lobulation ±8 % of r and 2.5 mm voxels)
    vol = (lab == label_of("lesion")).sum() * VOX**3
    assert vol == pytest.approx((np.pi / 6 * d**3).sum(), rel=0.15)
    # every lesion is surrounded by liver: voxels at r + 3 mm are liver
    for c, di in zip(liver.targets.values(), d, strict=True):
        for v in np.eye(3):
            for sgn in (-1, 1):
                p = c + sgn * (di / 2 * 1.1 + 3.0) * v
                ijk = tuple(np.rint(liver.lps_to_voxel(p)).astype(int))
                assert lab[ijk] == label_of("liver"), (c, p)


def test_liver_hu(liver):
    med = {
        n: np.median(liver.ct_hu[liver.labels == label_of(n)])
        for n in ("liver", "lesion", "fat", "kidneys")
    }
    assert 50 <= med["liver"] <= 70 and 20 <= med["lesion"] <= 40
    assert med["liver"] - med["lesion"] >= 20  # hypodense lesions
    assert -130 <= med["fat"] <= -70


def test_portal_tree(liver):
    tree = liver.vessel_tree
    assert tree.root == "portal_vein" and len(tree) == 7
    assert sorted(tree.children("portal_vein")) == ["LPV", "RPV"]
    hv = label_of("hepatic_vessels")
    assert (liver.labels == hv).sum() > 100
    # every branch but the trunk runs inside the liver (vessel voxels), ends deep in liver tissue
    for b in tree:
        if b.parent is None:
            continue
        ijk = np.rint(liver.lps_to_voxel(b.points)).astype(int)
        lab = liver.labels[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
        assert (lab == hv).mean() > 0.95, b.name
    # lesions keep clear of the vessels
    for c, d in zip(liver.targets.values(), liver.meta["lesion_diameters_mm"], strict=True):
        for b in tree:
            gap = np.linalg.norm(b.points - c, axis=1) - b.radii
            assert gap.min() > d / 2, b.name
    assert (liver.sdf.sample(tree["RPV"].points) < 0).all()


def test_entry_paths_avoid_no_go(liver, lung):
    no_go = [label_of(n) for n in ("ribs", "spine", "lungs", "heart", "aorta", "stomach_gas")]
    for a, prefix in ((liver, "entry_"), (lung, "entry_")):
        for tname, c in a.targets.items():
            e = a.landmarks[prefix + tname]
            # entry on the skin: the voxel just outside is background
            out = e + (e - c) / np.linalg.norm(e - c) * 2 * VOX
            ijk = tuple(
                np.clip(np.rint(a.lps_to_voxel(out)).astype(int), 0, np.array(a.labels.shape) - 1)
            )
            assert a.labels[ijk] == 0
            t = np.linspace(0, 1, 400)[:, None]
            pts = c + t * (e - c)
            ijk = np.rint(a.lps_to_voxel(pts)).astype(int)
            labs = a.labels[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
            bad = [x for x in no_go if a.name == "liver" or x != label_of("lungs")]
            assert not np.isin(labs, bad).any(), (a.name, tname)


def test_lung_nodule(lung):
    c = lung.targets["nodule"]
    m = lung.labels == label_of("nodule")
    vol = m.sum() * VOX**3
    assert vol == pytest.approx(np.pi / 6 * 20.0**3, rel=0.15)
    assert np.median(lung.ct_hu[m]) == pytest.approx(25, abs=10)
    ijk = tuple(np.rint(lung.lps_to_voxel(c)).astype(int))
    assert lung.labels[ijk] == label_of("nodule")
    side = lung.meta["side"]
    assert (c[0] > lung.meta["thorax_layout"]["midline_x"]) == (side == "left")
    # surrounded by aerated lung (10 mm margin to the pleura)
    for v in np.eye(3):
        for sgn in (-1, 1):
            p = c + sgn * (10.0 + 5.0) * v
            ijk = tuple(np.rint(lung.lps_to_voxel(p)).astype(int))
            assert lung.labels[ijk] in (label_of("lungs"), label_of("nodule"))


def test_determinism_and_errors():
    a = generate_lung(12.0, seed=5, voxel_size=5.0)
    b = generate("lung", seed=5, nodule_mm=12.0, voxel_size=5.0)
    assert np.array_equal(a.ct_hu, b.ct_hu) and np.allclose(
        a.targets["nodule"], b.targets["nodule"]
    )
    with pytest.raises(ValueError, match="nodule_mm"):
        generate_lung(80.0, seed=1)
    with pytest.raises(ValueError, match="side"):
        generate_lung(10.0, seed=1, side="middle")
    with pytest.raises(ValueError, match="lesions"):
        generate_liver(9, seed=1)
    with pytest.raises(ValueError, match="lesion_diameters_mm"):
        generate_liver(2, seed=1, lesion_diameters_mm=[10.0])
    with pytest.raises(ValueError, match="Did you mean 'lesions'"):
        generate("liver", seed=1, lesion=2)


def test_suggest_entry_none_when_enclosed():
    lab = np.full((20, 20, 20), label_of("body"), np.uint8)
    lab[[0, -1], :, :] = label_of("ribs")
    lab[:, [0, -1], :] = label_of("ribs")
    lab[:, :, [0, -1]] = label_of("ribs")
    lab = np.pad(lab, 1)
    assert suggest_entry(lab, np.eye(4), np.array([10.0, 10.0, 10.0])) is None


def test_seed_must_be_int():
    with pytest.raises(TypeError, match="seed"):
        generate_liver(1, seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        generate_lung(10.0, seed="a")
