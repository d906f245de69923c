"""``python -m bench run``: one cell in its own process, stored as a run (like ``all``)."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

from bench.axes import check_cell, describe, parse
from bench.cell import Cell
from bench.commands._options import add_settings_options, profile_defaults_epilog
from bench.commands._options import run_request as request_from
from bench.plan.matrix import LIST_FILTERS, Filters
from bench.plan.orchestrate import run as run_request

NAME = "run"
_DEFAULTS = {f.name: f.default for f in fields(Cell)}
# `bench run` measures a cell on this machine: on the CPU unless asked (the Cell has no default device).
DEFAULTS = {"device": "cpu"}


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="run one cell (writes a run directory like `all`)",
        description="Run a single cell in --repeats fresh processes and store it as a run.",
        epilog=profile_defaults_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    c = p.add_argument_group("the cell (its batch size: --batch-size)")
    for axis in LIST_FILTERS:
        default = DEFAULTS.get(axis, _DEFAULTS[axis])
        given = default is not MISSING
        c.add_argument(f"--{axis}", required=not given, default=default if given else None,
                       metavar=axis.upper(),
                       help=describe(axis) + (f" (default: {default})" if given else ""))
    add_settings_options(p)
    p.add_argument("--resume", action="store_true",
                   help="continue the latest run under reports/runs (or --out DIR): run only this cell's "
                        "processes that are missing or failed/timed out/ran out of memory")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    cell = {axis: parse(axis, str(getattr(args, axis)), f"--{axis}") for axis in LIST_FILTERS}
    check_cell(cell)  # the axes' validators; a mode or variant of the cell's framework
    filters = Filters(**{name: (cell[axis],) for axis, name in LIST_FILTERS.items()},
                      batch_size=args.batch_size or 0)
    return run_request(request_from(args, filters, resume=args.resume, report=False))
