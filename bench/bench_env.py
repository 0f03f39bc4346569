"""Environment throughput next to the raw physics, in one run, in light and heavy wall contact.

Prints, on this machine, for one scenario (default ``arch-lcca``):

- raw rod physics: ``RodSimulator.step`` alone (one world), and the share of it spent inside the
  compiled kernel ``rod_step_batch`` (the rest is ``RodSimulator``'s Python);
- the single ``InterventionEnv`` in state mode (recording on, as ``gym.make`` builds it, and off),
  replaying exactly the same commands from the same state as the physics row, so that
  ``env − physics`` is the env's own Python overhead (observation, reward, dose, recording);
- the single env in image mode at 256² (a fluoroscopy frame every step);
- vectorised: gymnasium's ``SyncVectorEnv`` (and ``AsyncVectorEnv`` with ``--async``) over
  ``InterventionEnv``, and the native batched ``InterventionVectorEnv`` at B = 16 and 64.

Each rate is given per wall-clock second and per CPU second of this process (``time.process_time``,
all threads), the best of ``--repeats`` runs (physics and env runs interleaved); the machine may be
shared, so CPU-normalised figures are the steadier ones.

Contact levels (same actions for the physics and the env rows; ``a = [translation, rotation]`` as
fractions of the device maximum, 50 mm/s and the catalogue rotation speed for the 0.035" wire):

- light: from reset (wire 40 mm into the descending aorta), ``a = [0.3 sin(2πk/30), 0.5]``: the
  wire slides ±10 mm and spins in the straight aorta, no node touches the wall;
- heavy: after pushing at full speed for 24 steps (tip through the arch, ~190 mm inserted),
  ``a = [±1 alternating every 18 steps, 0.3]``: the wire is driven in and out against the outer
  arch wall, ~40 of ~145 inserted nodes in contact, median largest node force ~25 N.

Run: ``.venv/bin/python bench/bench_env.py [--scenario arch-lcca] [--steps 300] [--async]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _light(k: int) -> np.ndarray:
    return np.array([0.3 * np.sin(2 * np.pi * k / 30), 0.5])


def _heavy(k: int) -> np.ndarray:
    return np.array([1.0 if np.sin(2 * np.pi * (k + 0.5) / 36) > 0 else -1.0, 0.3])


_HEAVY_PREFIX = [np.array([1.0, 0.0])] * 24


def _measure(run, n: int, repeats: int) -> tuple[float, float]:
    """Best (wall, CPU) seconds per call of ``run(n)`` / n over ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        run(n)
        walls.append((time.perf_counter() - t0) / n)
        cpus.append((time.process_time() - c0) / n)
    return min(walls), min(cpus)


class _KernelTimer:
    """Wraps the rod kernels module so that ``rod_step_batch`` calls are timed."""

    def __init__(self, kernels) -> None:
        self._k = kernels
        self.total = 0.0

    def __getattr__(self, name):
        return getattr(self._k, name)

    def rod_step_batch(self, *args):
        t0 = time.perf_counter()
        out = self._k.rod_step_batch(*args)
        self.total += time.perf_counter() - t0
        return out


