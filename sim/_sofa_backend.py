"""Optional SOFA engine (SofaPython3 + BeamAdapter) behind the :class:`RodBackend` protocol.

SOFA is LGPL and not in the default install; it is imported lazily. Build note: DESIGN.md,
"Dependencies and licences" (SOFA stays an optional extra, ``pip install igtwin[sofa]`` with a
SOFA build that ships the SofaPython3 and BeamAdapter plugins).
"""

from __future__ import annotations

__all__ = ["check_sofa"]

_HINT = (
    "the 'sofa' rod backend needs SofaPython3 with the BeamAdapter plugin (the optional extra "
    "`igtwin[sofa]` and a SOFA build with BeamAdapter; see DESIGN.md, 'Dependencies and "
    "licences'); use backend='numba' (default) otherwise"
)


def check_sofa() -> None:
    """Import SofaPython3 and BeamAdapter or raise :class:`SofaNotAvailableError` saying how."""
    from ._rod import SofaNotAvailableError

    try:
        import Sofa  # noqa: F401
        import Sofa.Core  # noqa: F401
    except ImportError as e:
        raise SofaNotAvailableError(f"SofaPython3 is not importable ({e}); {_HINT}") from e
    try:
        import SofaRuntime

        SofaRuntime.importPlugin("BeamAdapter")
    except Exception as e:  # plugin missing or SofaRuntime absent
        raise SofaNotAvailableError(f"BeamAdapter plugin not loadable ({e}); {_HINT}") from e
    raise SofaNotAvailableError(
        "SOFA imports, but the BeamAdapter scene adapter is not implemented in this version; "
        + _HINT
    )
