"""Command line: ``python -m bench all | run | env`` (plus report/baseline/gate from bench.report_cli).

The parent process never imports a framework: frameworks are probed and cells run in subprocesses.
Every choice is validated before anything is written; a bad one is a one-line ``error: ...`` and
exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.spec import MODEL_NAMES, get_spec

from . import launcher, store
from .errors import BenchError
from .launcher import Interrupted
from .matrix import Filters, PlannedCell, build_matrix, cuda_available, probe_frameworks, split_list
from .profiles import OVERRIDABLE, default_profile_name, estimate_cell_seconds, get_profile, make_settings
from .progress import Progress
from .records import Cell, CellResult, RunSettings
from .vocab import (
    DEVICES,
    FRAMEWORKS,
    MODES,
    PRECISIONS,
    PROFILES,
    VARIANTS,
    check_choice,
    check_device,
    check_framework,
    check_mode,
    check_model,
    check_precision,
    check_variant,
)

FAILED_STATUSES = ("failed", "timeout", "oom")

EXIT_CODES_HELP = """\
exit status:
  0    every runnable cell produced a result (ok, diverged or skipped)
  1    at least one cell failed, timed out or ran out of memory (the run still completed
       every other cell; the failures are listed and stored with their reason and log)
  2    bad input (unknown model/mode/framework/device/precision/variant, bad option value,
       corrupt stored run, settings that differ from the run being resumed); nothing was run
  130  interrupted (Ctrl-C): finished cells are kept; continue with --resume
