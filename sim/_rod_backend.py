"""The seam between the device-physics front end and its engines (numba rod, numpy reference, SOFA).

Frame: patient LPS, mm; time s; forces N; torques N·mm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ._rod import RodState

__all__ = ["RodBackend"]


@runtime_checkable
class RodBackend(Protocol):
    """What an engine behind :class:`RodSimulator` provides.

    A backend advances a batch of worlds, each holding ``D`` devices (one guidewire, or a coaxial
    catheter + wire pair) inserted from one access point into one lumen.
    """

    name: str

    def initial_state(self, inserted_length: NDArray, rotation: NDArray) -> RodState:
        """A fresh state; ``inserted_length`` (B, D) mm, ``rotation`` (B, D) rad."""
        ...

    def reset(self, state: RodState, world_mask: NDArray, inserted_length: NDArray) -> None:
        """Re-initialise the worlds where ``world_mask`` (B,) is True, in place."""
        ...

    def step(
        self, state: RodState, commands: NDArray, dt: float, external_force: NDArray | None
    ) -> RodState:
        """A new state after ``dt`` s under validated ``commands`` (B, D, 2) [mm/s, rad/s]."""
        ...
