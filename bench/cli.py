"""Command line: ``python -m bench <command>``; the commands are bench.commands' modules.

``main`` builds the parser from them and maps errors to exit codes, one way for every command: bad
input (a BenchError, a model family's DataError, a stored file failing its schema, a bad argument)
and any OSError (with the file it names) are one ``error: ...`` line and exit status 2, never a
traceback; Ctrl-C (or SIGTERM) is 130; an unexpected exception is a bug: its traceback and exit 3.
Exit 1 is left to the commands: "a cell failed" (all, run) and "a regression" (gate).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from bench.commands import build_parser
from bench.errors import BenchError
from models.family import DataError

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL_ERROR", "build_parser", "main", "os_error_line",
           "validation_error_line"]


EXIT_BAD_INPUT = 2
EXIT_INTERNAL_ERROR = 3


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def os_error_line(e: OSError) -> str:
    """An OSError as one line that names its file(s): "cannot write x: Permission denied"."""
    what = e.strerror or type(e).__name__
    names = [str(n) for n in (e.filename, e.filename2) if n is not None]
    if names:
        return _one_line(f"{' -> '.join(names)}: {what}")
    return _one_line(e.strerror or str(e) or what)


def validation_error_line(e: Exception) -> str | None:
    """A pydantic ValidationError (stored files are validated with pydantic) as one line; None when
    ``e`` is not one. pydantic is looked up, never imported: if it was not imported, it raised nothing."""
    pydantic = sys.modules.get("pydantic")
    error_type = getattr(pydantic, "ValidationError", None)
    if error_type is None or not isinstance(e, error_type):
        return None
    errors = e.errors()  # type: ignore[attr-defined]
    if not errors:
        return _one_line(str(e))
    first = errors[0]
    loc = ".".join(str(x) for x in first.get("loc", ())) or "value"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    title = getattr(e, "title", "") or "data"
    return _one_line(f"{title}: {loc}: {first.get('msg', 'invalid')}{more}")


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
        _say(f"error: {_one_line(str(e))}")
        return e.exit_code
    except DataError as e:
        _say(f"error: {_one_line(str(e))}")
        return EXIT_BAD_INPUT
    except OSError as e:
        _say(f"error: {os_error_line(e)}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _say("\ninterrupted")
        return 130
    except Exception as e:
        line = validation_error_line(e)
        if line is not None:
            _say(f"error: {line}")
            return EXIT_BAD_INPUT
        # Not bad input but a bug: the traceback is what a report needs, and exit 3 keeps CI from
        # reading it as "a cell failed" or "a regression" (exit 1).
        traceback.print_exc()
        _say(f"internal error ({type(e).__name__}); please report it with the traceback above")
        return EXIT_INTERNAL_ERROR
