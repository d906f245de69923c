"""The command line's commands, one module each (``python -m bench <command>``).

Each module names its command (``NAME``), adds its subparser with ``setup_arguments(subparsers)``
(which sets ``func=run``) and does the work in ``run(args) -> int`` (the exit status). ``build_parser``
wires them together in ``COMMANDS`` order; bench.cli's ``main`` maps errors to exit codes. Since the
parser imports every command module, a command imports what is heavy (pandas, scipy, matplotlib
through the reports and the gate) inside its ``run``.
"""

from __future__ import annotations

import argparse
import importlib

from ..frameworks.registry import frameworks
from ._options import EXIT_CODES_HELP

# Module names under bench.commands, in the order `--help` lists them.
COMMANDS: tuple[str, ...] = ("all", "run", "env", "report", "baseline", "gate", "export_pytest_benchmark")


def build_parser() -> argparse.ArgumentParser:
    labels = [d.label for d in frameworks()]
    them = " and ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels)
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=f"Benchmark equivalent models in {them}, one process per cell.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").setup_arguments(sub)
    return parser
