"""``python -m bench env``: probe the frameworks and print the environment a run would record."""

from __future__ import annotations

import argparse
import json

from bench.commands._options import parse_pythons
from bench.frameworks.registry import framework_names
from bench.host.detect import probe_frameworks
from bench.host.envinfo import collect_environment, format_environment

NAME = "env"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(NAME, help="print the environment a run would record",
                              description="Probe the frameworks and print what environment.json would hold.")
    p.add_argument("--json", action="store_true", help="print the full JSON instead of a summary")
    p.add_argument("--python", action="append", default=[], metavar="FW=PATH",
                   help="interpreter for a framework (as for `all`)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    pythons = parse_pythons(args.python)
    env = collect_environment(probe_frameworks(framework_names(), pythons))
    print(json.dumps(env, indent=2, default=str) if args.json else format_environment(env))
    return 0
