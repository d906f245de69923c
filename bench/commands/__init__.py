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
from typing import NoReturn

from bench.commands._options import EXIT_CODES_HELP
from bench.errors import BenchError
from bench.frameworks.registry import frameworks

# Module names under bench.commands, in the order `--help` lists them.
COMMANDS: tuple[str, ...] = ("all", "run", "env", "report", "baseline", "gate", "compare", "history",
                             "export", "export_pytest_benchmark")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is a BenchError: one ``error:`` line and exit 2 (bench.cli), not
    the usage block. Sub-parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        raise BenchError(f"{self.prog}: {message} (see --help)")


def version() -> str:
    """The installed distribution's version; the package's own when it runs from a source tree."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("framebench")
    except PackageNotFoundError:
        from bench import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    labels = [d.label for d in frameworks()]
    them = " and ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels)
    parser = OneLineParser(
        prog="python -m bench",
        description=f"Benchmark equivalent models in {them}, one process per cell.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"framebench {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").setup_arguments(sub)
    return parser
