"""Problems with stored files as one line of text (bench.results.schema's messages).

A stored name or value may hold line breaks or control characters: escaped here, so that an error
about a hostile file is still one line on the terminal.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

__all__ = ["describe", "one_line"]


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every line break and control character escaped: stored names cannot add lines."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(err: ValidationError) -> str:
    """The first problem of a validation error as ``field: message (got value)``, one line."""
    errors = err.errors(include_url=False)
    first = errors[0]
    where = _where(tuple(first["loc"]))
    got = ""
    if first["type"] not in ("missing", "framebench") and "input" in first:
        got = f" (got {_short(first['input'])})"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return one_line(f"{where + ': ' if where else ''}{first['msg']}{got}{more}")
