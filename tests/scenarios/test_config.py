"""Scenario files: the built-ins load, bad files get errors naming key and expectation."""

import math

import pytest

from igtwin.scenarios import (
    ScenarioError,
    builtin_scenarios,
    get_scenario,
    load_scenario,
    parse_scenario,
    resolve_scenario,
)

MINIMAL = {
    "scenario": {"name": "t"},
    "anatomy": {"builtin": "arch-II"},
    "devices": [{"name": "guidewire_035_angled"}],
    "target": {"branch": "LCCA"},
}


def _with(**tables):
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in MINIMAL.items()}
    for k, v in tables.items():
        data[k] = v
    return data


def test_builtin_set_covers_the_issue():
    names = set(builtin_scenarios())
    assert {"arch-bca", "arch-lcca", "arch-lsa"} <= names
    assert {"arch-random-bca", "arch-random-lcca", "arch-random-lsa"} <= names
    assert "stroke-access-lica" in names
    ids = {sc.env_id for sc in builtin_scenarios().values()}
    assert "igtwin/ArchLCCA-v0" in ids


def test_random_scenarios_hold_out_98_seeds_disjoint_from_training():
    sc = get_scenario("arch-random-lcca")
    assert len(sc.anatomy.held_out_seeds) == 98  # as stEVE's evaluation
    assert not set(sc.anatomy.held_out_seeds) & set(range(*sc.anatomy.seeds))
    assert set(sc.anatomy.types) == {"I", "II", "III", "bovine"}


def test_degrees_in_files_become_radians():
    sc = parse_scenario(_with(carm={"lao_deg": 30.0, "cran_deg": -15}))
    assert math.isclose(sc.carm.primary_rad, math.radians(30))
    assert math.isclose(sc.carm.secondary_rad, math.radians(-15))


def test_coaxial_pair_scenario_has_catheter_then_wire():
    sc = get_scenario("stroke-access-lica")
    assert [d.name for d in sc.devices][1].startswith("guidewire")
    assert sc.devices[0].name.startswith("catheter")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with(carm={"lao": 30}), "unknown key 'lao'.*Did you mean 'lao_deg'"),
        (_with(limits={"max_steps": "many"}), r"\[limits\].max_steps: expected an integer"),
        (_with(control={"rate_hz": -1.0}), r"rate_hz must be in \(0, 60\]"),
        (_with(anatomy={}), "exactly one of builtin, procedural, path"),
        (_with(target={"branch": "LCCA", "point": "x"}), "exactly one of `branch` or `point`"),
        (_with(devices=[]), r"expected 1 device or 2"),
        (_with(rewards={}), r"unknown table \[rewards\].*Did you mean 'reward'"),
        (_with(start={"inserted_mm": float("nan")}), "expected a finite number"),
        (
            _with(start={"inserted_mm": 40.0, "inserted_jitter_mm": 50.0}),
            r"\[start\].inserted_jitter_mm must be in \[0, inserted_mm\]",
        ),
        (_with(start={"random_rotation": "yes"}), r"random_rotation: expected true or false"),
        (
            _with(anatomy={"procedural": "aortic-arch", "seeds": [0, 10], "held_out_seeds": [5]}),
            "overlap the training seeds",
        ),
    ],
)
def test_bad_scenarios_are_rejected_with_a_clear_message(data, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, source="case.toml")


def test_unknown_scenario_name_suggests_close_names():
    with pytest.raises(ScenarioError, match=r"Did you mean \['arch-lcca'"):
        get_scenario("arch-lca")


def test_broken_toml_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[scenario\nname = 'x'")
    with pytest.raises(ScenarioError, match="bad.toml: not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="does not exist"):
        resolve_scenario(tmp_path / "missing.toml")


def test_gymnasium_ids_are_registered_on_import():
    import gymnasium as gym

    import igtwin.scenarios  # noqa: F401

    spec = gym.spec("igtwin/ArchLCCA-v0")
    assert spec.entry_point == "igtwin.scenarios._env:InterventionEnv"
    assert spec.vector_entry_point == "igtwin.scenarios._vector_env:InterventionVectorEnv"
    assert spec.max_episode_steps == get_scenario("arch-lcca").limits.max_steps
