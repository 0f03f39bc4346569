"""Rod physics throughput: env-equivalent steps/s (control step 1/15 s).

Run: ``.venv/bin/python bench/bench_rod.py [--quick]``. Prints a table:
- one world on one core (numba threads = 1), a 0.035" angled wire, ~100 nodes inserted;
- batched world-steps/s at B = 64 and 1,024 on all cores (numba prange over worlds);
- a coaxial pair (5 Fr catheter + 0.035" wire);
- the real-time factor (simulated seconds per wall second) for one world;
- the warp backend (``backend="warp"``, when warp-lang is installed): warp's CPU device at B = 64
  (one thread: warp does not spread CPU launches over cores), and CUDA at B = 1,024 and 4,096
  when a CUDA device is visible ("CUDA: not available" otherwise). The warp rows include the
  host<->device copy of the state on every step.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numba
import numpy as np

from igtwin.anatomies import VesselBranch, VesselTree, tube_sdf
from igtwin.sim import RodSimulator

DT = 1.0 / 15.0


def arch():
    th = np.linspace(0, np.pi, 30)
    up = np.stack([np.zeros(20), np.zeros(20), np.linspace(0, 100, 20)], 1)
    arc = np.stack([30 - 30 * np.cos(th), np.zeros(30), 100 + 30 * np.sin(th)], 1)
    down = np.stack([np.full(12, 60.0), np.zeros(12), np.linspace(100, 40, 12)], 1)
    aorta = np.concatenate([up, arc[1:], down[1:]])
    bs = [VesselBranch("aorta", aorta, np.full(len(aorta), 8.0))]
    for name, i, ang in (("BCA", 27, -0.35), ("LCCA", 33, 0.0), ("LSA", 39, 0.35)):
        d = np.array([math.sin(ang), 0.0, math.cos(ang)])
        p = aorta[i] + np.linspace(0, 60, 13)[:, None] * d
        bs.append(VesselBranch(name, p, np.full(13, 3.5), parent="aorta", parent_index=i))
    tree = VesselTree(bs)
    return tree, tube_sdf([b.points for b in tree], [b.radii for b in tree], spacing=0.5)


def run(devices, b, steps, threads, tree, sdf, backend="numba", device="cpu"):
    numba.set_num_threads(threads)
    # ~100 nodes inserted: 150 mm of wire in the arch, held there by small random commands
    sim = RodSimulator(
        devices, sdf, tree.path("LCCA"), n_worlds=b, max_inserted_length=150.0, backend=backend,
        device=device,
    )  # fmt: skip
    st = sim.initial_state(inserted_length=148.0)
    rng = np.random.default_rng(0)
    lim = np.array([[d.max_translation_speed, d.max_rotation_speed] for d in sim.devices])
    cmds = [rng.uniform(-0.2, 0.2, (b, len(devices), 2)) * lim for _ in range(8)]
    st = sim.step(st, cmds[0], DT)  # compile / warm
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(steps):
        st = sim.step(st, cmds[k % 8], DT)
    el, cpu = time.perf_counter() - t0, time.process_time() - c0
    return steps * b / el, steps * b / cpu, int(st.node_mask[0, -1].sum()), sim.n_nodes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer steps")
    a = ap.parse_args()
    q = 0.25 if a.quick else 1.0
    tree, sdf = arch()
    cores = numba.config.NUMBA_NUM_THREADS
    rows = []
    wire = ["guidewire_035_angled"]
    pair = ["catheter_5fr_berenstein", "guidewire_035_angled"]
    cases = [
        ("1 wire, B=1, 1 thread", wire, 1, int(1500 * q), 1),
        (f"1 wire, B=64, {cores} threads", wire, 64, max(int(3000 * q / 64), 3), cores),
        (f"1 wire, B=1024, {cores} threads", wire, 1024, max(int(3000 * q / 1024), 2), cores),
        ("coaxial pair, B=1, 1 thread", pair, 1, int(800 * q), 1),
        (f"coaxial pair, B=64, {cores} threads", pair, 64, max(int(1500 * q / 64), 3), cores),
    ]
    for name, devs, b, steps, threads in cases:
        rows.append((name, *run(devs, b, steps, threads, tree, sdf)))
    notes = []
    try:
        import warp

        cuda = warp.is_cuda_available()
    except ImportError:
        warp, cuda = None, False
        notes.append("warp: not installed (pip install 'igtwin[gpu]')")
    if warp is not None:
        steps = max(int(600 * q / 64), 3)
        rows.append(
            ("warp cpu, 1 wire, B=64, 1 thread", *run(wire, 64, steps, 1, tree, sdf, "warp"))
        )
        if cuda:
            for b in (1024, 4096):
                steps = max(int(40960 * q / b), 3)
                r = run(wire, b, steps, 1, tree, sdf, "warp", "cuda")
                rows.append((f"warp cuda, 1 wire, B={b}", *r))
        else:
            notes.append("CUDA: not available")
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core machine shared with others)")
    hdr = f"{'case':34s} {'world-steps/s':>14s} {'per CPU-s':>10s} {'real-time x':>12s} {'ins.':>5s} {'N':>4s}"
    print(hdr)
    for name, r, rc, ins, n in rows:
        print(f"{name:34s} {r:14,.0f} {rc:10,.0f} {r * DT:12.1f} {ins:5d} {n:4d}")
    print(
        "control step 1/15 s, 4 substeps x >= 3 Gauss-Newton iterations, node spacing 1.5 mm; "
        "'per CPU-s' divides by process CPU time (robust to other users of the machine)"
    )
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
