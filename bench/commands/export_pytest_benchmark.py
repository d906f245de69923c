"""``python -m bench export-pytest-benchmark``: a run's results in pytest-benchmark's JSON format."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands._options import latest_run
from bench.inputs import check_not_inside_inputs, check_output_file

NAME = "export-pytest-benchmark"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    e = subparsers.add_parser(NAME, help="write a run's results in pytest-benchmark's JSON format")
    e.add_argument("--run", metavar="DIR", help="run directory (default: the latest under reports/runs)")
    e.add_argument("--out", metavar="FILE", help="output file (default: <run>/pytest-benchmark.json)")
    e.set_defaults(func=run)
    return e


def run(args: argparse.Namespace) -> int:
    from bench.report.pytest_benchmark import write_export

    if args.out:
        check_output_file(args.out, "--out")
    run_dir = Path(args.run) if args.run else latest_run()
    if args.out:  # the default, <run>/pytest-benchmark.json, is the export's documented place
        check_not_inside_inputs(args.out, "--out", [run_dir])
    path = write_export(run_dir, args.out)
    print(f"wrote {path} (read it with `pytest-benchmark compare {path}`)")
    return 0
