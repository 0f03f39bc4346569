"""Time and peak memory of building each built-in anatomy; time to save and load its folder.

Run: ``.venv/bin/python bench/bench_generate.py [name ...]`` (default: all built-ins).
Peak memory is tracemalloc's peak of Python/numpy allocations during the build (MB).
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from igtwin.anatomies import Anatomy, list_builtin


def _du(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main(names: list[str]) -> None:
    # warm the numba kernel cache so the first case does not pay for compilation
    from igtwin.anatomies._thorax import capsule_sdf_on_grid

    capsule_sdf_on_grid(
        [np.zeros((2, 3)) + [[0, 0, 0], [1, 0, 0]]],
        [np.ones(2)],
        origin=np.zeros(3),
        step=np.ones(3),
        shape=(4, 4, 4),
    )
    builtins = [b for b in list_builtin() if not names or b.name in names]
    print(
        f"{'anatomy':<12} {'build s':>8} {'peak MB':>8} {'save s':>7} {'load s':>7} "
        f"{'folder MB':>9}  grid"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for b in builtins:
            tracemalloc.start()
            t0 = time.perf_counter()
            a = b.factory()
            t_build = time.perf_counter() - t0
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            folder = Path(tmp) / b.name
            t0 = time.perf_counter()
            a.save(folder)
            t_save = time.perf_counter() - t0
            t0 = time.perf_counter()
            Anatomy.load(folder)
            t_load = time.perf_counter() - t0
            print(
                f"{b.name:<12} {t_build:8.2f} {peak / 1e6:8.0f} {t_save:7.2f} {t_load:7.2f} "
                f"{_du(folder):9.1f}  {a.ct_hu.shape} @ {a.spacing[0]:.2f} mm"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
