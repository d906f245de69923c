"""Command line: ``python -m bench <command>``; the commands are bench.commands' modules.

``main`` builds the parser from them and maps errors to exit codes: bad input (a BenchError, or a
model family's DataError) is one ``error: ...`` line and exit status 2; Ctrl-C (or SIGTERM) is 130.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

from models.family import DataError

from .commands import build_parser
from .errors import BenchError

__all__ = ["build_parser", "main"]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _terminate_like_ctrl_c() -> None:
    """SIGTERM (a CI job cancelled, `kill`) takes the Ctrl-C path: the running cell's process group
    is killed instead of being orphaned, and finished cells stay on disk."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread
        signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status. With argv None (a real command), SIGTERM is
    handled like Ctrl-C; callers passing argv (tests, scripts) keep their own signal handling."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()  # reads the registries: a broken plugin is bad input too
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        args.argv = argv
        if from_command_line:
            _terminate_like_ctrl_c()
        return int(args.func(args) or 0)
    except BenchError as e:
        _say(f"error: {e}")
        return e.exit_code
    except DataError as e:
        _say(f"error: {e}")
        return 2
    except KeyboardInterrupt:
        _say("\ninterrupted")
        return 130
