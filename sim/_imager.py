"""Synthetic fluoroscopy: anatomy line integrals (cached per pose) + exact device and contrast
chords → poly-energetic energy-integrating detector → noise, scatter, display.

Per frame::

    L_m(p)    line integrals (g/cm²) of the basis materials   (cached while the C-arm is still)
    τ_E(p)    = Σ_m μ/ρ_m(E) L_m + Σ_devices μ_d(E) chord_d + μ/ρ_I(E) ρ_I chord_I
    s(p)      = Σ_E N_E η(E) E exp(−τ_E)    (+ scatter)  → noise → log → window → display

The anatomy term Σ_E N_E η E exp(−Σ_m μ_m L_m) per energy is cached with the pose, so a frame at a
still C-arm costs the sparse device/contrast chords, a few exponentials at the touched pixels and
the noise draw. The display is shown as the clinician sees it (see ``_carm``): the patient's right
on the image's left in AP. The window comes from the anatomy-only image of that pose, so it does
not flicker as devices move.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ._attenuation import mass_attenuation
from ._carm import CArm
from ._contrast import ContrastAgent, ContrastState
from ._detector import Detector, add_noise, log_display, scatter_estimate
from ._device_chords import DeviceShape, polyline_chords
from ._dose import XRayProtocol
from ._projector import detector_rays, project_volume, resolve_backend

__all__ = ["Imager", "Frame"]


@dataclass
class Frame:
    """One rendered fluoroscopy frame.

    Attributes
    ----------
    display : ndarray, shape (H, W), float32
        Display image in [0, 1] in clinician orientation (row 0 at the top; the patient's right
        on the left in AP); attenuating objects dark.
    signal : ndarray, shape (H, W), float32
        Raw detector signal (keV absorbed per pixel in the pulse), noise and scatter included.
    protocol : str
        Protocol name.
    device_masks : dict of str to ndarray (H, W) bool, optional
        Ground truth: pixels whose ray meets each device (key: device name or ``device<k>``).
    tip_pixels : dict of str to ndarray (2,), optional
        Ground truth: (u, v) = (column, row) pixel of each device's tip (``points[-1]``).
    tip_depth_mm : dict of str to float, optional
        Ground truth: distance of each tip from the focal spot along the central ray (mm).
    contrast_mask : ndarray, shape (H, W) bool, optional
        Ground truth: pixels crossing iodine above 0.5 mg I/mL.
    vessel_mask : ndarray, shape (H, W) bool, optional
        Ground truth: pixels whose ray crosses the lumen of the anatomy's vessel tree (any
        contrast), when the anatomy has one.
    """

    display: NDArray[np.float32]
    signal: NDArray[np.float32]
    protocol: str = ""
    device_masks: dict[str, NDArray[np.bool_]] = field(default_factory=dict)
    tip_pixels: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    tip_depth_mm: dict[str, float] = field(default_factory=dict)
    contrast_mask: NDArray[np.bool_] | None = None
    vessel_mask: NDArray[np.bool_] | None = None

    @property
    def uint8(self) -> NDArray[np.uint8]:
        """Display as 8-bit grey (H, W)."""
        return np.round(self.display * 255.0).astype(np.uint8)


class Imager:
    """X-ray imager of one anatomy.

    Parameters
    ----------
    anatomy : Anatomy or MaterialVolume
        The patient (its :meth:`~igtwin.anatomies.Anatomy.material_volume` is used).
    detector : Detector, optional
        Flat panel; default :class:`Detector()`.
    output_shape : (int, int), default: (256, 256)
        Output image (H, W); pixels bin the panel's native pixels.
    backend : {"auto", "numba", "torch", "deepdrr"}, default: "auto"
        Ray marcher for the anatomy (``auto``: torch on CUDA if present, else numba);
        ``deepdrr`` needs the optional extra (``pip install igtwin[deepdrr]``, CUDA).
    n_energies : int, default: 8
        Energy bins of the spectrum used per pixel.
    step_mm : float, optional
        Ray-marching step (mm); default the smallest voxel size.
    """

    def __init__(
        self,
        anatomy,
        *,
        detector: Detector | None = None,
        output_shape: tuple[int, int] = (256, 256),
        backend: str = "auto",
        n_energies: int = 8,
        step_mm: float | None = None,
    ) -> None:
        self.backend = resolve_backend(backend, allow_deepdrr=True)
        self.detector = Detector() if detector is None else detector
        if not isinstance(self.detector, Detector):
            raise TypeError(f"`detector` must be a Detector, got {type(self.detector).__name__}")
        h, w = (int(output_shape[0]), int(output_shape[1]))
        if h < 2 or w < 2:
            raise ValueError(f"`output_shape` must be (H >= 2, W >= 2), got {output_shape}")
        self.output_shape = (h, w)
        if n_energies < 1:
            raise ValueError(f"`n_energies` must be >= 1, got {n_energies}")
        self.n_energies = int(n_energies)
        mv = anatomy.material_volume() if hasattr(anatomy, "material_volume") else anatomy
        self.volume = _crop(mv)
        self.step_mm = float(self.volume.spacing.min()) if step_mm is None else float(step_mm)
        self._anatomy = anatomy
        self._tree_segments = None
        self._li_cache: dict = {}
        self._static_cache: dict = {}
        if self.backend == "deepdrr":
            from ._deepdrr_backend import DeepDRRProjector

            self._deepdrr = DeepDRRProjector(anatomy)

    # ------------------------------------------------------------------ geometry
    def pixel_mm(self, carm: CArm) -> float:
        """Output pixel size at the detector (mm)."""
        return carm.field_mm / max(self.output_shape)

    def project_points(self, carm: CArm, points: NDArray) -> NDArray[np.float64]:
        """Pixel coordinates (u, v) = (column, row) of LPS points (M, 3) mm; (M, 2) float.

        Points behind the source get NaN.
        """
        p = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if p.shape[-1] != 3:
            raise ValueError(f"`points` must be (M, 3) LPS mm, got {p.shape}")
        pose = carm.pose()
        rel = p - pose.source[0]
        depth = rel @ pose.beam[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(depth > 0, carm.sid / depth, np.nan)
        px = self.pixel_mm(carm)
        h, w = self.output_shape
        u = (rel @ pose.u_axis[0]) * s / px + 0.5 * (w - 1)
        v = (rel @ pose.v_axis[0]) * s / px + 0.5 * (h - 1)
        return np.stack([u, v], -1)

    # ------------------------------------------------------------------ anatomy
    def line_integrals(self, carm: CArm, *, use_cache: bool = True) -> NDArray[np.float32]:
        """Line integrals (g/cm²) of the basis materials, (H, W, C); cached per pose."""
        key = (carm.key(), self.output_shape)
        if use_cache and key in self._li_cache:
            return self._li_cache[key]
        rays = detector_rays(carm, self.output_shape)
        li = project_volume(
            self.volume.density,
            self.volume.affine,
            rays.source,
            rays.targets,
            step_mm=self.step_mm,
            backend="numba" if self.backend == "deepdrr" else self.backend,
        )
        li *= 0.1  # g/cm³ · mm → g/cm²
        if use_cache:
            if len(self._li_cache) >= 8:
                self._li_cache.pop(next(iter(self._li_cache)))
            self._li_cache[key] = li
        return li

    def _spectrum(self, protocol: XRayProtocol, mono_kev: float | None):
        if mono_kev is not None:
            s = protocol.spectrum()
            return np.array([float(mono_kev)]), np.array([s.fluence.sum()])
        s = protocol.spectrum().rebin(self.n_energies)
        return s.energies_kev, s.fluence

    def _static(self, carm: CArm, protocol: XRayProtocol, mono_kev: float | None) -> dict:
        key = (
            carm.key(),
            carm.collimation,
            protocol.kvp,
            protocol.filtration,
            mono_kev,
            self.output_shape,
        )
        st = self._static_cache.get(key)
        if st is not None:
            return st
        li = self.line_integrals(carm)
        h, w = self.output_shape
        e, flu = self._spectrum(protocol, mono_kev)
        px = self.pixel_mm(carm)
        eta = self.detector.absorption(e)
        # photons per pixel per mAs at the detector (inverse square from 1 m)
        n_e = flu * (1000.0 / carm.sid) ** 2 * px * px * eta  # (E,)
        mu = np.stack([mass_attenuation(m, e) for m in self.volume.materials], 1)  # (E, C)
        tau = np.einsum("hwc,ec->ehw", li, mu.astype(np.float32))
        trans = np.exp(-tau)
        a1 = (n_e * e)[:, None, None].astype(np.float32) * trans  # keV per mAs
        a2 = (n_e * e * e)[:, None, None].astype(np.float32) * trans
        a0 = n_e[:, None, None].astype(np.float32) * trans
        prim = a1.sum(0)
        # collimation: square field, centred
        half = 0.5 * carm.collimated_field_mm / px
        rr = np.abs(np.arange(h) - 0.5 * (h - 1))[:, None] <= half
        cc = np.abs(np.arange(w) - 0.5 * (w - 1))[None, :] <= half
        coll = (rr & cc).astype(np.float32)
        prim *= coll
        a1 *= coll
        a2 *= coll
        a0 *= coll
        det = self.detector
        scat = scatter_estimate(
            prim, spr=det.scatter_to_primary, sigma_px=det.scatter_sigma_mm / px
        )
        mean_e = float((n_e * e).sum() / n_e.sum())
        bins = (px / det.pixel_pitch_mm) ** 2
        st = {
            "e": e,
            "n_e": n_e,
            "a0": a0,
            "a1": a1,
            "a2": a2,
            "prim": prim,
            "var": a2.sum(0),
            "quanta": a0.sum(0),
            "scatter": scat,
            "mean_e": mean_e,
            "elec_var": det.electronic_noise_kev**2 * bins,
            "coll": coll.astype(bool),
            "px": px,
        }
        if len(self._static_cache) >= 4:  # (E, H, W) x 3 float32 each: keep a few poses
            self._static_cache.pop(next(iter(self._static_cache)))
        self._static_cache[key] = st
        return st

    # ------------------------------------------------------------------ render
    def render(
        self,
        carm: CArm,
        protocol: XRayProtocol,
        *,
        devices=(),
        contrast=None,
        rng: np.random.Generator | None = None,
        ground_truth: bool = False,
        noise: bool = True,
        scatter: bool = True,
        mono_kev: float | None = None,
    ) -> Frame:
        """Render one pulse.

        Parameters
        ----------
        carm : CArm
            Geometry.
        protocol : XRayProtocol
            Tube settings of the pulse (spectrum, mAs).
        devices : sequence of DeviceShape (or objects with points, radius, material)
            Devices in the beam (LPS mm).
        contrast : ContrastAgent or ContrastState, optional
            Iodine in the lumen now.
        rng : numpy.random.Generator, optional
            Noise source; required when ``noise`` is True (determinism is the caller's).
        ground_truth : bool, default: False
            Fill the frame's masks, tip pixels and depths.
        noise, scatter : bool, default: True
            Quantum + electronic noise; scatter estimate.
        mono_kev : float, optional
            Mono-energetic mode: all photons at this energy (validation, DRR comparison).

        Returns
        -------
        Frame
        """
        if not isinstance(carm, CArm):
            raise TypeError(f"`carm` must be a CArm, got {type(carm).__name__}")
        if not isinstance(protocol, XRayProtocol):
            raise TypeError(f"`protocol` must be an XRayProtocol, got {type(protocol).__name__}")
        if noise and rng is None:
            raise ValueError("`rng` (numpy.random.Generator) is required when noise=True")
        h, w = self.output_shape
        st = self._static(carm, protocol, mono_kev)
        mas = protocol.mas_per_pulse
        e = st["e"]
        pose = carm.pose()
        geo = dict(
            source=pose.source[0],
            detector_center=pose.detector_center[0],
            u_axis=pose.u_axis[0],
            v_axis=pose.v_axis[0],
            beam=pose.beam[0],
            sid=carm.sid,
            pixel_mm=st["px"],
            shape=(h, w),
        )
        # sparse extra optical depth: devices and contrast
        pix_list, tau_list = [], []
        frame = Frame(display=None, signal=None, protocol=protocol.name)  # type: ignore[arg-type]
        for k, dev in enumerate(devices):
            d = DeviceShape.coerce(dev)
            a, b, r = d.segments()
            pix, chord = polyline_chords(a, b, r, **geo)
            if d.hollow:  # subtract the lumen: pixels of the inner tube are among the outer's
                pin, cin = polyline_chords(*d.inner_segments(), **geo)
                pos = np.searchsorted(pix, pin)
                ok = (pos < len(pix)) & (pix[np.minimum(pos, len(pix) - 1)] == pin)
                chord = chord.copy()
                np.subtract.at(chord, pos[ok], cin[ok])
                chord = np.maximum(chord, 0.0)
            mu = mass_attenuation(d.material, e) * _density(d.material) * d.fill / 10.0  # 1/mm
            pix_list.append(pix)
            tau_list.append(chord[None, :] * mu[:, None])
            if ground_truth:
                name = d.name or f"device{k}"
                m = np.zeros(h * w, bool)
                m[pix] = True
                frame.device_masks[name] = m.reshape(h, w)
                uv = self.project_points(carm, d.points[-1:])[0]
                frame.tip_pixels[name] = uv
                frame.tip_depth_mm[name] = float((d.points[-1] - pose.source[0]) @ pose.beam[0])
        if contrast is not None:
            cs = contrast.state() if isinstance(contrast, ContrastAgent) else contrast
            if not isinstance(cs, ContrastState):
                raise TypeError(
                    f"`contrast` must be a ContrastAgent or ContrastState, got {type(contrast).__name__}"
                )
            act = cs.active()
            if act.any():
                rho = cs.concentration[act] / 1000.0  # g I / cm³
                pix, val = polyline_chords(cs.a[act], cs.b[act], cs.radius[act], weight=rho, **geo)
                mu = mass_attenuation("iodine", e) / 10.0  # cm²/g → (g/cm³)^-1 mm^-1
                pix_list.append(pix)
                tau_list.append(val[None, :] * mu[:, None])
                if ground_truth:
                    m = np.zeros(h * w, bool)
                    m[pix] = True
                    frame.contrast_mask = m.reshape(h, w)
            elif ground_truth:
                frame.contrast_mask = np.zeros((h, w), bool)
        if ground_truth:
            frame.vessel_mask = self._vessel_mask(carm, geo)
        prim = st["prim"].reshape(-1) * mas
        var = st["var"].reshape(-1) * mas
        quanta = st["quanta"].reshape(-1) * mas
        if pix_list:
            allpix = np.concatenate(pix_list)
            uniq, inv = np.unique(allpix, return_inverse=True)
            tau = np.zeros((len(e), len(uniq)))
            off = 0
            for pl, tl in zip(pix_list, tau_list, strict=True):
                tau[:, inv[off : off + len(pl)]] += tl  # pixels are unique within one list
                off += len(pl)
            tr = np.exp(-tau).astype(np.float32)
            ys, xs = np.divmod(uniq, w)
            prim = prim.copy()
            var = var.copy()
            quanta = quanta.copy()
            prim[uniq] = (st["a1"][:, ys, xs] * tr).sum(0) * mas
            var[uniq] = (st["a2"][:, ys, xs] * tr).sum(0) * mas
            quanta[uniq] = (st["a0"][:, ys, xs] * tr).sum(0) * mas
        mean = prim
        if scatter and self.detector.scatter_to_primary > 0:
            sc = st["scatter"].reshape(-1) * mas
            mean = prim + sc
            var = var + sc * st["mean_e"]
            quanta = quanta + sc / st["mean_e"]
        if noise:
            sig = add_noise(mean, var + st["elec_var"], rng, quanta=quanta)
        else:
            sig = mean.astype(np.float32)
        sig = sig.reshape(h, w)
        lo, hi = self._window(st, mas, scatter)
        frame.signal = sig
        frame.display = log_display(sig, lo, hi)
        return frame

    def _vessel_mask(self, carm: CArm, geo: dict) -> NDArray[np.bool_] | None:
        """Projected lumen of the whole vessel tree (cached per pose)."""
        tree = getattr(self._anatomy, "vessel_tree", None)
        if tree is None:
            return None
        key = ("vessels", carm.key(), self.output_shape)
        if key not in self._li_cache:
            if self._tree_segments is None:
                a, b, r = [], [], []
                for br in tree:
                    a.append(br.points[:-1])
                    b.append(br.points[1:])
                    r.append(0.5 * (br.radii[:-1] + br.radii[1:]))
                self._tree_segments = (np.concatenate(a), np.concatenate(b), np.concatenate(r))
            pix, _ = polyline_chords(*self._tree_segments, **geo)
            m = np.zeros(self.output_shape[0] * self.output_shape[1], bool)
            m[pix] = True
            if len(self._li_cache) >= 8:
                self._li_cache.pop(next(iter(self._li_cache)))
            self._li_cache[key] = m.reshape(self.output_shape)
        return self._li_cache[key]

    def _window(self, st: dict, mas: float, scatter: bool) -> tuple[float, float]:
        key = ("win", scatter)
        if key not in st:
            ref = st["prim"] + (st["scatter"] if scatter else 0.0)
            v = np.log(np.maximum(ref[st["coll"]], 1e-6))
            lo, hi = np.percentile(v, [0.5, 99.5]) if v.size else (0.0, 1.0)
            span = max(hi - lo, 1e-3)
            st[key] = (float(lo - 0.25 * span), float(hi + 0.05 * span))
        lo, hi = st[key]
        return lo + float(np.log(mas)), hi + float(np.log(mas))


def _density(material: str) -> float:
    from igtwin.anatomies import get_material

    return get_material(material).density


def _crop(mv):
    """Crop a MaterialVolume to the bounding box of non-air voxels (+1 voxel), fixing the affine."""
    from igtwin.anatomies import MaterialVolume

    d = mv.density
    occ = d.sum(-1) > 0.01
    if not occ.any():
        return mv
    idx = [np.nonzero(occ.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
    lo = [max(int(i[0]) - 1, 0) for i in idx]
    hi = [min(int(i[-1]) + 2, n) for i, n in zip(idx, d.shape[:3], strict=True)]
    if all(lo_ == 0 for lo_ in lo) and all(h == n for h, n in zip(hi, d.shape[:3], strict=True)):
        return mv
    for a in range(3):  # keep >= 2 voxels per axis
        if hi[a] - lo[a] < 2:
            hi[a] = min(lo[a] + 2, d.shape[a])
            lo[a] = hi[a] - 2
    aff = mv.affine.copy()
    aff[:3, 3] = mv.affine[:3, :3] @ np.asarray(lo, float) + mv.affine[:3, 3]
    sub = np.ascontiguousarray(d[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]])
    return MaterialVolume(density=sub, materials=mv.materials, affine=aff)