"""


# --------------------------------------------------------------------------- parser


def _add_settings_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("measurement settings (defaults come from the profile)")
    g.add_argument("--profile", help=f"{' | '.join(PROFILES)}; default: full with CUDA, quick without")
    g.add_argument("--steps", type=int, help="timed, individually synchronised steps per cell")
    g.add_argument("--warmup", type=int, help="warm-up steps after the (separately timed) first step")
    g.add_argument("--window-steps", type=int, help="steps of the throughput window (one sync at its end)")
    g.add_argument("--batch-size", type=int, default=0, help="batch size (default: each model's own)")
    g.add_argument("--time-limit", type=float, dest="time_limit_s", metavar="S",
                   help="wall-clock limit per cell in seconds, process start included")
    g.add_argument("--seed", type=int, help="seed of weights and synthetic data (default 0)")
    g.add_argument("--threads", type=int, dest="intra_op_threads", metavar="N",
                   help="intra-op threads for both frameworks (default: physical cores)")
    g.add_argument("--tf32", action="store_const", const=True, help="allow TF32 matmul/conv (CUDA)")
    g.add_argument("--deterministic", action="store_const", const=True,
                   help="deterministic kernels in both frameworks (slower)")
    g.add_argument("--data", metavar="PATH", help="mnist.npz or IDX images file (default: synthetic data)")
    o = p.add_argument_group("where and how")
    o.add_argument("--out", metavar="DIR", help="run directory (default: reports/runs/<run_id>)")
    o.add_argument("--python", action="append", default=[], metavar="FW=PATH",
                   help="interpreter for a framework's cells, e.g. tensorflow=/envs/tf/bin/python "
                        "(repeatable; default: this interpreter)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark equivalent DCGANs in TensorFlow and PyTorch, one process per cell.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p_all = sub.add_parser(
        "all", help="run every cell this machine can run, then write the reports",
        description="Run the matrix model × framework × mode × device × precision × variant, each cell "
                    "in its own process; cells this machine cannot run are recorded as skipped with a "
                    "reason. Filters take names separated by spaces or commas.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    f = p_all.add_argument_group("matrix filters (default: the profile's matrix)")
    choices = {
        "models": MODEL_NAMES, "frameworks": FRAMEWORKS, "devices": DEVICES, "precisions": PRECISIONS,
        "modes": tuple(f"{fw}: {'/'.join(m)}" for fw, m in MODES.items()),
        "variants": tuple(f"{fw}: {'/'.join(v)}" for fw, v in VARIANTS.items()),
    }
    for name, valid in choices.items():
        f.add_argument(f"--{name}", nargs="+", metavar=name[:-1].upper(), help="; ".join(valid))
    _add_settings_options(p_all)
    p_all.add_argument("--resume", action="store_true",
                       help="continue the latest run under reports/runs (or --out DIR): run only cells "
                            "that are missing or failed/timed out/ran out of memory")
    p_all.add_argument("--no-report", action="store_true", help="do not regenerate the reports afterwards")
    p_all.set_defaults(func=cmd_all)

    p_run = sub.add_parser(
        "run", help="run one cell (writes a run directory like `all`)",
        description="Run a single cell in its own process and store it as a run.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    c = p_run.add_argument_group("the cell")
    c.add_argument("--model", required=True)
    c.add_argument("--framework", required=True)
    c.add_argument("--mode", required=True)
    c.add_argument("--device", default="cpu")
    c.add_argument("--precision", default="fp32")
    c.add_argument("--variant", default="default")
    _add_settings_options(p_run)
    p_run.set_defaults(func=cmd_run)

    p_env = sub.add_parser("env", help="print the environment a run would record",
                           description="Probe the frameworks and print what environment.json would hold.")
    p_env.add_argument("--json", action="store_true", help="print the full JSON instead of a summary")
    p_env.add_argument("--python", action="append", default=[], metavar="FW=PATH",
                       help="interpreter for a framework (as for `all`)")
    p_env.set_defaults(func=cmd_env)

    from . import report_cli

    report_cli.register(sub)
    return parser


# --------------------------------------------------------------------------- validation


def parse_pythons(values: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        fw, sep, path = v.partition("=")
        if not sep or not path:
            raise BenchError(f"--python expects FRAMEWORK=PATH (got {v!r})")
        check_framework(fw)
        found = shutil.which(path) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
        if not found:
            raise BenchError(f"--python {fw}: no such interpreter: {path}")
        out[fw] = str(Path(found).absolute())
    return out


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    over = {k: getattr(args, k, None) for k in OVERRIDABLE}
    if over.get("data") not in (None, "synthetic"):
        path = Path(over["data"]).expanduser()
        if not path.exists():
            raise BenchError(f"--data: no such file: {over['data']}")
        over["data"] = str(path.resolve())  # workers run in their own directory
    return {k: v for k, v in over.items() if v is not None}


def _check_profile(name: str | None) -> None:
    if name is not None:
        check_choice("profile", name, PROFILES)


# --------------------------------------------------------------------------- running


def _unique_run_dir(root: Path, run_id: str) -> Path:
    d, i = root / run_id, 1
    while d.exists():
        d, i = root / f"{run_id}-{i}", i + 1
    return d


def _settings_by_model(profile: str, models: Sequence[str],
                       overrides: dict[str, Any]) -> dict[str, RunSettings]:
    return {m: make_settings(profile, m, overrides) for m in dict.fromkeys(models)}


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def execute_cells(run_dir: Path, cells: list[Cell], settings_by_model: dict[str, RunSettings],
                  pythons: dict[str, str], peak_flops: float | dict[str, float] | None) -> None:
    """Run cells one after another (raises Interrupted on Ctrl-C; each finished cell is on disk)."""
    progress = Progress(len(cells), estimate=lambda c: estimate_cell_seconds(
        c, settings_by_model[c.model], get_spec(c.model).batch_size))
    for i, cell in enumerate(cells):
        rest = cells[i + 1:]
        progress.start(cell, rest)
        result = launcher.run_cell(cell, settings_by_model[cell.model], run_dir,
                                   python=pythons.get(cell.framework),
                                   peak_flops=peak_flops if cell.device == "cuda" else None)
        progress.finish(cell, result, rest)


def _peaks(roof: dict[str, Any]) -> float | dict[str, float] | None:
    # Per precision when the probe measured it: a bf16 cell is held to the bf16 peak, not fp32's.
    return roof.get("peak_flops_by_precision") or roof.get("peak_flops")


def _roofline(run_dir: Path, probes: dict[str, dict[str, Any]], pythons: dict[str, str],
              tf32: bool = False) -> float | dict[str, float] | None:
    """Measure the CUDA device's peak once per run (kept in roofline.json; reused on --resume)."""
    path = run_dir / store.ROOFLINE_FILE
    if path.exists():
        try:
            return _peaks(store._read_json(path, "roofline file"))
        except (BenchError, AttributeError):
            pass
    fw = next((f for f in ("torch", "tensorflow") if cuda_available(probes.get(f, {}))), "torch")
    _say("measuring the CUDA device's peak (roofline) ...")
    roof = launcher.run_roofline("cuda", python=pythons.get(fw), tf32=tf32)
    store.write_roofline(run_dir, roof)
    if roof.get("peak_flops") is None:
        _say(f"warning: no device peak measured ({roof.get('error')}); fraction of peak left empty")
    return _peaks(roof)


