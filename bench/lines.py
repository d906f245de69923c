"""Making one useful line out of text that programs print (reasons, errors, probe output).

Framework-free and dependency-free: the worker, the probes, the launcher and the CLI all use these.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

REASON_MAX_CHARS = 500
# Lines of a failed worker's traceback or log kept in its result (``error_tail``).
ERROR_TAIL_LINES = 30
_DECORATION = set("^~-=| ")  # traceback markers and rules that say nothing


def one_line(text: object, limit: int = REASON_MAX_CHARS) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters (with an ellipsis)."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def exception_line(exc: BaseException, limit: int = REASON_MAX_CHARS) -> str:
    """``Type: first line of the message`` (or just the type when the message is empty)."""
    text = one_line(exc, limit)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def last_meaningful_line(lines: Iterable[str], limit: int = 300) -> str | None:
    """The last line that says something (skips blanks and traceback markers like ``^^^^``)."""
    for line in reversed(list(lines)):
        s = line.strip()
        if s and set(s) - _DECORATION:
            return s[:limit]
    return None


def last_json_line(text: str, key: str | None = None) -> dict[str, Any] | None:
    """The last line of ``text`` that is a JSON object (probes print one; libraries may print more),
    with ``key`` among its keys when given."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(d, dict) and (key is None or key in d):
                return d
    return None
