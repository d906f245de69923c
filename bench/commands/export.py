"""``python -m bench export``: a run's tidy tables (cells, cell summaries, steps) as CSV or Parquet, with
their dtypes."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands._options import latest_run

NAME = "export"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from bench.report.export import FORMATS

    e = subparsers.add_parser(
        NAME, help="write a run's tidy tables (cells, cell summaries, steps) as CSV or Parquet",
        description="Write the cells table (one row per process: a cell runs in --repeats processes), the "
                    "cell_summaries table (one row per cell, its processes combined as the reports do) "
                    "and the steps table (one row per step, with the cell's axes) of a stored run, with "
                    "proper dtypes: UTC datetimes, nullable integers. "
                    "A CSV export also writes dtypes.json (bench.report.export.read_table reads both back). "
                    "Parquet needs pyarrow (pip install pyarrow).")
    e.add_argument("--run", metavar="DIR", help="run directory (default: the latest under reports/runs)")
    e.add_argument("--format", default="csv", choices=FORMATS, help="csv (default) or parquet")
    e.add_argument("--out", required=True, metavar="DIR_OR_PREFIX",
                   help="a directory (DIR/cells.csv, DIR/cell_summaries.csv, DIR/steps.csv) or a file "
                        "prefix (exports/run1 → exports/run1-cells.csv, exports/run1-steps.csv...)")
    e.set_defaults(func=run)
    return e


def run(args: argparse.Namespace) -> int:
    from bench.inputs import check_not_inside_inputs, check_output_file
    from bench.report.export import export_run, output_paths, require_pyarrow

    if args.format == "parquet":
        require_pyarrow()  # before reading anything
    run_dir = Path(args.run) if args.run else latest_run()
    paths = output_paths(args.out, args.format)
    for path in paths.values():
        check_output_file(path, "--out")
        check_not_inside_inputs(path, "--out", [run_dir])  # an export never adds files to its run
    written = export_run(run_dir, args.format, args.out)
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
