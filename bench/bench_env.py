"""Environment throughput: env steps/s in state and image mode, single and vectorised.

Prints, in one run on this machine: raw rod physics steps/s (one world), the imager's frame rate
at 256² (static C-arm), the single env in state and image mode, gymnasium's SyncVectorEnv and
AsyncVectorEnv, and the native batched env (InterventionVectorEnv) at B = 16 and 64.

Run: ``.venv/bin/python bench/bench_env.py [--scenario arch-lcca] [--steps 300]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="arch-lcca")
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    import gymnasium as gym

    from igtwin.scenarios import InterventionEnv, InterventionVectorEnv

    n = args.steps
    rows = []
    rng = np.random.default_rng(0)

    env = InterventionEnv(args.scenario, obs_mode="state", record=False)
    env.reset(seed=0)
    world = env.world
    D = len(env.case.devices)
    cmd_zero = np.zeros((1, D, 2))

    from igtwin.sim import WorldCommands

    def physics_step():
        cmd = cmd_zero.copy()
        cmd[0, -1, 0] = rng.uniform(-5, 10)
        cmd[0, -1, 1] = rng.uniform(-1, 1)
        world.rods.step(world.state.rod, cmd, env.scenario.dt)

    physics_step()
    rows.append(("rod physics, 1 world (steps/s)", _rate(physics_step, n)))
    world.step(WorldCommands(device=cmd_zero), env.scenario.dt)
    world.render(0)
    rows.append(("imager 256², static C-arm (frames/s)", _rate(lambda: world.render(0), 50)))

    def env_loop(e):
        def f():
            _, _, term, trunc, _ = e.step(e.action_space.sample())
            if term or trunc:
                e.reset()

        return f

    env.action_space.seed(0)
    rows.append(("env state mode (steps/s)", _rate(env_loop(env), n)))
    env_img = InterventionEnv(args.scenario, obs_mode="image", record=False, image_size=256)
    env_img.reset(seed=0)
    env_img.step(env_img.action_space.sample())
    rows.append(("env image mode 256² (steps/s)", _rate(env_loop(env_img), n // 3)))

    for B in (16, 64):
        venv = InterventionVectorEnv(args.scenario, num_envs=B)
        venv.reset(seed=0)
        venv.action_space.seed(0)
        for _ in range(3):  # warm-up (compilation, caches)
            venv.step(venv.action_space.sample())
        r = _rate(lambda v=venv: v.step(v.action_space.sample()), max(n // 10, 10))
        rows.append((f"native batched B={B} (world-steps/s)", r * B))

    ncpu = os.cpu_count() or 2
    fns = [lambda: InterventionEnv(args.scenario, record=False) for _ in range(ncpu)]
    # numba's thread pool is not fork-safe: worker processes are spawned, not forked
    for kind, venv in (
        ("sync", gym.vector.SyncVectorEnv(fns)),
        ("async", gym.vector.AsyncVectorEnv(fns, context="spawn")),
    ):
        venv.reset(seed=0)
        venv.action_space.seed(0)
        for _ in range(5):  # warm-up: spawned workers compile/load the kernels on first use
            venv.step(venv.action_space.sample())
        r = _rate(lambda v=venv: v.step(v.action_space.sample()), max(n // 4, 10))
        rows.append((f"gymnasium {kind} vector x{ncpu} (env-steps/s)", r * ncpu))
        venv.close()

    _print(rows)


def _print(rows) -> None:
    print(f"{'measure':<48} {'value':>12}")
    for name, value in rows:
        print(f"{name:<48} {value:>12,.0f}")


if __name__ == "__main__":
    main()
