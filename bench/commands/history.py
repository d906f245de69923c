"""``python -m bench history``: per-cell step-time trends across one machine's stored runs, marking the
runs where the gate saw a change (bench.gate.trend)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands._options import REPORTS_ROOT
from bench.inputs import at_least, check_not_inside_inputs, check_output_dir
from bench.results.find import list_runs
from bench.results.paths import DEFAULT_RUNS_ROOT

NAME = "history"
DEFAULT_WINDOW = 5  # bench.gate.trend.DEFAULT_WINDOW (not imported here: the parser stays light)


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    h = subparsers.add_parser(
        NAME,
        help="per-cell step-time trends across a machine's stored runs, marking gate regressions",
        description="Chart every cell's step time across the stored runs of one machine (oldest first), "
        "and gate each run against the up to K comparable runs before it: ▲ marks a cell the gate "
        "failed, ▼ one faster than its history by more than the step-time threshold. Writes "
        "history.md and one PNG per cell under --output; the runs are only read. "
        "Exit 0, or 2 on bad input (no runs, unusable --output).",
    )
    h.add_argument("--runs-dir", default=str(DEFAULT_RUNS_ROOT), metavar="DIR",
                   help="where the runs are (default: reports/runs)")
    h.add_argument("--machine", metavar="FINGERPRINT",
                   help="the machine fingerprint whose runs to chart (default: the newest run's machine)")
    h.add_argument("--window", type=at_least(1), default=DEFAULT_WINDOW, metavar="K",
                   help=f"preceding runs that form each run's gate history (>= 1; default {DEFAULT_WINDOW})")
    h.add_argument("--output", default=str(REPORTS_ROOT / "history"), metavar="DIR",
                   help="output directory (default: reports/history)")
    h.set_defaults(func=run)
    return h


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _refuse_inside_a_run(out: Path, runs_dir: Path) -> None:
    """A history never writes into a run: refuse an --output that is, or lies in, a run directory."""
    check_not_inside_inputs(out, "--output", list_runs(runs_dir))


def run(args: argparse.Namespace) -> int:
    from bench.gate import load_config
    from bench.gate.trend import HISTORY_FILE, build_trend, machine_runs, write_trend

    out = check_output_dir(args.output, "--output")  # before any run is read: a typo costs nothing
    _refuse_inside_a_run(out, Path(args.runs_dir))
    cfg = load_config()
    _, runs = machine_runs(Path(args.runs_dir), args.machine, warn=_warn)
    trend = build_trend(runs, window=args.window, cfg=cfg)
    written = write_trend(trend, Path(args.output))
    print(f"{len(trend.runs)} run(s) of machine {trend.fingerprint}; wrote {len(written)} file(s)")
    print(Path(args.output) / HISTORY_FILE)
    return 0
