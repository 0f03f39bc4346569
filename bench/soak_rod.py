"""Robustness soak: 10⁶ random-action world-steps over the built-in arches.

For each built-in arch (I, II, III, bovine) a batch of B = 64 angled 0.035" wires takes random
push/pull/rotate commands (within the device's limits) for 10⁶ / 4 world-steps. Every step is
checked: no NaN or inf, the deepest inserted node outside the lumen (mm, from the SDF), the
deepest edge midpoint outside it (mm: an edge through a wall, both its nodes inside), the
largest node displacement in one control step (mm, a bound on the kinetic energy) and the largest
wall force (N). Prints one row per anatomy and the totals.

With ``--pair`` each world holds a coaxial pair (5 Fr Berenstein over the 0.035" angled wire),
each device driven by its own random commands, so the wire leads, stays inside or is overtaken
and the catheter rides over it.

With ``--access right-radial`` (or ``left-radial``) the devices enter at the distal end of the
subclavian instead of the descending aorta (the tree re-rooted there).

Run: ``.venv/bin/python bench/soak_rod.py [--steps 1000000] [--batch 64] [--pair] [--access ...]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1_000_000, help="world-steps in all")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--pair", action="store_true", help="catheter + wire in every world")
    ap.add_argument("--ride-stiffness", type=float, default=None, help="N/mm (default: the sim's)")
    ap.add_argument(
        "--access", default="femoral", choices=["femoral", "right-radial", "left-radial"],
        help="where the devices enter (radial: the subclavian's distal end)",
    )  # fmt: skip
    args = ap.parse_args()
    from igtwin.anatomies import load_builtin
    from igtwin.sim import RodSimulator, get_device

    arches = ["arch-I", "arch-II", "arch-III", "arch-bovine"]
    per = args.steps // len(arches) // args.batch
    names = ["guidewire_035_angled"]
    if args.pair:
        names = ["catheter_5fr_berenstein", *names]
    devs = [get_device(n) for n in names]
    lim = np.array([[d.max_translation_speed, d.max_rotation_speed] for d in devs])
    dt = 1 / 7.5
    rows = []
    t_all = time.perf_counter()
    for name in arches:
        anatomy = load_builtin(name)
        tree = anatomy.vessel_tree
        if args.access != "femoral":
            tree = tree.rerooted("RSA" if args.access == "right-radial" else "LSA")
        kw = {} if args.ride_stiffness is None else {"ride_stiffness": args.ride_stiffness}
        sim = RodSimulator(devs, anatomy.sdf, tree.path(tree.root), n_worlds=args.batch, **kw)
        st = sim.initial_state(inserted_length=40.0)
        rng = np.random.default_rng(0)
        worst_out, worst_edge, worst_jump, worst_force, bad = -np.inf, -np.inf, 0.0, 0.0, 0
        t0 = time.perf_counter()
        for _ in tqdm(range(per), desc=name, leave=False):
            before = st.positions.copy()
            cmd = rng.uniform([-0.6, -1.0], [1.0, 1.0], size=(args.batch, len(devs), 2)) * lim
            st = sim.step(st, cmd, dt)
            if not np.isfinite(st.positions).all():
                bad += 1
                continue
            mask = st.node_mask
            worst_out = max(worst_out, float(anatomy.sdf.sample(st.positions[mask]).max()))
            # an edge through a wall (both nodes inside, e.g. either side of a thin septum)
            mid = 0.5 * (st.positions[..., 1:, :] + st.positions[..., :-1, :])
            emask = mask[..., 1:] & mask[..., :-1]
            worst_edge = max(worst_edge, float(anatomy.sdf.sample(mid[emask]).max()))
            both = mask & (np.linalg.norm(before, axis=-1) > 0)
            jump = np.linalg.norm(st.positions - before, axis=-1)[both]
            worst_jump = max(worst_jump, float(jump.max()) if jump.size else 0.0)
            worst_force = max(worst_force, float(st.contact_force.max()))
        secs = time.perf_counter() - t0
        rows.append(
            (name, per * args.batch, bad, worst_out, worst_edge, worst_jump, worst_force, secs)
        )
    print(
        f"{'anatomy':<12} {'world-steps':>11} {'non-finite':>10} {'max outside (mm)':>17} "
        f"{'edge mid outside':>17} "
        f"{'max step (mm)':>14} {'max force (N)':>14} {'steps/s':>9}"
    )
    for name, n, bad, out, edge, jump, force, secs in rows:
        print(
            f"{name:<12} {n:>11,} {bad:>10} {out:>17.3f} {edge:>17.3f} {jump:>14.2f} "
            f"{force:>14.2f} {n / secs:>9,.0f}"
        )
    print(f"total {sum(r[1] for r in rows):,} world-steps in {time.perf_counter() - t_all:.0f} s"
          f" ({' + '.join(names)}, {args.access} access)")  # fmt: skip


if __name__ == "__main__":
    main()
