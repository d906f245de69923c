"""``python -m bench all``: run every cell this machine can run (or resume a run), then the reports."""

from __future__ import annotations

import argparse

from models.registry import model_names

from ..frameworks.registry import frameworks
from ..matrix import Filters, split_list
from ..orchestrate import run as run_request
from ..vocab import DEVICES, PRECISIONS
from ._options import EXIT_CODES_HELP, add_settings_options
from ._options import run_request as request_from

NAME = "all"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="run every cell this machine can run, then write the reports",
        description="Run the matrix model × framework × mode × device × precision × variant, each cell "
                    "in its own process; cells this machine cannot run are recorded as skipped with a "
                    "reason. Filters take names separated by spaces or commas.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    f = p.add_argument_group("matrix filters (default: the profile's matrix)")
    choices = {
        "models": model_names(), "frameworks": tuple(d.name for d in frameworks()), "devices": DEVICES,
        "precisions": PRECISIONS,
        "modes": tuple(f"{d.name}: {'/'.join(d.mode_names)}" for d in frameworks()),
        "variants": tuple(f"{d.name}: {'/'.join(d.variant_names)}" for d in frameworks()),
    }
    for name, valid in choices.items():
        f.add_argument(f"--{name}", nargs="+", metavar=name[:-1].upper(), help="; ".join(valid))
    add_settings_options(p)
    p.add_argument("--resume", action="store_true",
                   help="continue the latest run under reports/runs (or --out DIR): run only cells "
                        "that are missing or failed/timed out/ran out of memory")
    p.add_argument("--no-report", action="store_true", help="do not regenerate the reports afterwards")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    filters = Filters(
        models=split_list(args.models), frameworks=split_list(args.frameworks), modes=split_list(args.modes),
        devices=split_list(args.devices), precisions=split_list(args.precisions),
        variants=split_list(args.variants), batch_size=args.batch_size or 0)
    return run_request(request_from(args, filters, resume=args.resume, report=not args.no_report))
