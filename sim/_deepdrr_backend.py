"""Optional DeepDRR backend (GPL-3, CUDA only): imported lazily, never by default.

DeepDRR (Unberath et al., MICCAI 2018; github.com/arcadelab/deepdrr) renders poly-energetic DRRs
with Monte-Carlo-derived scatter on a CUDA GPU through CuPy. It is the reference for realism; it
is not needed for anything in IGTwin. Install: ``pip install igtwin[deepdrr]`` (needs CUDA, CuPy,
numpy<2 and its PyOpenGL pins).
"""

from __future__ import annotations

__all__ = ["DeepDRRNotAvailableError", "DeepDRRProjector", "deepdrr_available"]

_HINT = (
    "the 'deepdrr' backend needs the optional extra: `pip install igtwin[deepdrr]` "
    "(DeepDRR, GPL-3; requires a CUDA GPU with CuPy and numpy<2)"
)


class DeepDRRNotAvailableError(ImportError):
    """DeepDRR (or CUDA/CuPy under it) cannot be imported."""


def _import():
    try:
        import deepdrr  # noqa: F401
    except Exception as e:  # ImportError, or CuPy/CUDA failures raised at import
        raise DeepDRRNotAvailableError(f"{_HINT}; import failed with: {e!r}") from e
    return deepdrr


def deepdrr_available() -> bool:
    """True when ``import deepdrr`` succeeds (CUDA present)."""
    try:
        _import()
    except DeepDRRNotAvailableError:
        return False
    return True


class DeepDRRProjector:
    """Render an anatomy's CT with DeepDRR for a :class:`CArm` (reference comparisons).

    Raises
    ------
    DeepDRRNotAvailableError
        When DeepDRR/CUDA is missing, naming the extra to install.
    """

    def __init__(self, anatomy) -> None:
        self._dd = _import()
        self.anatomy = anatomy

    def render(self, carm, shape, *, kvp: float = 80.0):  # pragma: no cover - needs CUDA
        """A DeepDRR image (H, W) of the anatomy for ``carm`` at ``shape``."""
        dd = self._dd
        a = self.anatomy
        vol = (
            dd.Volume.from_hu(a.ct_hu.astype("float32"), a.affine, use_thresholding=True)
            if hasattr(dd.Volume, "from_hu")
            else dd.Volume.from_parameters(a.ct_hu, a.affine)
        )
        pose = carm.pose()
        px = carm.field_mm / max(shape)
        device = dd.device.SimpleDevice(
            sensor_height=shape[0],
            sensor_width=shape[1],
            pixel_size=px,
            source_to_detector_distance=carm.sid,
        )
        device.set_view(
            point=pose.source[0] + carm.sod * pose.beam[0],
            direction=pose.beam[0],
            up=-pose.v_axis[0],
            source_to_point_fraction=carm.sod / carm.sid,
        )
        with dd.Projector(vol, device=device, spectrum=f"{int(kvp)}KV_AL", neglog=False) as proj:
            return proj()
