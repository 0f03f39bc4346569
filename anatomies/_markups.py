"""3D Slicer markups JSON (``.mrk.json``): point lists (targets) and lines (trajectories).

Frame: our points are patient LPS mm. Slicer writes ``coordinateSystem`` ``"LPS"`` (the default
since Slicer 4.11) or ``"RAS"``; RAS files are converted (x, y negated) on read, and files are
written in LPS. Schema: https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/
Markups/Resources/Schema/markups-schema-v1.0.3.json (``markups[].type`` ``Fiducial`` or
``Line``, ``controlPoints[].label`` and ``position``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["read_markups", "write_markups", "MarkupsError"]

_SCHEMA = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/"
    "Schema/markups-schema-v1.0.3.json#"
)
_TYPES = ("Fiducial", "Line")


class MarkupsError(ValueError):
    """A markups file that is not valid Slicer markups JSON (the message says what is wrong)."""


def read_markups(path: str | Path) -> dict[str, dict[str, NDArray[np.float64]]]:
    """Read a Slicer ``.mrk.json`` file.

    Returns
    -------
    dict
        ``{"points": {label: (3,) LPS mm}, "lines": {name: (2, 3) LPS mm (start, end)}}``.
        Unlabelled points are named ``<markup name>-<n>`` (Slicer's own convention).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    MarkupsError
        Not JSON, no ``markups`` list, an unknown markup type or coordinate system, or a line
        without exactly two points.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"markups file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise MarkupsError(f"{path.name}: not JSON ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("markups"), list):
        raise MarkupsError(f"{path.name}: expected a JSON object with a `markups` list")
    out: dict[str, dict] = {"points": {}, "lines": {}}
    for m_i, m in enumerate(data["markups"]):
        kind = m.get("type")
        if kind not in _TYPES:
            raise MarkupsError(
                f"{path.name}: markup {m_i} has type {kind!r}; supported types are {_TYPES}"
            )
        cs = str(m.get("coordinateSystem", "LPS")).upper()
        if cs not in ("LPS", "RAS"):
            raise MarkupsError(f"{path.name}: coordinateSystem {cs!r}; expected 'LPS' or 'RAS'")
        flip = np.array([-1.0, -1.0, 1.0]) if cs == "RAS" else np.ones(3)
        base = m.get("name") or ("F" if kind == "Fiducial" else "L")
        pts = []
        for c_i, cp in enumerate(m.get("controlPoints", [])):
            pos = np.asarray(cp.get("position", []), dtype=np.float64)
            if pos.shape != (3,) or not np.isfinite(pos).all():
                raise MarkupsError(
                    f"{path.name}: markup {base!r} point {c_i} position {cp.get('position')} "
                    "is not 3 finite numbers"
                )
            pts.append((cp.get("label") or f"{base}-{c_i + 1}", pos * flip))
        if kind == "Fiducial":
            for label, p in pts:
                out["points"][label] = p
        else:
            if len(pts) != 2:
                raise MarkupsError(f"{path.name}: line {base!r} has {len(pts)} points, expected 2")
            out["lines"][base] = np.stack([pts[0][1], pts[1][1]])
    return out


def write_markups(
    path: str | Path,
    *,
    points: dict[str, NDArray] | None = None,
    lines: dict[str, NDArray] | None = None,
    name: str = "targets",
) -> Path:
    """Write points (LPS mm) and lines ((2, 3) LPS mm) as a Slicer ``.mrk.json`` (LPS).

    Points go into one ``Fiducial`` markup called ``name``; each line is its own ``Line``.
    """
    markups = []
    if points:
        cps = []
        for i, (label, p) in enumerate(points.items()):
            p = np.asarray(p, dtype=np.float64)
            if p.shape != (3,):
                raise ValueError(f"point {label!r} must be (3,) LPS mm, got shape {p.shape}")
            cps.append(_cp(i, label, p))
        markups.append(_markup("Fiducial", name, cps))
    for lname, seg in (lines or {}).items():
        seg = np.asarray(seg, dtype=np.float64)
        if seg.shape != (2, 3):
            raise ValueError(f"line {lname!r} must be (2, 3) LPS mm, got shape {seg.shape}")
        markups.append(
            _markup("Line", lname, [_cp(0, f"{lname}-1", seg[0]), _cp(1, f"{lname}-2", seg[1])])
        )
    path = Path(path)
    path.write_text(json.dumps({"@schema": _SCHEMA, "markups": markups}, indent=2))
    return path


def _cp(i: int, label: str, p: NDArray) -> dict:
    return {
        "id": str(i + 1),
        "label": label,
        "description": "",
        "associatedNodeID": "",
        "position": [float(x) for x in p],
        "orientation": [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0],
        "selected": True,
        "locked": False,
        "visibility": True,
        "positionStatus": "defined",
    }


def _markup(kind: str, name: str, cps: list[dict]) -> dict:
    return {
        "type": kind,
        "coordinateSystem": "LPS",
        "coordinateUnits": "mm",
        "locked": False,
        "fixedNumberOfControlPoints": kind == "Line",
        "labelFormat": "%N-%d",
        "lastUsedControlPointNumber": len(cps),
        "name": name,
        "controlPoints": cps,
    }
