"""The ``igtwin`` command line.

Commands::

    igtwin anatomy list | generate KIND [--type II] [--seed 7] --out DIR | import --ct/--labels/--mesh --out DIR
    igtwin devices list
    igtwin scenarios list
    igtwin render --anatomy arch-II --lao 30 [--cran 0] --out frame.png [--gif rotation.gif]
    igtwin run SCENARIO --agent expert|random|policy.zip --episodes N --report DIR
    igtwin train SCENARIO --algo sac --steps N --out policy.zip
    igtwin demo --out out/demo

Errors in the input (unknown names, bad files, bad values) print one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]


def _console():
    import shutil

    from rich.console import Console

    return Console(width=max(shutil.get_terminal_size((140, 40)).columns, 140))


# ---------------------------------------------------------------------------- anatomy
def _cmd_anatomy_list(args) -> int:
    from rich.table import Table

    from igtwin.anatomies import list_builtin

    table = Table(title="Built-in anatomies (built on first use, then cached)")
    table.add_column("name")
    table.add_column("description")
    for item in list_builtin():
        table.add_row(item.name, item.description)
    _console().print(table)
    return 0


def _print_summary(anatomy) -> None:
    """A table of structures (label, material, volume) and branches (length, radius)."""
    from rich.table import Table

    from igtwin.anatomies import anatomy_summary

    rows = anatomy_summary(anatomy)
    if rows:
        table = Table(title=f"{anatomy.name}")
        for key in rows[0]:
            table.add_column(str(key))
        for row in rows:
            table.add_row(*[f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values()])
        _console().print(table)


def _write_anatomy_outputs(anatomy, out: Path) -> None:
    from igtwin.anatomies import plot_anatomy

    _print_summary(anatomy)
    try:
        plot_anatomy(anatomy, path=out / "summary.png")
        _console().print(f"picture: {out / 'summary.png'}")
    except Exception as e:  # noqa: BLE001 - a missing GL context must not lose the saved anatomy
        _console().print(f"[yellow]no 3D picture ({type(e).__name__}: {e})[/yellow]")


def _cmd_anatomy_generate(args) -> int:
    from igtwin.anatomies import generate

    params = {}
    if args.type:
        params["arch_type"] = args.type
    if args.lesions is not None:
        params["lesions"] = args.lesions
    if args.nodule is not None:
        params["nodule_mm"] = float(str(args.nodule).removesuffix("mm"))
    anatomy = generate(args.kind, seed=args.seed, **params)
    out = Path(args.out or f"anatomies-out/{anatomy.name}")
    anatomy.save(out, overwrite=args.overwrite)
    _console().print(f"saved [bold]{anatomy.name}[/bold] to {out}")
    _write_anatomy_outputs(anatomy, out)
    return 0


def _cmd_anatomy_import(args) -> int:
    from igtwin.anatomies import import_anatomy

    anatomy = import_anatomy(
        ct=args.ct,
        labels=args.labels,
        mesh=args.mesh,
        label_names=args.label_names,
        name=args.name,
        out=args.out,
        overwrite=args.overwrite,
        surfaces=not args.no_surfaces,
        tets=[t for t in (args.tets or "").split(",") if t] or None,
    )
    _console().print(f"imported [bold]{anatomy.name}[/bold] to {args.out}")
    _print_summary(anatomy)
    if (Path(args.out) / "summary.png").is_file():
        _console().print(f"picture: {Path(args.out) / 'summary.png'}")
    return 0


# ---------------------------------------------------------------------------- lists
def _cmd_devices_list(args) -> int:
    from rich.table import Table

    from igtwin.sim import get_device, list_devices

    table = Table(title="Device catalogue")
    for col in ("name", "kind", "outer Ø (mm)", "length (mm)", "max speed (mm/s)", "description"):
        table.add_column(col)
    for name in list_devices():
        d = get_device(name)
        table.add_row(
            d.name,
            d.kind,
            f"{d.outer_diameter:.3f}",
            f"{d.length:.0f}",
            f"{d.max_translation_speed:.0f}",
            d.description,
        )
    _console().print(table)
    return 0


def _cmd_scenarios_list(args) -> int:
    from rich.table import Table

    from igtwin.scenarios import builtin_scenarios

    table = Table(title="Built-in scenarios")
    for col in ("name", "gymnasium id", "anatomy", "devices", "target", "description"):
        table.add_column(col)
    for sc in builtin_scenarios().values():
        anat = sc.anatomy.builtin or sc.anatomy.path or f"{sc.anatomy.procedural} (random)"
        target = sc.target.branch or sc.target.point
        devs = " + ".join(d.name for d in sc.devices)
        table.add_row(sc.name, sc.env_id or "", anat, devs, str(target), sc.description)
    _console().print(table)
    return 0


# ---------------------------------------------------------------------------- render
def _cmd_render(args) -> int:
    import numpy as np
    from PIL import Image

    from igtwin.anatomies import Anatomy, load_builtin
    from igtwin.sim import CArm, Imager, XRayProtocol

    anatomy = (
        Anatomy.load(args.anatomy) if Path(args.anatomy).is_dir() else load_builtin(args.anatomy)
    )
    imager = Imager(anatomy, output_shape=(args.size, args.size))
    pts = np.concatenate([b.points for b in anatomy.vessel_tree]) if anatomy.vessel_tree else None
    iso = 0.5 * (pts.min(0) + pts.max(0)) if pts is not None else None
    protocol = XRayProtocol.preset(args.protocol)
    rng = np.random.default_rng(args.seed)

    def frame_at(lao: float, cran: float):
        carm = CArm.from_degrees(lao=lao, cran=cran, sid=args.sid, isocenter=iso)
        return imager.render(carm, protocol, rng=rng).uint8

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame_at(args.lao, args.cran)).save(out)
    _console().print(f"frame: {out}")
    if args.gif:
        import imageio.v3 as iio

        angles = np.linspace(-90, 90, args.gif_frames)
        frames = [frame_at(a, args.cran) for a in angles]
        iio.imwrite(args.gif, frames, duration=80, loop=0)
        _console().print(f"rotation: {args.gif}")
    return 0


# ---------------------------------------------------------------------------- run / train / demo
def _print_results(results, scenario: str, agent: str) -> None:
    import numpy as np
    from rich.table import Table

    table = Table(title=f"{scenario} · {agent} · {len(results)} episode(s)")
    names = list(results[0].metrics)
    table.add_column("metric")
    table.add_column("unit")
    table.add_column("mean")
    table.add_column("sd")
    for name in names:
        vals = np.array([float(r.metrics[name].value) for r in results], dtype=float)
        unit = results[0].metrics[name].unit
        table.add_row(name, unit, f"{np.nanmean(vals):.3g}", f"{np.nanstd(vals):.2g}")
    _console().print(table)


def _cmd_run(args) -> int:
    from ._runner import run_episodes

    results = run_episodes(
        args.scenario,
        args.agent,
        episodes=args.episodes,
        seed=args.seed,
        report_dir=args.report,
        obs_mode=args.obs_mode,
        held_out=args.held_out,
        compare_expert=not args.no_expert,
    )
    _print_results(results, args.scenario, args.agent)
    if args.report:
        _console().print(f"reports: {args.report}")
    return 0


def _cmd_train(args) -> int:
    from ._train import train

    path = train(
        args.scenario,
        algo=args.algo,
        steps=args.steps,
        out=args.out,
        seed=args.seed,
        n_envs=args.n_envs,
    )
    _console().print(f"policy: {path}")
    return 0


def _cmd_demo(args) -> int:
    from ._demo import run_demo

    report = run_demo(Path(args.out), episodes=args.episodes)
    _console().print(f"[bold green]demo report:[/bold green] {report}")
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="igtwin", description="IGTwin: image-guided intervention twin")
    sub = p.add_subparsers(dest="command", required=True)

    anat = sub.add_parser("anatomy", help="patient anatomies").add_subparsers(
        dest="sub", required=True
    )
    a_list = anat.add_parser("list", help="list the built-in anatomies")
    a_list.set_defaults(fn=_cmd_anatomy_list)
    a_gen = anat.add_parser("generate", help="generate a procedural anatomy")
    a_gen.add_argument("kind", help="aortic-arch | liver | lung")
    a_gen.add_argument("--type", help="arch type: I, II, III, bovine")
    a_gen.add_argument("--seed", type=int, default=0)
    a_gen.add_argument("--lesions", type=int)
    a_gen.add_argument("--nodule", help="nodule diameter, e.g. 15mm")
    a_gen.add_argument("--out")
    a_gen.add_argument("--overwrite", action="store_true")
    a_gen.set_defaults(fn=_cmd_anatomy_generate)
    a_imp = anat.add_parser("import", help="import a CT + labels, or a lumen mesh")
    a_imp.add_argument("--ct")
    a_imp.add_argument("--labels")
    a_imp.add_argument("--label-names", help="JSON of label value -> name (TotalSegmentator names)")
    a_imp.add_argument("--mesh")
    a_imp.add_argument("--name")
    a_imp.add_argument("--out", required=True)
    a_imp.add_argument("--overwrite", action="store_true")
    a_imp.add_argument("--no-surfaces", action="store_true", help="skip meshes/<structure>.vtp")
    a_imp.add_argument("--tets", help="comma-separated structures to tetrahedralise (pytetwild)")
    a_imp.set_defaults(fn=_cmd_anatomy_import)

    dev = sub.add_parser("devices", help="device catalogue").add_subparsers(
        dest="sub", required=True
    )
    dev.add_parser("list").set_defaults(fn=_cmd_devices_list)

    scn = sub.add_parser("scenarios", help="built-in scenarios").add_subparsers(
        dest="sub", required=True
    )
    scn.add_parser("list").set_defaults(fn=_cmd_scenarios_list)

    r = sub.add_parser("render", help="render a fluoroscopy frame of an anatomy")
    r.add_argument("--anatomy", default="arch-II", help="built-in name or anatomy folder")
    r.add_argument("--lao", type=float, default=0.0, help="primary angle, degrees (LAO +, RAO -)")
    r.add_argument("--cran", type=float, default=0.0, help="secondary angle, degrees (CRAN +)")
    r.add_argument("--sid", type=float, default=1000.0, help="source-image distance, mm")
    r.add_argument("--size", type=int, default=512, help="image size, px")
    r.add_argument("--protocol", default="fluoro-normal")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="frame.png")
    r.add_argument("--gif", help="also write a GIF of the C-arm rotating RAO 90 -> LAO 90")
    r.add_argument("--gif-frames", type=int, default=24)
    r.set_defaults(fn=_cmd_render)

    run = sub.add_parser("run", help="run episodes of a scenario and write reports")
    run.add_argument("scenario", help="built-in name, gymnasium id, or a .toml file")
    run.add_argument("--agent", default="expert", help="expert | random | policy.zip")
    run.add_argument("--episodes", type=int, default=1)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--report", help="folder for the reports")
    run.add_argument("--obs-mode", default="state", choices=["state", "image", "dict"])
    run.add_argument("--held-out", action="store_true", help="evaluate on held-out anatomies")
    run.add_argument("--no-expert", action="store_true", help="skip the expert comparison run")
    run.set_defaults(fn=_cmd_run)

    tr = sub.add_parser("train", help="train an RL baseline (stable-baselines3)")
    tr.add_argument("scenario")
    tr.add_argument("--algo", default="sac", choices=["sac", "ppo", "td3"])
    tr.add_argument("--steps", type=int, default=20_000)
    tr.add_argument("--n-envs", type=int, default=1)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", default="policy.zip")
    tr.set_defaults(fn=_cmd_train)

    demo = sub.add_parser("demo", help="the default case end to end, with a report")
    demo.add_argument("--out", default="out/demo")
    demo.add_argument("--episodes", type=int, default=1)
    demo.set_defaults(fn=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``igtwin`` command; returns the exit code."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    os.environ.setdefault("MPLBACKEND", "Agg")
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"igtwin: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
