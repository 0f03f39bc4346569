"""Slicer markups JSON: LPS/RAS handling, round trip, clear errors."""

import json

import numpy as np
import pytest

from igtwin.anatomies._markups import MarkupsError, read_markups, write_markups

SLICER_RAS = {  # as Slicer 4.11+ writes it, but in RAS (older files / user choice)
    "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
    "Resources/Schema/markups-schema-v1.0.3.json#",
    "markups": [
        {
            "type": "Fiducial",
            "coordinateSystem": "RAS",
            "name": "F",
            "controlPoints": [
                {"id": "1", "label": "lesion", "position": [10.0, 20.0, 30.0]},
                {"id": "2", "label": "", "position": [-1.0, 2.0, -3.0]},
            ],
        },
        {
            "type": "Line",
            "coordinateSystem": "LPS",
            "name": "trajectory",
            "controlPoints": [
                {"id": "1", "label": "entry", "position": [0.0, 0.0, 0.0]},
                {"id": "2", "label": "target", "position": [5.0, 6.0, 7.0]},
            ],
        },
    ],
}


def test_ras_points_converted_and_unlabelled_named(tmp_path):
    p = tmp_path / "t.mrk.json"
    p.write_text(json.dumps(SLICER_RAS))
    m = read_markups(p)
    np.testing.assert_allclose(m["points"]["lesion"], [-10.0, -20.0, 30.0])
    np.testing.assert_allclose(m["points"]["F-2"], [1.0, -2.0, -3.0])
    np.testing.assert_allclose(m["lines"]["trajectory"], [[0, 0, 0], [5, 6, 7]])


def test_roundtrip_lps(tmp_path):
    pts = {"LICA_end": np.array([1.5, -2.0, 100.0]), "target": np.array([0.0, 1.0, 2.0])}
    lines = {"needle": np.array([[0.0, 0, 0], [10.0, 20, 30]])}
    p = write_markups(tmp_path / "o.mrk.json", points=pts, lines=lines)
    data = json.loads(p.read_text())
    assert {m["coordinateSystem"] for m in data["markups"]} == {"LPS"}
    m = read_markups(p)
    for k, v in pts.items():
        np.testing.assert_allclose(m["points"][k], v)
    np.testing.assert_allclose(m["lines"]["needle"], lines["needle"])


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_markups(tmp_path / "none.mrk.json")
    bad = tmp_path / "b.mrk.json"
    bad.write_text("{not json")
    with pytest.raises(MarkupsError, match="not JSON"):
        read_markups(bad)
    bad.write_text(json.dumps({"markups": [{"type": "ClosedCurve", "controlPoints": []}]}))
    with pytest.raises(MarkupsError, match="ClosedCurve.*Fiducial"):
        read_markups(bad)
    bad.write_text(
        json.dumps(
            {"markups": [{"type": "Line", "name": "L", "controlPoints": [{"position": [0, 0, 0]}]}]}
        )
    )
    with pytest.raises(MarkupsError, match="1 points, expected 2"):
        read_markups(bad)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        write_markups(tmp_path / "x.mrk.json", lines={"a": np.zeros(3)})
