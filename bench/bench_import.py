"""Benchmark: import a 512 x 512 x 300 CT with TotalSegmentator labels (NIfTI) into an Anatomy.

The patient is synthetic: the vessels of ``generate_aortic_arch("II", seed=0)`` (exact lumen)
on a 0.7 x 0.7 x 1.25 mm CT grid (358 x 358 x 374 mm field of view, the whole tree inside), labelled with
TotalSegmentator class values per branch, a body ellipse (40 HU) in air, contrast-filled
lumen (300 HU) and a vertebral column (700 HU). The import runs in a child process so that its
peak resident memory is measured alone (``ru_maxrss`` of the child). Aim: < 60 s, < 4 GB on 2
cores. Accuracy of the extracted tree against the generator's truth is printed too.

Run: ``.venv/bin/python bench/bench_import.py`` (``--profile`` prints a cProfile of the import).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPE = (512, 512, 300)
VOXEL = (0.7, 0.7, 1.25)
CLASS = {
    "aorta": 52,
    "BCT": 54,
    "RSA": 55,
    "LSA": 56,
    "RCCA": 57,
    "LCCA": 58,
}


def make_patient(folder: Path) -> None:
    from igtwin.anatomies import generate_aortic_arch
    from igtwin.anatomies._io import write_volume

    a = generate_aortic_arch("II", seed=0, with_ct=False)
    tree, sdf = a.vessel_tree, a.sdf
    pts = np.vstack([b.points for b in tree])
    lo, hi = pts.min(0), pts.max(0)
    centre = 0.5 * (lo + hi)
    aff = np.diag([*VOXEL, 1.0])
    aff[:3, 3] = centre - 0.5 * np.array(VOXEL) * (np.array(SHAPE) - 1)
    # branch class of each lumen voxel: the nearest centerline point's branch (children get
    # their TotalSegmentator class, or their ancestor's when TotalSegmentator has none)
    from scipy.spatial import cKDTree

    owner = []
    for b in tree:
        name = b.name
        while name not in CLASS:
            name = tree[name].parent
        owner.append(np.full(len(b.points), CLASS[name]))
    kd, owner = cKDTree(pts), np.concatenate(owner)
    labels = np.zeros(SHAPE, np.uint8)
    ct = np.full(SHAPE, -1000, np.int16)
    x = aff[0, 3] + VOXEL[0] * np.arange(SHAPE[0])
    y = aff[1, 3] + VOXEL[1] * np.arange(SHAPE[1])
    X, Y = np.meshgrid(x, y, indexing="ij")
    body = ((X - centre[0]) / 165.0) ** 2 + ((Y - centre[1] - 20) / 120.0) ** 2 < 1
    spine = (X - centre[0]) ** 2 + (Y - centre[1] - 70) ** 2 < 18.0**2
    for k in range(SHAPE[2]):
        z = aff[2, 3] + VOXEL[2] * k
        ct[:, :, k][body] = 40
        ct[:, :, k][spine] = 700
        labels[:, :, k][spine] = 39  # vertebrae_T5, all the way (a bench, not anatomy)
        P = np.stack([X, Y, np.full(X.shape, z)], -1).reshape(-1, 3)
        inside = sdf.sample(P) < 0
        if inside.any():
            _, j = kd.query(P[inside])
            lab = labels[:, :, k].reshape(-1)
            lab[inside] = owner[j]
            labels[:, :, k] = lab.reshape(X.shape)
            c = ct[:, :, k].reshape(-1)
            c[inside] = 300
            ct[:, :, k] = c.reshape(X.shape)
    write_volume(folder / "ct.nii.gz", ct, aff)
    write_volume(folder / "labels.nii.gz", labels, aff)
    (folder / "truth.json").write_text(tree.to_json())


CHILD = r"""
import json, sys, time
from pathlib import Path
from igtwin.anatomies import import_anatomy, VesselTree
from igtwin.anatomies._centerline import score_centerlines
d = Path(sys.argv[1])
import cProfile, pstats, io
t = time.perf_counter()
prof = cProfile.Profile() if "--profile" in sys.argv else None
if prof:
    prof.enable()
a = import_anatomy(ct=d / "ct.nii.gz", labels=d / "labels.nii.gz", out=d / "anatomy",
                   progress=False, summary_png=False)
dt = time.perf_counter() - t
if prof:
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
    sys.stderr.write(out.getvalue())
truth = VesselTree.from_dict(json.loads((d / "truth.json").read_text()))
s = score_centerlines(a.vessel_tree, truth)
print(json.dumps({"seconds": dt, "branches": a.vessel_tree.names, "score": s,
                  "sdf_shape": list(a.sdf.shape)}))
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        make_patient(folder)
        print(f"synthesised {SHAPE} CT + labels (NIfTI) in {time.perf_counter() - t:.1f} s")
        r = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True
        )
        if r.returncode:
            print(r.stderr)
            raise SystemExit(r.returncode)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        if "--profile" in sys.argv:
            print(r.stderr)
        rss_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        s = res["score"]
        print(
            f"import_anatomy: {res['seconds']:.1f} s, peak RSS {rss_gb:.2f} GB (aim < 60 s, < 4 GB)"
        )
        print(f"branches: {res['branches']}")
        print(
            f"vs truth: mean distance {s['mean_distance_mm']:.2f} mm, radius error "
            f"{s['radius_error_pct']:.1f} %, ends {s['ends']}/{s['ends_truth']}, junctions "
            f"{s['junctions']}/{s['junctions_truth']}, topology exact {s['topology_exact']}"
        )
        print(f"lumen SDF grid {res['sdf_shape']} at 0.5 mm")


if __name__ == "__main__":
    main()