def _interrupted(run_dir: Path, done_before: int) -> int:
    n = len(store.read_cell_results(run_dir)) - done_before
    _say(f"\ninterrupted: {max(n, 0)} cell result(s) written this time are kept in {run_dir}\n"
         f"continue with: python -m bench all --resume --out {run_dir}")
    return 130


def new_run(args: argparse.Namespace, filters: Filters, argv: Sequence[str], *, report: bool) -> int:
    """Validate, probe, plan, create the run directory, run the cells, summarise."""
    filters.validate()
    _check_profile(args.profile)
    pythons = parse_pythons(args.python)
    overrides = settings_overrides(args)
    make_settings(args.profile or "quick", None, overrides)  # fail on bad values before probing
    if args.out and store.run_file(Path(args.out)).exists():
        raise BenchError(f"{args.out} already holds a run; use --resume to continue it or another --out")

    fws = filters.frameworks or FRAMEWORKS
    _say(f"probing {', '.join(fws)} ...")
    probes = probe_frameworks(fws, pythons)
    profile_name = args.profile or default_profile_name(any(cuda_available(p) for p in probes.values()))
    planned: list[PlannedCell] = build_matrix(get_profile(profile_name), probes, filters)
    by_model = _settings_by_model(profile_name, [p.cell.model for p in planned], overrides)
    # run.json's "settings" are those of the run's first model (all models' when they agree, as
    # with explicit --steps/--warmup/--window-steps); "settings_by_model" has each model's.
    base = next(iter(by_model.values()))

    from .envinfo import collect_environment

    env = collect_environment(probes)
    env["pythons"] = {fw: probes.get(fw, {}).get("python_executable", sys.executable) for fw in fws}
    run_dir = Path(args.out) if args.out else _unique_run_dir(store.DEFAULT_RUNS_ROOT, store.new_run_id())
    run_id = run_dir.name
    store.create_run(run_dir, base, argv, profile_name, [p.cell for p in planned], run_id=run_id,
                     environment=env, extra_meta={
                         "settings_by_model": {m: s.to_dict() for m, s in by_model.items()},
                         "pythons": pythons,
                         "filters": {k: v for k, v in vars(filters).items() if v},
                     })
    for p in planned:
        if not p.runnable:
            store.write_cell_result(run_dir, launcher.skipped_result(p.cell, by_model[p.cell.model],
                                                                     p.skip_reason or "skipped"))
    runnable = [p.cell for p in planned if p.runnable]
    n_skip = len(planned) - len(runnable)
    _say(f"run {run_id}: profile {profile_name}, {len(runnable)} cell(s) to run, {n_skip} skipped; "
         f"results in {run_dir}")
    try:
        tf32 = any(st.tf32 for st in by_model.values())
        peak = (_roofline(run_dir, probes, pythons, tf32) if any(c.device == "cuda" for c in runnable)
                else None)
        execute_cells(run_dir, runnable, by_model, pythons, peak)
    except (Interrupted, KeyboardInterrupt):
        return _interrupted(run_dir, n_skip)
    return finish_run(run_dir, report=report)


