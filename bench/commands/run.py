"""``python -m bench run``: one cell in its own process, stored as a run (like ``all``)."""

from __future__ import annotations

import argparse

from models.registry import model_names

from ..frameworks.registry import get_framework
from ..matrix import Filters
from ..orchestrate import run as run_request
from ..vocab import check_choice, check_device, check_precision
from ._options import add_settings_options, profile_defaults_epilog
from ._options import run_request as request_from

NAME = "run"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="run one cell (writes a run directory like `all`)",
        description="Run a single cell in --repeats fresh processes and store it as a run.",
        epilog=profile_defaults_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    c = p.add_argument_group("the cell")
    c.add_argument("--model", required=True)
    c.add_argument("--framework", required=True)
    c.add_argument("--mode", required=True)
    c.add_argument("--device", default="cpu")
    c.add_argument("--precision", default="fp32")
    c.add_argument("--variant", default="default")
    add_settings_options(p)
    p.add_argument("--resume", action="store_true",
                   help="continue the latest run under reports/runs (or --out DIR): run only this cell's "
                        "processes that are missing or failed/timed out/ran out of memory")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    check_choice("model", args.model, model_names())
    desc = get_framework(args.framework)
    check_choice(f"{desc.name} mode", args.mode, desc.mode_names)
    check_device(args.device)
    check_precision(args.precision)
    check_choice(f"{desc.name} variant", args.variant, desc.variant_names)
    filters = Filters(models=(args.model,), frameworks=(args.framework,), modes=(args.mode,),
                      devices=(args.device,), precisions=(args.precision,), variants=(args.variant,),
                      batch_size=args.batch_size or 0)
    return run_request(request_from(args, filters, resume=args.resume, report=False))
