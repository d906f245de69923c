"""Markdown formatting shared by the report pages and the gate: numbers, tables, escaping.

Pure functions of their arguments (no pandas, no registry): a missing or non-finite number prints
as "–", so a table cell never shows "nan" or "None".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .stats import num

MISSING = "–"
MAX_REASON_CHARS = 120


def fmt_sig(x: Any, sig: int = 3) -> str:
    """Round to ``sig`` significant digits, never in scientific notation; "–" when missing."""
    v = num(x)
    if v is None:
        return MISSING
    if v == 0:
        return "0"
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def fmt_ms(seconds: Any) -> str:
    v = num(seconds)
    return MISSING if v is None else fmt_sig(v * 1e3)


def fmt_mib(nbytes: Any) -> str:
    v = num(nbytes)
    return MISSING if v is None else f"{v / 2**20:.0f}"


def fmt_pct(frac: Any, decimals: int = 1) -> str:
    v = num(frac)
    return MISSING if v is None else f"{v * 100:.{decimals}f}%"


def fmt_change(frac: float | None) -> str:
    """A signed relative change: +12.3%, -4.0%."""
    return MISSING if frac is None else f"{frac * 100:+.1f}%"


def fmt_ratio(x: Any) -> str:
    v = num(x)
    return MISSING if v is None else f"{v:.2f}×"


def fmt_s(seconds: Any) -> str:
    v = num(seconds)
    return MISSING if v is None else fmt_sig(v)


def fmt_value(v: Any) -> str:
    """Any stored value (settings, flags, environment) as table text."""
    if v is None:
        return MISSING
    if isinstance(v, float):
        return MISSING if not math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_value(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt_value(x)}" for k, x in v.items()) or MISSING
    return str(v)


def join_words(words: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    words = list(words)
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def md_escape(text: Any) -> str:
    s = str(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return re.sub(r"\s+", " ", s).strip()


def truncate(text: Any, n: int = MAX_REASON_CHARS) -> str:
    """Escaped one-line text of at most ``n`` characters (long reasons end in "…")."""
    s = md_escape(text)
    return s if len(s) <= n else s[: n - 1] + "…"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` is one char per column: l, r or c."""
    align = align or "l" * len(headers)
    marks = {"l": "---", "r": "--:", "c": ":-:"}
    lines = [
        "| " + " | ".join(md_escape(h) for h in headers) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(md_escape(c) for c in row) + " |")
    return "\n".join(lines) + "\n"
