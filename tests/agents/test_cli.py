"""The igtwin command line end to end (in-process, exit codes and outputs)."""

import json

import pytest

from igtwin.agents._cli import main


def test_scenarios_and_devices_list(capsys):
    assert main(["scenarios", "list"]) == 0
    out = capsys.readouterr().out
    assert "arch-lcca" in out and "igtwin/ArchLCCA-v0" in out
    assert main(["devices", "list"]) == 0
    assert "guidewire_035_angled" in capsys.readouterr().out


def test_run_expert_writes_reports_and_prints_a_table(tmp_path, capsys):
    report = tmp_path / "rep"
    code = main(
        ["run", "arch-bca", "--agent", "expert", "--episodes", "1", "--report", str(report)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "success" in out and "dap_gycm2" in out
    data = json.loads((report / "episode-000" / "report.json").read_text())
    assert data["metrics"]["success"]["value"] in (True, 1, 1.0)
    assert (report / "episode-000" / "report.html").is_file()


def test_unknown_scenario_is_a_clear_error_with_exit_2(capsys):
    assert main(["run", "arch-lca", "--agent", "expert"]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario 'arch-lca'" in err and "Did you mean" in err


def test_unknown_agent_is_a_clear_error(capsys):
    assert main(["run", "arch-bca", "--agent", "ninja", "--no-expert"]) == 2
    assert "unknown agent 'ninja'" in capsys.readouterr().err


def test_render_writes_png_and_gif(tmp_path):
    png, gif = tmp_path / "f.png", tmp_path / "r.gif"
    code = main(
        [
            "render",
            "--anatomy",
            "arch-II",
            "--lao",
            "30",
            "--size",
            "64",
            "--out",
            str(png),
            "--gif",
            str(gif),
            "--gif-frames",
            "2",
        ]
    )
    assert code == 0 and png.stat().st_size > 1000 and gif.stat().st_size > 1000


def test_anatomy_list_and_generate(tmp_path, capsys):
    assert main(["anatomy", "list"]) == 0
    assert "arch-bovine" in capsys.readouterr().out
    out = tmp_path / "lung"
    assert (
        main(["anatomy", "generate", "lung", "--nodule", "12mm", "--seed", "2", "--out", str(out)])
        == 0
    )
    assert (out / "manifest.json").is_file()
    # never overwrite a saved anatomy unless asked
    assert main(["anatomy", "generate", "lung", "--seed", "2", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_anatomy_generate_bad_arguments_exit_2(capsys):
    assert main(["anatomy", "generate", "aortic-arch", "--type", "IV", "--out", "x"]) == 2
    assert "IV" in capsys.readouterr().err
    assert main(["anatomy", "generate", "kidney"]) == 2
    assert "kidney" in capsys.readouterr().err


def test_anatomy_import_from_a_lumen_mesh(tmp_path, capsys):
    import numpy as np
    import pyvista as pv

    tube = pv.Cylinder(direction=(0, 0, 1), radius=6.0, height=120.0, resolution=64, capping=True)
    stl = tmp_path / "aorta.stl"
    tube.triangulate().save(stl)
    out = tmp_path / "p001"
    assert main(["anatomy", "import", "--mesh", str(stl), "--out", str(out), "--no-surfaces"]) == 0
    printed = capsys.readouterr().out
    assert "imported" in printed and "branch" in printed
    from igtwin.anatomies import Anatomy

    anatomy = Anatomy.load(out)
    path = anatomy.vessel_tree.path(anatomy.vessel_tree.root)
    assert np.median(path.radii) == pytest.approx(6.0, rel=0.1)
    assert anatomy.lumen_sdf(np.array([[0.0, 0.0, 0.0]]))[0] < -5.0
    # a broken mesh is refused by name and leaves nothing behind
    broken = tmp_path / "open.stl"  # a tube with open ends
    pv.Tube(pointa=(0, 0, -60), pointb=(0, 0, 60), radius=6.0, n_sides=48).triangulate().save(
        broken
    )
    assert main(["anatomy", "import", "--mesh", str(broken), "--out", str(tmp_path / "bad")]) == 2
    assert "not watertight" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
