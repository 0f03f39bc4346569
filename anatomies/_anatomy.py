"""The patient model: CT (HU) and labels on one affine, structures, vessel tree, lumen SDF.

Frame: patient LPS, mm. ``affine`` maps voxel index (i, j, k, 1) to LPS mm for both volumes.
A saved anatomy is a folder::

    manifest.json     name, structures, landmarks, targets, provenance
    ct.nii.gz         CT in HU (int16), stored in NIfTI's RAS convention
    labels.nii.gz     label map (uint8), same affine
    vessel_tree.json  centerlines with radii (LPS mm), branch graph
    lumen_sdf.npz     SDF grid (values, origin, spacing; mm)
    meshes/*.vtp      surfaces per structure (optional)
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ._sdf import SDFGrid
from ._vessel_tree import VesselTree

__all__ = ["Anatomy", "Structure", "AnatomyExistsError"]

#: NIfTI stores RAS; LPS = diag(-1, -1, 1) · RAS.
RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


class AnatomyExistsError(FileExistsError):
    """Saving would overwrite an existing anatomy folder without ``overwrite=True``."""


@dataclass(frozen=True)
class Structure:
    """A labelled structure: ``label`` value in the label map, ``name``, ``material`` name."""

    label: int
    name: str
    material: str


@dataclass
class Anatomy:
    """A patient: CT and labels on one voxel→LPS affine, plus vessel tree and lumen SDF.

    Attributes
    ----------
    name : str
        Identifier (e.g. ``"arch-II"``).
    ct_hu : ndarray, shape (I, J, K), int16 or float32
        CT in Hounsfield units.
    labels : ndarray, shape (I, J, K), uint8
        Label map; 0 is background. Values are described by ``structures``.
    affine : ndarray, shape (4, 4)
        Voxel index → patient LPS (mm), shared by ``ct_hu`` and ``labels``.
    structures : dict of int to Structure
        Label value → structure.
    vessel_tree : VesselTree or None
        Centerlines with radii (LPS mm).
    sdf : SDFGrid or None
        Lumen signed-distance field (mm, negative inside).
    landmarks : dict of str to ndarray (3,)
        Named points (LPS mm), e.g. access sites ``femoral_right``.
    targets : dict of str to ndarray (3,)
        Named target points (LPS mm), default: the distal ends of the leaf branches.
    meta : dict
        Provenance (generator and its parameters, import source, seed ...).
    """

    name: str
    ct_hu: NDArray
    labels: NDArray
    affine: NDArray[np.float64]
    structures: dict[int, Structure]
    vessel_tree: VesselTree | None = None
    sdf: SDFGrid | None = None
    landmarks: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    targets: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4) or not np.isfinite(self.affine).all():
            raise ValueError(f"`affine` must be a finite 4x4 matrix, got {self.affine.shape}")
        if abs(np.linalg.det(self.affine[:3, :3])) < 1e-9:
            raise ValueError("`affine` is singular (zero voxel size or collapsed axes)")
        if not np.allclose(self.affine[3], [0, 0, 0, 1]):
            raise ValueError(f"`affine` last row must be [0, 0, 0, 1], got {self.affine[3]}")
        if self.ct_hu.shape != self.labels.shape:
            raise ValueError(
                f"CT shape {self.ct_hu.shape} and label shape {self.labels.shape} differ"
            )
        if self.ct_hu.ndim != 3:
            raise ValueError(f"CT must be 3-D, got shape {self.ct_hu.shape}")
        unknown = set(np.unique(self.labels).tolist()) - set(self.structures) - {0}
        if unknown:
            raise ValueError(
                f"label values {sorted(unknown)} have no structure; known {sorted(self.structures)}"
            )

    # ------------------------------------------------------------------ geometry
    @property
    def spacing(self) -> NDArray[np.float64]:
        """Voxel size (mm) along i, j, k."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    def voxel_to_lps(self, ijk: NDArray) -> NDArray[np.float64]:
        """Voxel indices (..., 3) → LPS mm (..., 3)."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ self.affine[:3, :3].T + self.affine[:3, 3]

    def lps_to_voxel(self, xyz: NDArray) -> NDArray[np.float64]:
        """LPS mm (..., 3) → continuous voxel indices (..., 3)."""
        inv = np.linalg.inv(self.affine)
        return np.asarray(xyz, dtype=np.float64) @ inv[:3, :3].T + inv[:3, 3]

    def structure(self, name: str) -> Structure:
        """The structure called ``name`` (a "did you mean" on a miss)."""
        for s in self.structures.values():
            if s.name == name:
                return s
        import difflib

        names = [s.name for s in self.structures.values()]
        close = difflib.get_close_matches(name, names, n=3)
        raise KeyError(
            f"unknown structure {name!r}; known {names}"
            + (f". Did you mean {close}?" if close else "")
        )

    def lumen_sdf(self, points: NDArray) -> NDArray[np.float64]:
        """Lumen signed distance (mm, negative inside) at ``points`` (..., 3) LPS mm."""
        if self.sdf is None:
            raise ValueError(f"anatomy {self.name!r} has no lumen SDF (no vessels)")
        return self.sdf.sample(points)

    def material_volume(self):
        """Per-material density volumes for the X-ray imager (see ``MaterialVolume``)."""
        from ._material_volume import material_volume

        return material_volume(self.ct_hu, self.labels, self.affine, structures=self.structures)

    def plot(self, path=None, **kwargs):
        """Render surfaces, lumen, centerlines and targets (AP + lateral); see ``plot_anatomy``."""
        from ._plot import plot_anatomy

        return plot_anatomy(self, path=path, **kwargs)

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the anatomy folder atomically (a temp folder renamed into place).

        Raises
        ------
        AnatomyExistsError
            If ``path`` exists and ``overwrite`` is False. Nothing is written then.
        """
        import nibabel as nib

        path = Path(path)
        if path.exists() and not overwrite:
            raise AnatomyExistsError(
                f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            ras = RAS_TO_LPS @ self.affine
            nib.save(nib.Nifti1Image(np.asarray(self.ct_hu, np.int16), ras), tmp / "ct.nii.gz")
            nib.save(nib.Nifti1Image(np.asarray(self.labels, np.uint8), ras), tmp / "labels.nii.gz")
            if self.vessel_tree is not None:
                (tmp / "vessel_tree.json").write_text(self.vessel_tree.to_json())
            if self.sdf is not None:
                np.savez_compressed(
                    tmp / "lumen_sdf.npz",
                    values=self.sdf.values,
                    origin=self.sdf.origin,
                    spacing=self.sdf.spacing,
                    outside_value=self.sdf.outside_value,
                )
            manifest = {
                "format": "igtwin-anatomy/1",
                "name": self.name,
                "structures": [
                    {"label": s.label, "name": s.name, "material": s.material}
                    for s in self.structures.values()
                ],
                "landmarks": {k: np.asarray(v).tolist() for k, v in self.landmarks.items()},
                "targets": {k: np.asarray(v).tolist() for k, v in self.targets.items()},
                "meta": self.meta,
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
            if path.exists():
                shutil.rmtree(path)
            tmp.rename(path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> Anatomy:
        """Read an anatomy folder written by :meth:`save`."""
        import nibabel as nib

        path = Path(path)
        mf = path / "manifest.json"
        if not mf.is_file():
            raise FileNotFoundError(f"{path} is not an anatomy folder (no manifest.json)")
        manifest = json.loads(mf.read_text())
        ct = nib.load(path / "ct.nii.gz")
        labels = nib.load(path / "labels.nii.gz")
        affine = RAS_TO_LPS @ ct.affine
        tree = None
        if (path / "vessel_tree.json").is_file():
            tree = VesselTree.from_dict(json.loads((path / "vessel_tree.json").read_text()))
        sdf = None
        if (path / "lumen_sdf.npz").is_file():
            z = np.load(path / "lumen_sdf.npz")
            sdf = SDFGrid(
                values=z["values"],
                origin=z["origin"],
                spacing=float(z["spacing"]),
                outside_value=float(z["outside_value"]),
            )
        structures = {
            int(s["label"]): Structure(int(s["label"]), s["name"], s["material"])
            for s in manifest["structures"]
        }
        return cls(
            name=manifest["name"],
            ct_hu=np.asarray(ct.dataobj, dtype=np.int16),
            labels=np.asarray(labels.dataobj, dtype=np.uint8),
            affine=affine,
            structures=structures,
            vessel_tree=tree,
            sdf=sdf,
            landmarks={k: np.asarray(v) for k, v in manifest.get("landmarks", {}).items()},
            targets={k: np.asarray(v) for k, v in manifest.get("targets", {}).items()},
            meta=manifest.get("meta", {}),
        )
