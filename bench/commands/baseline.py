"""``python -m bench baseline save``: store a run as the regression gate's baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands._options import REPORTS_ROOT, latest_run
from bench.inputs import at_least, check_not_inside_inputs, check_output_dir

NAME = "baseline"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    b = subparsers.add_parser(NAME, help="store runs as the regression gate's baseline (a history of runs)")
    bsub = b.add_subparsers(dest="baseline_command", metavar="COMMAND")
    bs = bsub.add_parser(
        "save", help="save runs as reports/baselines/<name>.json (commit that file)",
        description="A baseline is a history: each run's per-cell summaries with its process-level and "
        "per-step samples, so that the gate weighs a change against the spread between runs. All runs "
        "must come from one machine and one set of measurement settings (--force keeps them anyway).")
    bs.add_argument("--run", metavar="DIR", action="append", default=[],
                    help="a run directory (repeatable; default: the latest under reports/runs)")
    bs.add_argument("--append", action="store_true",
                    help="add the runs to the existing baseline of that name instead of replacing it")
    bs.add_argument("--max-runs", type=at_least(1), metavar="N",
                    help="keep the newest N runs (default 20)")
    bs.add_argument("--force", action="store_true",
                    help="keep runs of different machines or settings in one history (not advised)")
    bs.add_argument("--name", help="baseline name (default: the machine fingerprint of the run)")
    bs.add_argument(
        "--dir",
        default=str(REPORTS_ROOT / "baselines"),
        metavar="DIR",
        help="where baselines live (default: reports/baselines)",
    )
    b.set_defaults(func=run, print_baseline_help=b.print_help)
    return b


def run(args: argparse.Namespace) -> int:
    if getattr(args, "baseline_command", None) == "save":
        return save(args)
    args.print_baseline_help(sys.stderr)
    return 2


def save(args: argparse.Namespace) -> int:
    from bench.gate.baseline import MAX_RUNS, load_baseline, save_baseline

    check_output_dir(args.dir, "--dir")
    run_dirs = [Path(r) for r in args.run] or [latest_run()]
    check_not_inside_inputs(args.dir, "--dir", run_dirs)
    warnings: list[str] = []
    replaced: list[str] = []
    path = save_baseline(run_dirs, args.name, args.dir, append=args.append,
                         max_runs=args.max_runs or MAX_RUNS, force=args.force, warnings=warnings,
                         replaced=replaced)
    for w in warnings:
        print(f"warning: kept despite {w} (--force)", file=sys.stderr)
    n = len(load_baseline(path)["runs"])
    again = f"; already there, so replaced, not added: {', '.join(replaced)}" if replaced else ""
    print(f"baseline saved: {path} ({n} run(s) of history; from {', '.join(str(d) for d in run_dirs)}"
          f"{again})")
    return 0
