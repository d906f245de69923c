"""``python -m bench all``: run every cell this machine can run (or resume a run), then the reports."""

from __future__ import annotations

import argparse

from bench.commands._options import (
    add_filter_options,
    add_settings_options,
    filter_values,
    profile_defaults_epilog,
)
from bench.commands._options import run_request as request_from
from bench.errors import BenchError
from bench.plan.dryrun import dry_run
from bench.plan.matrix import LIST_FILTERS
from bench.plan.orchestrate import run as run_request
from bench.plan.shard import ShardSpec, parse_shard

NAME = "all"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="run every cell this machine can run, then write the reports",
        description=f"Run the matrix {' × '.join(LIST_FILTERS)}, each cell in --repeats fresh processes "
                    "(interleaved, seeded-random order); cells this machine cannot run are recorded as "
                    "skipped with a reason. Filters take values separated by spaces or commas.",
        epilog=profile_defaults_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_filter_options(p)
    add_settings_options(p)
    p.add_argument("--resume", action="store_true",
                   help="continue the latest run under reports/runs (or --out DIR): run only the "
                        "processes that are missing or failed/timed out/ran out of memory, in the run's "
                        "order")
    p.add_argument("--shard", type=shard_arg, metavar="K/M",
                   help="run only the K-th of M deterministic, balanced slices of the planned processes "
                        "(whole schedule blocks; skipped cells in shard 1; no adaptive extra pairs), so M "
                        "machines share one matrix; merge them with `bench report --runs`")
    p.add_argument("--no-report", action="store_true", help="do not regenerate the reports afterwards")
    p.add_argument("--dry-run", action="store_true",
                   help="list the planned cells (runnable, and skipped with the reason) with an estimated "
                        "time per cell (all its processes) and in total; run and write nothing")
    p.add_argument("--assume-cuda", metavar="GPU_NAME",
                   help="with --dry-run: plan as if every installed framework saw this CUDA device (e.g. "
                        "\"NVIDIA H100 80GB HBM3\"): the cells and the estimate a GPU box would get")
    p.set_defaults(func=run)
    return p


def shard_arg(text: str) -> ShardSpec:
    try:
        return parse_shard(text)
    except BenchError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    filters = filter_values(args).validate()
    if args.shard is not None and args.extra_pairs:
        raise BenchError("--extra-pairs cannot be used with --shard: a shard adds no adaptive pairs "
                         "(their places in the run would collide between shards)")
    if args.assume_cuda is not None and not (args.dry_run and args.assume_cuda.strip()):
        raise BenchError("--assume-cuda needs --dry-run and a GPU name (nothing runs on an assumed GPU)")
    request = request_from(args, filters, resume=args.resume, report=not args.no_report)
    return dry_run(request) if args.dry_run else run_request(request)
