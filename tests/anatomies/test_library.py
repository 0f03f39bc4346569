"""Built-in anatomies: listing, build-once caching, stale versions, save/load, dispatch errors."""

import time

import numpy as np
import pytest

import igtwin.anatomies._library as lib
from igtwin.anatomies import Anatomy, generate, list_builtin, load_builtin


def test_list_builtin():
    names = [b.name for b in list_builtin()]
    assert names == ["arch-I", "arch-II", "arch-III", "arch-bovine", "liver-1", "lung-1"]
    for b in list_builtin():
        assert b.description and b.version and callable(b.factory)


def test_unknown_name_did_you_mean(tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'arch-III'"):
        load_builtin("arch-iii", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="Did you mean"):
        load_builtin("arch-lll", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="known"):
        load_builtin("heart-9", cache_dir=tmp_path)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    t0 = time.perf_counter()
    a = load_builtin("arch-I", cache_dir=root)
    t_build = time.perf_counter() - t0
    return root, a, t_build


def test_cache_built_once_and_equal(cached, monkeypatch):
    root, a, _ = cached
    folders = list(root.iterdir())
    assert [f.name for f in folders] == [f"arch-I-{list_builtin()[0].version}"]
    calls = []
    b0 = lib._FACTORIES["arch-I"]
    monkeypatch.setitem(lib._FACTORIES, "arch-I", (lambda: calls.append(1) or b0[0](), b0[1]))
    b = load_builtin("arch-I", cache_dir=root)
    assert calls == []  # read from the cache, not rebuilt
    assert np.array_equal(a.ct_hu, b.ct_hu) and np.array_equal(a.labels, b.labels)
    assert np.allclose(a.affine, b.affine)
    assert np.array_equal(a.sdf.values, b.sdf.values)
    assert a.vessel_tree.names == b.vessel_tree.names
    assert a.meta["builtin"] == "arch-I"


def test_save_load_round_trip(cached, tmp_path):
    _, a, _ = cached
    p = a.save(tmp_path / "copy")
    b = Anatomy.load(p)
    assert b.name == a.name
    assert np.array_equal(a.ct_hu, b.ct_hu) and np.array_equal(a.labels, b.labels)
    assert {k: s.name for k, s in a.structures.items()} == {
        k: s.name for k, s in b.structures.items()
    }
    for n in a.vessel_tree.names:
        assert np.allclose(a.vessel_tree[n].points, b.vessel_tree[n].points, atol=1e-4)
        assert np.allclose(a.vessel_tree[n].radii, b.vessel_tree[n].radii, atol=1e-4)
    for k in a.targets:
        assert np.allclose(a.targets[k], b.targets[k])
    assert np.allclose(a.landmarks["access"], b.landmarks["access"])
    pts = a.vessel_tree["LICA"].points
    assert np.allclose(a.lumen_sdf(pts), b.lumen_sdf(pts))


def test_stale_version_rebuilds(cached, monkeypatch):
    root, _, _ = cached
    built = []
    monkeypatch.setattr(lib, "LIBRARY_VERSION", "test-new")
    monkeypatch.setitem(lib._FACTORIES, "arch-II", (lambda: built.append(1) or _small(), "arch"))
    a = load_builtin("arch-II", cache_dir=root)
    assert built == [1]
    assert any(f.name.startswith("arch-II-test-new") for f in root.iterdir())
    assert a.meta["builtin_version"].startswith("test-new")


def _small():
    return generate("aortic-arch", seed=1, arch_type="II", voxel_size=6.0, sdf_spacing=2.0)


def test_generate_dispatch_and_errors():
    a = generate("aortic-arch", seed=3, arch_type="bovine", with_ct=False, sdf_spacing=2.0)
    assert a.vessel_tree["LCCA"].parent == "BCT"
    with pytest.raises(ValueError, match="Did you mean 'aortic-arch'"):
        generate("aortic_arch", seed=1)
    with pytest.raises(ValueError, match="Did you mean 'arch_type'"):
        generate("aortic-arch", seed=1, archtype="II")
    with pytest.raises(ValueError, match="arch_type"):
        generate("aortic-arch", seed=1, arch_type="IV", with_ct=False)


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("IGTWIN_CACHE", str(tmp_path))
    assert lib.cache_root() == tmp_path / "anatomies"
    monkeypatch.delenv("IGTWIN_CACHE")
    assert lib.cache_root().parts[-3:] == (".cache", "igtwin", "anatomies")
