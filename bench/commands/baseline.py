"""``python -m bench baseline save``: store a run as the regression gate's baseline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..inputs import check_output_dir
from ._options import REPORTS_ROOT, latest_run

NAME = "baseline"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    b = subparsers.add_parser(NAME, help="store a run as the regression gate's baseline")
    bsub = b.add_subparsers(dest="baseline_command", metavar="COMMAND")
    bs = bsub.add_parser("save", help="save a run as reports/baselines/<name>.json (commit that file)")
    bs.add_argument("--run", metavar="DIR", help="run directory (default: the latest under reports/runs)")
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
    from ..baseline import save_baseline

    check_output_dir(args.dir, "--dir")
    run_dir = Path(args.run) if args.run else latest_run()
    path = save_baseline(run_dir, args.name, args.dir)
    print(f"baseline saved: {path} (from run {run_dir})")
    return 0
