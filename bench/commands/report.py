"""``python -m bench report``: regenerate the Markdown reports and figures from stored runs alone."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands._options import REPORTS_ROOT
from bench.inputs import check_not_inside_inputs, check_output_dir
from bench.results.paths import DEFAULT_RUNS_ROOT

NAME = "report"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME,
        help="regenerate Markdown reports and figures from stored runs",
        description="Regenerate reports/ from stored results alone (nothing is re-run). The shards of one "
                    "`bench all --shard K/M` matrix given to --runs are merged into one run.",
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
    p.add_argument("--allow-partial", action="store_true",
                   help="merge the shards given (bench all --shard K/M) even when some of their plan's "
                        "shards are missing (named in a warning); without it a missing shard is refused")
    # Accepted for older scripts: a report never writes into the runs it reads (the pytest-benchmark
    # export is written by `all`/`run` and by `export-pytest-benchmark`).
    p.add_argument("--no-export", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from bench.report.build import resolve_runs, write_report
    from bench.report.shards import merge_shards
    from bench.results.load import load_run, run_set

    check_output_dir(args.out, "--out")
    runs = resolve_runs(args.runs, DEFAULT_RUNS_ROOT)
    check_not_inside_inputs(args.out, "--out", runs)
    # Shards of one plan (bench all --shard K/M) become one run; other runs stay side by side.
    loaded = merge_shards([load_run(r) for r in runs], allow_partial=args.allow_partial, warn=_warn)
    written = write_report(runs, args.out, loaded=run_set(loaded))
    print(f"wrote {len(written)} file(s); front page: {Path(args.out) / 'README.md'}")
    return 0
