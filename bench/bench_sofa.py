"""SOFA BeamAdapter backend vs the numba engine: env-equivalent steps/s (control step 1/15 s).

Run (with a SOFA build importable, see docs/devices.md "SOFA backend"):
``SOFA_ROOT=... PYTHONPATH=<build>/lib/python3/site-packages .venv/bin/python bench/bench_sofa.py``

Same phantom (the arch of bench/bench_rod.py), same device (0.035" angled wire), one world on
one thread, the same small random commands; the wire is first fed to ~100 mm in the arch.
Coaxial rows: a 5 Fr straight catheter at 60 mm with the same wire 40 mm ahead of it (SOFA: both
instruments on one BeamAdapter controller). Prints steps/s (wall and per CPU-s) for both engines
and their ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_rod import DT, arch  # noqa: E402

from igtwin.sim import RodSimulator  # noqa: E402

WIRE = ["guidewire_035_angled"]
PAIR = ["catheter_5fr_straight", "guidewire_035_angled"]


def run(backend: str, steps: int, tree, sdf, devices=WIRE) -> tuple[float, float, int]:
    numba.set_num_threads(1)
    sim = RodSimulator(devices, sdf, tree.path("LCCA"), backend=backend, max_inserted_length=150.0)
    st = sim.initial_state(inserted_length=100.0 if len(devices) == 1 else [[60.0, 100.0]])
    rng = np.random.default_rng(0)
    lim = np.array([[d.max_translation_speed, d.max_rotation_speed] for d in sim.devices])
    cmds = [rng.uniform(-0.2, 0.2, (1, len(devices), 2)) * lim for _ in range(8)]
    st = sim.step(st, cmds[0], DT)  # compile / warm
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(steps):
        st = sim.step(st, cmds[k % 8], DT)
    el, cpu = time.perf_counter() - t0, time.process_time() - c0
    return steps / el, steps / cpu, int(st.node_mask[0, -1].sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150, help="control steps for SOFA")
    a = ap.parse_args()
    tree, sdf = arch()
    rows = [
        ("numba, B=1, 1 thread", *run("numba", 1500, tree, sdf)),
        ("sofa (BeamAdapter), B=1", *run("sofa", a.steps, tree, sdf)),
        ("numba, coaxial pair", *run("numba", 1500, tree, sdf, PAIR)),
        ("sofa, coaxial pair", *run("sofa", a.steps, tree, sdf, PAIR)),
    ]
    print(f"load average: {os.getloadavg()[0]:.2f} (2-core machine shared with others)")
    print(f"{'engine':28s} {'steps/s (wall)':>15s} {'per CPU-s':>10s} {'real-time x':>12s} ins.")
    for name, r, rc, ins in rows:
        print(f"{name:28s} {r:15,.1f} {rc:10,.1f} {r * DT:12.2f} {ins:4d}")
    for what, i in (("wire", 0), ("coaxial pair", 2)):
        print(f"ratio numba / sofa, {what}: {rows[i][1] / rows[i + 1][1]:,.0f}x (wall), "
              f"{rows[i][2] / rows[i + 1][2]:,.0f}x (per CPU-s)")  # fmt: skip


if __name__ == "__main__":
    main()