def resume_run(args: argparse.Namespace, filters: Filters, *, report: bool) -> int:
    filters.validate()
    _check_profile(args.profile)
    run_dir = Path(args.out) if args.out else store.latest_run(store.DEFAULT_RUNS_ROOT)
    if run_dir is None:
        raise BenchError(f"no run to resume under {store.DEFAULT_RUNS_ROOT} "
                         "(start one with `python -m bench all`)")
    meta = store.read_run_meta(run_dir)
    _check_same_settings(args, meta, run_dir)
    _check_same_machine(run_dir)
    todo = [c for c in store.cells_to_rerun(run_dir) if filters.matches(c)]
    if not todo:
        n = len(meta["cells_planned"])
        _say(f"nothing to resume: all {n} planned cell(s) of {run_dir} have results "
             f"(none missing, failed, timed out or out of memory)")
        return 0
    pythons = {**(meta.get("pythons") or {}), **parse_pythons(args.python)}
    by_model = {m: RunSettings.from_dict(d) for m, d in (meta.get("settings_by_model") or {}).items()}
    base = RunSettings.from_dict(meta["settings"])
    for c in todo:
        by_model.setdefault(c.model, base)
    done_before = len(store.read_cell_results(run_dir))
    store.update_run_meta(run_dir, resumed_at=[*meta.get("resumed_at", []), store.utc_now_iso()])
    _say(f"resuming {run_dir}: {len(todo)} cell(s) to run")
    try:
        peak = None
        if any(c.device == "cuda" for c in todo):
            peak = _roofline(run_dir, {}, pythons, base.tf32)
        execute_cells(run_dir, todo, by_model, pythons, peak)
    except (Interrupted, KeyboardInterrupt):
        return _interrupted(run_dir, done_before)
    return finish_run(run_dir, report=report)


def _check_same_settings(args: argparse.Namespace, meta: dict[str, Any], run_dir: Path) -> None:
    """Resume only with the stored run's settings: asked-for values must equal the stored ones."""
    if args.profile is not None and args.profile != meta.get("profile"):
        raise BenchError(f"settings differ from the run in {run_dir}: profile {args.profile!r} "
                         f"(stored: {meta.get('profile')!r}); resume without it or start a new run")
    stored = list((meta.get("settings_by_model") or {}).values()) or [meta["settings"]]
    given = settings_overrides(args)
    if given.get("intra_op_threads") == 0:
        from .envinfo import physical_cores

        given["intra_op_threads"] = physical_cores()
    for key, value in given.items():
        for s in stored:
            if key in s and s[key] != value:
                raise BenchError(f"settings differ from the run in {run_dir}: {key} {value!r} "
                                 f"(stored: {s[key]!r}); resume without it or start a new run")
    if args.batch_size:
        raise BenchError("--batch-size cannot change on --resume (it is part of each stored cell)")


def _check_same_machine(run_dir: Path) -> None:
    env_path = run_dir / store.ENV_FILE
    if not env_path.exists():
        return
    stored = (store._read_json(env_path, "environment file").get("fingerprint") or {})
    from .envinfo import collect_environment

    now = collect_environment({}).get("fingerprint") or {}
    if stored.get("hash") and stored.get("hash") != now.get("hash"):
        raise BenchError(f"{run_dir} was recorded on another machine (fingerprint {stored.get('hash')} "
                         f"vs {now.get('hash')}); start a new run here instead")


# --------------------------------------------------------------------------- summary