def _single_env_rows(args, rows) -> None:
    from igtwin.scenarios import InterventionEnv
    from igtwin.scenarios._env import commands_from_actions

    n, rep = args.steps, args.repeats
    for level, prefix, policy in (("light", [], _light), ("heavy", _HEAVY_PREFIX, _heavy)):
        actions = [policy(k) for k in range(n)]
        envs = {
            rec: InterventionEnv(args.scenario, obs_mode="state", record=rec)
            for rec in (True, False)
        }
        starts = {}
        for rec, env in envs.items():
            env.reset(seed=0)
            for a in prefix:
                env.step(a)
            starts[rec] = env.world.state.rod.copy()
        env = envs[False]
        world, dt = env.world, env.scenario.dt
        cmds = [commands_from_actions(a, env.case.devices, "device").device for a in actions]
        timers = {rec: _KernelTimer(e.world.rods._k) for rec, e in envs.items()}
        for rec, e in envs.items():
            e.world.rods._k = timers[rec]
        timers["physics"] = timers[False]  # the physics rows step envs[False]'s simulator

        def physics(m, probe=None, start=starts[False], cmds=cmds, world=world, dt=dt):
            st = start.copy()
            for c in cmds[:m]:
                st = world.step_rods(st, c, dt)
                if probe is not None:  # largest node force (N), fraction of nodes in contact
                    f = st.contact_force[0, -1][st.node_mask[0, -1]]
                    probe.append((f.max(initial=0.0), (f > 0).mean()))

        probe: list[tuple[float, float]] = []
        physics(n, probe)  # warm-up (and the contact figures)
        force, contact = np.array(probe).T

        def env_run(m, e, state0, actions=actions):
            e.world.state.rod = state0.copy()
            for a in actions[:m]:
                e.step(a)

        runs = {"physics": physics}
        for rec, e in envs.items():
            runs[rec] = lambda m, e=e, s0=starts[rec]: env_run(m, e, s0)
            runs[rec](n)  # warm-up
        # interleaved repeats, so that a burst of load on the shared machine hits all alike;
        # "outside" = wall time per step outside the compiled kernel (Python, numpy)
        best = {k: (np.inf, np.inf) for k in runs}
        kernel = dict.fromkeys(runs, np.inf)
        outside = dict.fromkeys(runs, np.inf)
        for _ in range(rep):
            for k, run in runs.items():
                timers[k].total = 0.0
                t, c = _measure(run, n, 1)
                best[k] = (min(best[k][0], t), min(best[k][1], c))
                kernel[k] = min(kernel[k], timers[k].total / n)
                outside[k] = min(outside[k], t - timers[k].total / n)
        for rec, e in envs.items():
            e.world.rods._k = timers[rec]._k
        t_phys, c_phys = best["physics"]
        rows.append(
            (
                f"rod physics, 1 world, {level} contact",
                t_phys,
                c_phys,
                f"kernel {kernel['physics'] * 1e3:.3f} ms, outside it "
                f"{outside['physics'] * 1e3:.3f} ms; max node force median "
                f"{np.median(force):.2f} N, {100 * np.mean(contact):.0f} % of inserted nodes in "
                "contact",
            )
        )
        for rec in envs:
            t_env, c_env = best[rec]
            over, c_over = t_env - t_phys, c_env - c_phys
            rows.append(
                (
                    f"env state, {level} contact, record={'on' if rec else 'off'}",
                    t_env,
                    c_env,
                    f"env - physics {over * 1e3:.3f} ms wall ({100 * over / t_env:.0f} %), "
                    f"{c_over * 1e3:.3f} ms CPU ({100 * c_over / c_env:.0f} %); kernel "
                    f"{kernel[rec] * 1e3:.3f} ms, outside it {outside[rec] * 1e3:.3f} ms",
                )
            )


def _image_row(args, rows) -> None:
    from igtwin.scenarios import InterventionEnv

    n = max(args.steps // 3, 10)
    env = InterventionEnv(args.scenario, obs_mode="image", image_size=256)
    env.reset(seed=0)
    actions = [_light(k) for k in range(n)]
    env.step(actions[0])

    def run(m):
        for a in actions[:m]:
            env.step(a)

    t, c = _measure(run, n, args.repeats)
    rows.append(("env image 256², light contact, record=on", t, c, "one frame per step"))


def _vector_rows(args, rows) -> None:
    import gymnasium as gym

    from igtwin.scenarios import InterventionEnv, InterventionVectorEnv

    rep = args.repeats
    for B in (16, 64):
        venv = InterventionVectorEnv(args.scenario, num_envs=B)
        venv.reset(seed=0)
        acts = [np.tile(_light(k), (B, 1)) for k in range(args.steps)]
        m = max(args.steps // 10, 10)
        for a in acts[:3]:  # warm-up
            venv.step(a)

        def run(m, venv=venv, acts=acts):
            for a in acts[:m]:
                venv.step(a)

        t, c = _measure(run, m, rep)
        rows.append((f"native batched B={B}, light contact (per world)", t / B, c / B, ""))
    ncpu = os.cpu_count() or 2
    fns = [lambda: InterventionEnv(args.scenario) for _ in range(ncpu)]
    kinds = [("sync", lambda: gym.vector.SyncVectorEnv(fns))]
    if args.async_:
        # numba's thread pool is not fork-safe: worker processes are spawned, not forked
        kinds.append(("async", lambda: gym.vector.AsyncVectorEnv(fns, context="spawn")))
    for kind, make in kinds:
        venv = make()
        venv.reset(seed=0)
        acts = [np.tile(_light(k), (ncpu, 1)) for k in range(args.steps)]
        for a in acts[:5]:  # warm-up: spawned workers load the kernels on first use
            venv.step(a)
        m = max(args.steps // 4, 10)

        def run(m, venv=venv, acts=acts):
            for a in acts[:m]:
                venv.step(a)

        t, c = _measure(run, m, rep)
        note = "CPU of this process only" if kind == "async" else ""
        rows.append((f"gymnasium {kind} vector x{ncpu}, light (per env)", t / ncpu, c / ncpu, note))
        venv.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="arch-lcca")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--async", dest="async_", action="store_true", help="also AsyncVectorEnv")
    args = ap.parse_args()
    import numba

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{args.scenario}: {os.cpu_count()} CPUs, load average {load}, numba threads "
        f"{numba.get_num_threads()} (1 inside a one-world World step)"
    )
    rows: list[tuple[str, float, float, str]] = []
    _single_env_rows(args, rows)
    _image_row(args, rows)
    _vector_rows(args, rows)
    print(f"{'measure (steps/s)':<52} {'wall':>8} {'per CPU-s':>10}  notes")
    for name, t, c, note in rows:
        print(f"{name:<52} {1 / t:>8,.0f} {1 / c:>10,.0f}  {note}")


if __name__ == "__main__":
    main()
