"""warp-lang backend of the rod: same results as the numba kernels (warp's CPU device here).

The module is skipped where warp-lang is not importable; the CUDA case runs only where
``warp.is_cuda_available()``. The first run compiles the warp module (a few seconds, cached under
~/.cache/warp afterwards).
"""

import numpy as np
import pytest
from test_rod_contact import arch_phantom

from igtwin.sim import RodSimulator

wp = pytest.importorskip("warp", reason="warp-lang not installed (pip install 'igtwin[gpu]')")

from igtwin.sim._rod import WarpDeviceUnavailableError  # noqa: E402

CUDA = bool(wp.is_cuda_available())
STEPS = 60
FIELDS = ("positions", "contact_force", "proximal_force", "proximal_torque", "inserted_length",
          "twist", "rotation")  # fmt: skip


@pytest.fixture(scope="module")
def phantom():
    return arch_phantom()


def _max_diffs(devices, phantom, device, *, world_minor=None):
    """Max |numba - warp| of every state field after STEPS random commands (B=4, arch)."""
    tree, sdf = phantom
    sims = {
        be: RodSimulator(devices, sdf, tree.path("aorta"), n_worlds=4, backend=be, device=dv)
        for be, dv in (("numba", "cpu"), ("warp", device))
    }
    if world_minor is not None:
        sims["warp"]._k.world_minor = world_minor  # layout chosen before the first call
    # 110 mm: the wires reach the arch within a few steps, so contact and friction are exercised
    sts = {be: s.initial_state(inserted_length=110.0) for be, s in sims.items()}
    rng = np.random.default_rng(0)
    lim = np.array([[d.max_translation_speed, d.max_rotation_speed] for d in sims["numba"].devices])
    contact = 0.0
    for _ in range(STEPS):
        u = rng.uniform([-0.6, -1.0], [1.0, 1.0], size=(4, len(devices), 2)) * lim
        sts = {be: sims[be].step(st, u, 1 / 15) for be, st in sts.items()}
        contact = max(contact, float(sts["numba"].contact_force.max()))
    a, b = sts["numba"], sts["warp"]
    assert np.isfinite(b.positions).all()
    assert contact > 0.05, "the comparison should include wall contact"
    return {f: float(np.abs(getattr(a, f) - getattr(b, f)).max()) for f in FIELDS}


def _check(d):
    assert d["positions"] <= 1e-6, d  # mm
    assert d["contact_force"] <= 1e-6, d  # N
    assert d["proximal_force"] <= 1e-6, d  # N
    assert d["proximal_torque"] <= 1e-6, d  # N·mm
    assert d["inserted_length"] <= 1e-9, d  # mm
    assert d["twist"] <= 1e-6, d  # rad
    assert d["rotation"] <= 1e-9, d  # rad


def test_warp_cpu_matches_numba_single_wire(phantom):
    _check(_max_diffs(["guidewire_035_angled"], phantom, "cpu"))


def test_warp_cpu_matches_numba_coaxial_pair(phantom):
    # world-minor storage (the CUDA layout) on the CPU: same results, other memory order
    _check(_max_diffs(["catheter_5fr_cobra", "guidewire_018_j"], phantom, "cpu", world_minor=True))


@pytest.mark.parametrize("bad", ["gpu", "cuda0", "CPU", "cuda:x", "", None])
def test_bad_device_string(phantom, bad):
    tree, sdf = phantom
    with pytest.raises(ValueError, match="device"):
        RodSimulator(["guidewire_035_angled"], sdf, tree.path("aorta"), backend="warp", device=bad)


def test_device_needs_warp_backend(phantom):
    tree, sdf = phantom
    with pytest.raises(ValueError, match="needs backend='warp'"):
        RodSimulator(["guidewire_035_angled"], sdf, tree.path("aorta"), device="cuda")


@pytest.mark.skipif(CUDA, reason="CUDA is available here")
def test_cuda_without_cuda_raises(phantom):
    tree, sdf = phantom
    with pytest.raises(WarpDeviceUnavailableError, match="CUDA device"):
        RodSimulator(["guidewire_035_angled"], sdf, tree.path("aorta"), backend="warp",
                     device="cuda")  # fmt: skip


def test_cuda_index_beyond_devices_raises(phantom):
    tree, sdf = phantom
    with pytest.raises(WarpDeviceUnavailableError, match="cuda:99"):
        RodSimulator(["guidewire_035_angled"], sdf, tree.path("aorta"), backend="warp",
                     device="cuda:99")  # fmt: skip


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device visible to warp")
@pytest.mark.parametrize(
    "devices", [["guidewire_035_angled"], ["catheter_5fr_cobra", "guidewire_018_j"]]
)
def test_warp_cuda_matches_numba(phantom, devices):
    _check(_max_diffs(devices, phantom, "cuda"))


def test_missing_warp_names_the_fix(phantom, monkeypatch):
    import sys

    from igtwin.sim._rod import WarpNotAvailableError

    monkeypatch.setitem(sys.modules, "warp", None)  # `import warp` now raises ImportError
    tree, sdf = phantom
    with pytest.raises(WarpNotAvailableError, match=r"igtwin\[gpu\]"):
        RodSimulator(["guidewire_035_angled"], sdf, tree.path("aorta"), backend="warp")


def test_cuda_kernel_compiles_to_ptx(tmp_path):
    """The CUDA code path compiles (NVRTC, sm_90 PTX) even where no GPU runs it."""
    from igtwin.sim._rod_warp import _build

    wp.init()
    if 90 not in wp.get_cuda_supported_archs():
        pytest.skip("this warp build has no NVRTC for sm_90")
    mod = _build().rod_step_kernel.module
    paths = wp.compile_aot_module(mod, arch=90, module_dir=tmp_path, use_ptx=True)
    assert paths and all(p.suffix == ".ptx" and p.stat().st_size > 0 for p in paths)


def test_warp_cpu_matches_numba_with_a_force_tolerance(phantom):
    """The force-residual stopping rule (force_tolerance > 0, more iterations) in both engines."""
    tree, sdf = phantom
    kw = {"force_tolerance": 0.2, "max_iterations": 20}
    sims = [
        RodSimulator(
            ["guidewire_035_angled"], sdf, tree.path("aorta"), n_worlds=2, backend=be, **kw
        )
        for be in ("numba", "warp")
    ]
    sts = [s.initial_state(inserted_length=110.0) for s in sims]
    rng = np.random.default_rng(1)
    for _ in range(30):
        u = rng.uniform([-0.6, -1.0], [1.0, 1.0], size=(2, 1, 2)) * np.array([50.0, 6.0])
        sts = [s.step(st, u, 1 / 15) for s, st in zip(sims, sts, strict=True)]
    assert np.abs(sts[0].positions - sts[1].positions).max() <= 1e-6
    assert np.abs(sts[0].contact_force - sts[1].contact_force).max() <= 1e-6