def summary_table(cells: Any) -> str:
    """cell, status, median step, images/s, time to first step (and the reason when not ok)."""
    import pandas as pd

    if cells.empty:
        return "(no cells)"

    def ms(v: Any) -> str:
        return "" if pd.isna(v) else f"{v * 1000:.1f} ms"

    table = pd.DataFrame({
        "cell": cells["cell_id"],
        "status": cells["status"],
        "median step": cells["step_time_median_s"].map(ms),
        "images/s": cells["throughput_img_s"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
        "first step": cells["time_to_first_step_s"].map(lambda v: "" if pd.isna(v) else f"{v:.2f} s"),
        "reason": cells["reason"].fillna("").map(lambda r: r if len(r) <= 60 else r[:57] + "..."),
    })
    return table.to_string(index=False)


def finish_run(run_dir: Path, *, report: bool) -> int:
    data = store.load_run(run_dir)
    cells = data.cells
    print(f"results: {run_dir}")
    print(summary_table(cells))
    counts = cells["status"].value_counts().to_dict() if not cells.empty else {}
    print("status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    failed = cells[cells["status"].isin(FAILED_STATUSES)] if not cells.empty else cells
    for _, row in failed.iterrows():
        print(f"{row['status']}: {row['cell_id']}: {row['reason']} "
              f"(log: {store.log_path(run_dir, row['cell_id'])})")
    if report:
        try:
            from . import report_cli

            written = report_cli.report_after_run(run_dir)
            if written:
                print("reports: " + ", ".join(str(p) for p in written))
        except Exception as e:  # the results are on disk; a report bug must not hide them
            first = str(e).splitlines()[0] if str(e) else ""
            _say(f"warning: report generation failed ({type(e).__name__}: {first}); "
                 f"results are in {run_dir}; retry with `python -m bench report`")
    return 1 if len(failed) else 0


# --------------------------------------------------------------------------- commands


def cmd_all(args: argparse.Namespace) -> int:
    filters = Filters(
        models=split_list(args.models), frameworks=split_list(args.frameworks), modes=split_list(args.modes),
        devices=split_list(args.devices), precisions=split_list(args.precisions),
        variants=split_list(args.variants), batch_size=args.batch_size or 0)
    if args.resume:
        return resume_run(args, filters, report=not args.no_report)
    return new_run(args, filters, args.argv, report=not args.no_report)


def cmd_run(args: argparse.Namespace) -> int:
    check_model(args.model)
    check_mode(args.framework, args.mode)  # checks the framework too
    check_device(args.device)
    check_precision(args.precision)
    check_variant(args.framework, args.variant)
    filters = Filters(models=(args.model,), frameworks=(args.framework,), modes=(args.mode,),
                      devices=(args.device,), precisions=(args.precision,), variants=(args.variant,),
                      batch_size=args.batch_size or 0)
    return new_run(args, filters, args.argv, report=False)


def cmd_env(args: argparse.Namespace) -> int:
    import json

    from .envinfo import collect_environment, format_environment

    pythons = parse_pythons(args.python)
    env = collect_environment(probe_frameworks(FRAMEWORKS, pythons))
    print(json.dumps(env, indent=2, default=str) if args.json else format_environment(env))
    return 0


def _terminate_like_ctrl_c() -> None:
    """SIGTERM (a CI job cancelled, `kill`) takes the Ctrl-C path: the running cell's process group
    is killed instead of being orphaned, and finished cells stay on disk."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status. With argv None (a real command), SIGTERM is
    handled like Ctrl-C; callers passing argv (tests, scripts) keep their own signal handling."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    args.argv = argv
    if from_command_line:
        _terminate_like_ctrl_c()
    try:
        return int(args.func(args) or 0)
    except BenchError as e:
        _say(f"error: {e}")
        return e.exit_code
    except KeyboardInterrupt:
        _say("\ninterrupted")
        return 130


# CellResult is re-exported for callers that script the CLI.
__all__ = ["CellResult", "build_parser", "main"]
