"""Observation and reward terms: pure functions of (previous, current) snapshots.

Every term reads a :class:`Snapshot` (plain arrays, batch first) and never the world itself, so the
same terms feed RL, the native batched env and the report. Units: mm, N, mGy; frame LPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from ._config import RewardConfig

__all__ = ["Snapshot", "STATE_SCALE_MM", "state_observation", "state_size", "reward"]

#: Positions in the state observation are divided by this (mm) so they are O(1).
STATE_SCALE_MM = 100.0
#: Arc lengths (mm) behind the lead tip where the shape is sampled for the observation.
SHAPE_SAMPLES_MM = (5.0, 10.0, 20.0, 40.0)


@dataclass(frozen=True)
class Snapshot:
    """The quantities the terms need, for B worlds.

    Attributes
    ----------
    tip : (B, D, 3) tip positions, LPS mm.
    tip_dir : (B, D, 3) unit tip tangents.
    inserted_mm : (B, D) inserted lengths, mm.
    rotation : (B, D) axial rotations, rad.
    shape : (B, S, 3) lead-device points behind the tip (``SHAPE_SAMPLES_MM``), LPS mm.
    target : (B, 3) target, LPS mm.
    geodesic_mm : (B,) remaining distance along the vessel tree to the target, mm.
    wall_force_max_n : (B,) largest wall contact force on any node, N.
    ka_r_mgy : (B,) cumulative reference air kerma, mGy.
    """

    tip: NDArray[np.float64]
    tip_dir: NDArray[np.float64]
    inserted_mm: NDArray[np.float64]
    rotation: NDArray[np.float64]
    shape: NDArray[np.float64]
    target: NDArray[np.float64]
    geodesic_mm: NDArray[np.float64]
    wall_force_max_n: NDArray[np.float64]
    ka_r_mgy: NDArray[np.float64]

    @cached_property
    def lead_tip(self) -> NDArray[np.float64]:
        """(B, 3) tip of the innermost (lead) device."""
        return self.tip[:, -1]

    @cached_property
    def distance_mm(self) -> NDArray[np.float64]:
        """(B,) straight-line lead-tip-to-target distance, mm (computed once per snapshot)."""
        return _norm(self.lead_tip - self.target)


def state_size(n_devices: int) -> int:
    """Length of the state observation vector for ``n_devices``."""
    return n_devices * 9 + 3 * len(SHAPE_SAMPLES_MM) + 3 + 3 + 1


def _tip_frame(tip_dir: NDArray) -> NDArray:
    """(B, 3, 3) orthonormal frames whose first row is the tip tangent."""
    t = tip_dir / np.maximum(_norm(tip_dir, keepdims=True), 1e-12)
    ref = np.where(np.abs(t[:, 2:3]) < 0.9, _Z_AXIS, _X_AXIS)
    n1 = _cross(t, ref)
    n1 /= _norm(n1, keepdims=True)
    n2 = _cross(t, n1)
    return np.stack([t, n1, n2], axis=1)


_Z_AXIS = np.array([[0.0, 0.0, 1.0]])
_X_AXIS = np.array([[1.0, 0.0, 0.0]])


def _norm(x: NDArray, keepdims: bool = False) -> NDArray:
    """Euclidean norm over the last axis: ``np.linalg.norm``'s arithmetic, less overhead."""
    return np.sqrt(np.add.reduce(x * x, axis=-1, keepdims=keepdims))


def _cross(a: NDArray, b: NDArray) -> NDArray:
    """Row-wise cross product of (B, 3) arrays; the same arithmetic as ``np.cross``, less overhead."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    a0, a1, a2 = a[:, 0], a[:, 1], a[:, 2]
    b0, b1, b2 = b[:, 0], b[:, 1], b[:, 2]
    np.subtract(a1 * b2, a2 * b1, out=out[:, 0])
    np.subtract(a2 * b0, a0 * b2, out=out[:, 1])
    np.subtract(a0 * b1, a1 * b0, out=out[:, 2])
    return out


def state_observation(s: Snapshot) -> NDArray[np.float32]:
    """The ``state`` observation, (B, state_size(D)) float32, clipped to [-10, 10].

    Layout: per device [tip − target (3, /100 mm), tip tangent (3), inserted length (/1000 mm),
    sin and cos of rotation]; lead shape samples relative to the lead tip (S×3, /100 mm); target
    relative to the lead tip in LPS (3, /100 mm) and in the tip frame (3, /100 mm); remaining
    geodesic distance (/1000 mm).
    """
    B, D, _ = s.tip.shape
    S = s.shape.shape[1]
    obs = np.empty((B, D * 9 + 3 * S + 7))
    per_dev = obs[:, : D * 9].reshape(B, D, 9)  # a view: written in place below
    np.divide(s.tip - s.target[:, None, :], STATE_SCALE_MM, out=per_dev[..., 0:3])
    per_dev[..., 3:6] = s.tip_dir
    np.divide(s.inserted_mm, 1000.0, out=per_dev[..., 6])
    np.sin(s.rotation, out=per_dev[..., 7])
    np.cos(s.rotation, out=per_dev[..., 8])
    lead = s.lead_tip
    k = D * 9
    np.divide(
        s.shape - lead[:, None, :], STATE_SCALE_MM, out=obs[:, k : k + 3 * S].reshape(B, S, 3)
    )
    k += 3 * S
    rel = s.target - lead
    np.divide(rel, STATE_SCALE_MM, out=obs[:, k : k + 3])
    in_tip = np.einsum("bij,bj->bi", _tip_frame(s.tip_dir[:, -1]), rel)
    np.divide(in_tip, STATE_SCALE_MM, out=obs[:, k + 3 : k + 6])
    np.divide(s.geodesic_mm, 1000.0, out=obs[:, k + 6])
    return obs.clip(-10.0, 10.0, out=obs).astype(np.float32)


def reward(
    prev: Snapshot, cur: Snapshot, success: NDArray[np.bool_], w: RewardConfig
) -> NDArray[np.float64]:
    """Reward per world: progress along the tree, success bonus, force/time/dose penalties.

    ``progress_per_mm × (geodesic before − geodesic after) + success × 1[success]
    − wall_force_per_n × max wall force − time_per_step − dose_per_mgy × ΔKa,r``.
    """
    progress = prev.geodesic_mm - cur.geodesic_mm
    return (
        w.progress_per_mm * progress
        + w.success * success.astype(np.float64)
        - w.wall_force_per_n * cur.wall_force_max_n
        - w.time_per_step
        - w.dose_per_mgy * (cur.ka_r_mgy - prev.ka_r_mgy)
    )
