"""Rod physics: speed against fidelity for the substeps x Gauss-Newton iterations choice.

Run: ``.venv/bin/python bench/bench_rod_fidelity.py [--quick]``. 16 worlds of the 0.035" angled
wire in the bench_rod arch phantom, from 100 mm inserted, under 120 random piecewise-constant
commands (new every 10 steps, mostly advancing, half the device's top speeds), control step
1/15 s. Each setting's tip trajectory is compared with a converged reference (16 substeps x at
least 4 iterations) on the same commands. Printed per setting: world-steps per CPU-s, the tip's
deviation from the reference (mean, 95th percentile, max; mm) and the median over worlds of
the peak node wall force (N). The runs diverge partly chaotically (which branch a tip drops
into), so compare the rows with each other, not with zero.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from bench_rod import DT, arch

from igtwin.sim import RodSimulator


def trajectory(tree, sdf, substeps: int, newton: int, steps: int, worlds: int = 16):
    sim = RodSimulator(
        ["guidewire_035_angled"], sdf, tree.path("LCCA"), n_worlds=worlds,
        max_inserted_length=250.0, substeps=substeps, newton_iterations=newton,
    )  # fmt: skip
    st = sim.initial_state(inserted_length=100.0)
    rng = np.random.default_rng(1)
    lim = np.array([[d.max_translation_speed, d.max_rotation_speed] for d in sim.devices])
    base = rng.uniform(-1, 1, (steps // 10 + 1, worlds, 1, 2))
    base[..., 0] = base[..., 0] * 0.7 + 0.3  # mostly advancing
    tips, peak = [], np.zeros(worlds)
    sim.step(sim.initial_state(inserted_length=100.0), base[0] * 0.0, DT)  # compile / warm
    c0 = time.process_time()
    for k in range(steps):
        st = sim.step(st, base[k // 10] * lim * 0.5, DT)
        tips.append(st.tip_position[:, 0].copy())
        peak = np.maximum(peak, st.contact_force.max(axis=(1, 2)))
    rate = steps * worlds / (time.process_time() - c0)
    return np.array(tips), peak, rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="60 steps instead of 120")
    a = ap.parse_args()
    steps = 60 if a.quick else 120
    numba.set_num_threads(1)
    tree, sdf = arch()
    ref, _, _ = trajectory(tree, sdf, 16, 4, steps)
    print(f"{'substeps x min iterations':28s} {'per CPU-s':>10s} {'tip dev. mean/p95/max mm':>26s}"
          f" {'peak F median':>14s}")  # fmt: skip
    for sub, nn in ((4, 3), (4, 2), (2, 2), (2, 1), (1, 1)):
        tips, peak, rate = trajectory(tree, sdf, sub, nn, steps)
        e = np.linalg.norm(tips - ref, axis=-1)
        tag = f"{sub} x {nn}" + ("  (default)" if (sub, nn) == (4, 3) else "")
        dev = f"{e.mean():.2f} / {np.percentile(e, 95):.1f} / {e.max():.1f}"
        print(f"{tag:28s} {rate:10,.0f} {dev:>26s} {np.median(peak):12.1f} N")


if __name__ == "__main__":
    main()
