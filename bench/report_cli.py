"""CLI commands for reports, baselines and the regression gate.

    python -m bench report [--runs DIR [DIR ...]] [--out DIR]
    python -m bench baseline save [--run DIR] [--name NAME] [--dir DIR]
    python -m bench gate [--baseline FILE|RUN_DIR] [--run DIR] [--output FILE] [thresholds] [--force]
    python -m bench export-pytest-benchmark [--run DIR] [--out FILE]

bench/cli.py calls ``register(subparsers)``; ``report_after_run(run_dir)`` is called at the end of
``bench all``. Every handler returns an exit code: 0 ok, 1 gate regression, 2 usage or data error
(a BenchError, printed as one ``error: ...`` line).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import BenchError

DEFAULT_REPORTS = Path("reports")


def _runs_root(out: Path = DEFAULT_REPORTS) -> Path:
    return out / "runs"


def _handler(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(fn)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except BenchError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    return wrapped


def _fraction(text: str) -> float:
    from .gate import parse_fraction

    try:
        return parse_fraction(text)
    except BenchError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _latest_run() -> Path:
    from .store import latest_run

    run = latest_run(_runs_root())
    if run is None:
        raise BenchError(
            f"no stored runs under {_runs_root()}; run `python -m bench all` first or pass --run DIR"
        )
    return run


# --------------------------------------------------------------------------- handlers


@_handler
def cmd_report(args: argparse.Namespace) -> int:
    from .pytest_benchmark_export import write_export
    from .report import resolve_runs, write_report

    runs = resolve_runs(args.runs, _runs_root())
    written = write_report(runs, args.out)
    if not args.no_export:
        written += [write_export(r) for r in runs]
    print(f"wrote {len(written)} file(s); front page: {Path(args.out) / 'README.md'}")
    return 0


@_handler
def cmd_baseline_save(args: argparse.Namespace) -> int:
    from .baseline import save_baseline

    run = Path(args.run) if args.run else _latest_run()
    path = save_baseline(run, args.name, args.dir)
    print(f"baseline saved: {path} (from run {run})")
    return 0


def _baseline_dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if getattr(args, "baseline_command", None) == "save":
        return cmd_baseline_save(args)
    parser.print_help(sys.stderr)
    return 2


@_handler
def cmd_gate(args: argparse.Namespace) -> int:
    from .gate import default_baseline_for, render, run_gate, summary_line
    from .store import atomic_write_text

    run = Path(args.run) if args.run else _latest_run()
    baseline = Path(args.baseline) if args.baseline else default_baseline_for(run, Path(args.baselines_dir))
    overrides = {
        "step_time": args.step_time,
        "throughput": args.throughput,
        "memory": args.memory,
        "compile_time": args.compile_time,
        "compile_time_floor_s": args.compile_time_floor,
        "alpha": args.alpha,
        "missing": args.missing,
    }
    result = run_gate(baseline, run, overrides=overrides, force=args.force)
    text = render(result)
    if args.output:
        atomic_write_text(Path(args.output), text)
    print(text)
    print(summary_line(result) + (f" (written to {args.output})" if args.output else ""))
    return result.exit_code


@_handler
def cmd_export(args: argparse.Namespace) -> int:
    from .pytest_benchmark_export import write_export

    run = Path(args.run) if args.run else _latest_run()
    path = write_export(run, args.out)
    print(f"wrote {path} (read it with `pytest-benchmark compare {path}`)")
    return 0


# --------------------------------------------------------------------------- wiring


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the report/baseline/gate/export subcommands; each sets ``func(args) -> int`` (exit code)."""
    p = subparsers.add_parser(
        "report",
        help="regenerate Markdown reports and figures from stored runs",
        description="Regenerate reports/ from stored results alone (nothing is re-run).",
    )
    p.add_argument(
        "--runs",
        nargs="+",
        metavar="DIR",
        help="run directories to report on, side by side (default: the latest under reports/runs)",
    )
    p.add_argument(
        "--out", default=str(DEFAULT_REPORTS), metavar="DIR", help="output directory (default: reports)"
    )
    p.add_argument("--no-export", action="store_true", help="do not (re)write <run>/pytest-benchmark.json")
    p.set_defaults(func=cmd_report)

    b = subparsers.add_parser("baseline", help="store a run as the regression gate's baseline")
    bsub = b.add_subparsers(dest="baseline_command", metavar="COMMAND")
    bs = bsub.add_parser("save", help="save a run as reports/baselines/<name>.json (commit that file)")
    bs.add_argument("--run", metavar="DIR", help="run directory (default: the latest under reports/runs)")
    bs.add_argument("--name", help="baseline name (default: the machine fingerprint of the run)")
    bs.add_argument(
        "--dir",
        default=str(DEFAULT_REPORTS / "baselines"),
        metavar="DIR",
        help="where baselines live (default: reports/baselines)",
    )
    b.set_defaults(func=functools.partial(_baseline_dispatch, b))

    g = subparsers.add_parser(
        "gate",
        help="compare a run with a baseline; exit 1 on a regression",
        description="Per cell: step time (threshold AND beyond noise: one-sided Mann-Whitney U p < alpha AND "
        "non-overlapping bootstrap 95% CIs of the medians), throughput (threshold AND beyond the noise of "
        "a window mean, from the per-step spread), peak memory and time to first step (thresholds alone). "
        "Defaults from [tool.framebench.gate] in pyproject.toml. "
        "Exit 0 pass, 1 regression, 2 usage or data error.",
    )
    g.add_argument(
        "--baseline",
        metavar="FILE",
        help="baseline JSON (or a run directory); default: reports/baselines/<machine fingerprint>.json",
    )
    g.add_argument("--baselines-dir", default=str(DEFAULT_REPORTS / "baselines"), help=argparse.SUPPRESS)
    g.add_argument("--run", metavar="DIR", help="run directory (default: the latest under reports/runs)")
    g.add_argument(
        "--output",
        default=str(DEFAULT_REPORTS / "gate.md"),
        metavar="FILE",
        help="also write the Markdown verdict here (default: reports/gate.md)",
    )
    g.add_argument(
        "--step-time", type=_fraction, metavar="FRAC", help="step-time threshold, e.g. 0.1 or 10%%"
    )
    g.add_argument("--throughput", type=_fraction, metavar="FRAC", help="throughput threshold")
    g.add_argument("--memory", type=_fraction, metavar="FRAC", help="peak memory threshold")
    g.add_argument("--compile-time", type=_fraction, metavar="FRAC", help="time-to-first-step threshold")
    g.add_argument(
        "--compile-time-floor",
        type=float,
        metavar="SECONDS",
        help="time to first step must also grow by more than this (default 0.5)",
    )
    g.add_argument("--alpha", type=float, help="significance level of the noise tests (default 0.01)")
    g.add_argument(
        "--missing",
        choices=("warn", "fail"),
        help="what a baseline cell missing from the run (or now skipped) does (default warn)",
    )
    g.add_argument("--force", action="store_true", help="compare even when the machine fingerprints differ")
    g.set_defaults(func=cmd_gate)

    e = subparsers.add_parser(
        "export-pytest-benchmark", help="write a run's results in pytest-benchmark's JSON format"
    )
    e.add_argument("--run", metavar="DIR", help="run directory (default: the latest under reports/runs)")
    e.add_argument("--out", metavar="FILE", help="output file (default: <run>/pytest-benchmark.json)")
    e.set_defaults(func=cmd_export)


def report_after_run(run_dir: Path) -> list[Path]:
    """Regenerate the reports after a run, into the reports/ directory holding runs/; returns the files."""
    from .pytest_benchmark_export import write_export
    from .report import write_report

    run_dir = Path(run_dir)
    out = run_dir.parent.parent if run_dir.parent.name == "runs" else DEFAULT_REPORTS
    written = write_report([run_dir], out)
    written.append(write_export(run_dir))
    return written
