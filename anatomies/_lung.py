"""Procedural thorax CT with a solid lung nodule (CT-guided biopsy target).

Frame: patient LPS (+x left, +y posterior, +z superior), millimetres; ``z = 0`` is the level of
the aortic-arch apex of the body layout.

The thorax comes from :func:`synthesize_thorax_ct`; the nodule is a lobulated sphere of 25 HU
(a solid nodule) of the requested diameter, placed in a drawn lung at least ``r + 10`` mm from
the pleura, mediastinum and diaphragm. Sizes biopsied under CT guidance have a median of about
20 mm (range 6–50 mm; the DESIGN reference values), hence the default 15 mm, a typical
diagnostic challenge.

The great vessels of a type I arch are in the image (labels ``aorta``, ``arteries``) but the
anatomy carries no vessel tree (``vessel_tree`` is None). Target ``nodule`` (centre). Landmark ``entry_nodule``:
the suggested skin entry of the straight path that crosses no bone, heart, vessel or airway and
the least aerated lung (each mm of lung costs as much as 3 mm of chest wall: fewer
pneumothoraces with shorter lung paths).
"""

from __future__ import annotations

import numpy as np

from ._anatomy import Anatomy
from ._liver import _grid, _names_of, paint_lesions, place_spheres, suggest_entry
from ._structures import label_of, standard_structures
from ._thorax import ThoraxLayout, synthesize_thorax_ct

__all__ = ["generate_lung", "GENERATOR_VERSION"]

GENERATOR_VERSION = "1"


def generate_lung(
    nodule_mm: float = 15.0,
    *,
    seed: int,
    voxel_size: float = 1.25,
    side: str | None = None,
) -> Anatomy:
    """Generate a thorax CT with one solid lung nodule.

    Parameters
    ----------
    nodule_mm : float, default: 15.0
        Nodule diameter (mm), 4–60.
    seed : int
        Seed of the layout, the nodule's place and the textures.
    voxel_size : float, default: 1.25
        Isotropic voxel size (mm).
    side : {"left", "right"}, optional
        Lung holding the nodule; default drawn.

    Returns
    -------
    Anatomy
        ``name="lung"``; structures include ``lungs`` and ``nodule``; target ``nodule``;
        landmark ``entry_nodule``; ``meta`` with the diameter, side and generator version.

    Raises
    ------
    ValueError
        For a diameter outside 4–60 mm, an unknown side, or a bad voxel size.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"`seed` must be an int, got {type(seed).__name__}")
    if not 4.0 <= float(nodule_mm) <= 60.0:
        raise ValueError(f"`nodule_mm` must be within 4–60 mm, got {nodule_mm}")
    if side not in (None, "left", "right"):
        raise ValueError(f"`side` must be 'left', 'right' or None, got {side!r}")
    if not voxel_size > 0:
        raise ValueError(f"`voxel_size` must be > 0 mm, got {voxel_size}")
    rng = np.random.default_rng([int(seed), 4242])
    if side is None:
        side = "left" if rng.random() < 0.5 else "right"
    layout = ThoraxLayout.random(rng)
    lo = np.array([layout.midline_x - 176.0, layout.body_center_y - layout.body_b - 10.0, -185.0])
    hi = np.array([layout.midline_x + 176.0, layout.body_center_y + layout.body_b + 12.0, 70.0])
    shape, affine = _grid(lo, hi, voxel_size)
    # the great vessels (a type I arch) so that the mediastinum and fluoroscopy look right
    from ._arch import _build_tree, _layout_for_arch, lumen_on_grid

    tree, _ = _build_tree("I", np.random.default_rng([int(seed), 7]))
    layout = _layout_for_arch(layout, tree)
    lumen, vd = lumen_on_grid(tree, shape, affine)
    ct, labels, _ = synthesize_thorax_ct(
        shape, affine, lumen=lumen, layout=layout, seed=int(seed), vessel_distance=vd
    )

    lung = labels == label_of("lungs")
    x = affine[0, 3] + affine[0, 0] * np.arange(shape[0])
    half = (x > layout.midline_x) if side == "left" else (x < layout.midline_x)
    lung &= half[:, None, None]
    centres, radii = place_spheres(lung, affine, np.array([nodule_mm / 2.0]), rng, margin=10.0)
    ct, labels = paint_lesions(ct, labels, affine, centres, radii, rng, label="nodule")
    c = centres[0]
    entry = suggest_entry(labels, affine, c, lung_penalty=3.0)
    landmarks = {"entry_nodule": entry} if entry is not None else {}
    present = {v for v in np.unique(labels).tolist() if v}
    return Anatomy(
        name="lung",
        ct_hu=ct,
        labels=labels,
        affine=affine,
        structures=standard_structures(_names_of(present)),
        landmarks=landmarks,
        targets={"nodule": c},
        meta={
            "generator": "igtwin.anatomies.generate_lung",
            "generator_version": GENERATOR_VERSION,
            "seed": int(seed),
            "nodule_mm": float(nodule_mm),
            "side": side,
            "voxel_size_mm": float(voxel_size),
            "thorax_layout": layout.to_dict(),
        },
    )
