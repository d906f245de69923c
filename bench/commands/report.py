"""``python -m bench report``: regenerate the Markdown reports and figures from stored runs alone."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands._options import REPORTS_ROOT
from bench.inputs import check_not_inside_inputs, check_output_dir
from bench.results.paths import DEFAULT_RUNS_ROOT

NAME = "report"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
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
        "--out", default=str(REPORTS_ROOT), metavar="DIR", help="output directory (default: reports)"
    )
    # Accepted for older scripts: a report never writes into the runs it reads (the pytest-benchmark
    # export is written by `all`/`run` and by `export-pytest-benchmark`).
    p.add_argument("--no-export", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from bench.report.build import resolve_runs, write_report

    check_output_dir(args.out, "--out")
    runs = resolve_runs(args.runs, DEFAULT_RUNS_ROOT)
    check_not_inside_inputs(args.out, "--out", runs)
    written = write_report(runs, args.out)
    print(f"wrote {len(written)} file(s); front page: {Path(args.out) / 'README.md'}")
    return 0
