"""Markdown formatting shared by the report pages and the gate: numbers, tables, escaping.

Pure functions of their arguments (no pandas, no registry): a missing or non-finite number prints
as "–", so a table cell never shows "nan" or "None".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from bench.stats import NO_CLEAR_WINNER, RatioCI, num

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


def fmt_processes(n: int) -> str:
    return f"{n} process" + ("" if n == 1 else "es")


def fmt_coverage(confidence: float) -> str:
    """"95%", "75%", "93.8%": a coverage as a bracket states it."""
    return fmt_pct(confidence, 0 if confidence * 100 == round(confidence * 100) else 1)


def fmt_ratio_ci(c: RatioCI | None) -> str:
    """"1.17× [1.09–1.25, 95%]" (the interval and its coverage; ", Bonferroni ×12" for a pick among 12
    comparisons); "1.17× (1 process)" when too few processes for an interval."""
    if c is None:
        return MISSING
    if c.method == "same cell":
        return fmt_ratio(c.ratio)
    if c.low is None or c.high is None:
        return f"{fmt_ratio(c.ratio)} ({fmt_processes(c.n)})"
    widened = f", Bonferroni ×{c.candidates}" if c.candidates > 1 else ""
    return f"{fmt_ratio(c.ratio)} [{c.low:.2f}–{c.high:.2f}, {fmt_coverage(c.confidence)}{widened}]"


def fmt_verdict(c: RatioCI | None, a: str, b: str) -> str:
    """Who is faster by the interval: ``a`` (the CI is above 1), ``b`` (below), no clear winner."""
    if c is None or c.low is None or c.high is None:
        return ""
    if c.low > 1.0:
        return f"{a} faster"
    if c.high < 1.0:
        return f"{b} faster"
    return NO_CLEAR_WINNER


def fmt_ms_ci(median: Any, low: Any, high: Any, coverage: Any, n: int, unit: str = "") -> str:
    """A median step time in ms (then ``unit``) with its CI and the CI's coverage: "572 [560–590, 75%]";
    with fewer than 2 processes, "572 (1 process)"."""
    med = num(median)
    if med is None:
        return MISSING
    lo, hi, cov = num(low), num(high), num(coverage)
    if lo is None or hi is None or cov is None:
        return f"{fmt_ms(med)}{unit} ({fmt_processes(n)})"
    return f"{fmt_ms(med)}{unit} [{fmt_ms(lo)}–{fmt_ms(hi)}, {fmt_coverage(cov)}]"


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
    """One line of Markdown table text showing ``text`` as it is: ``|`` and newlines cannot break the
    table, and ``&``, ``<`` and ``>`` are HTML entities, so a stored ``<script>`` or ``<img onerror=...>``
    is shown, never rendered (stored runs are untrusted)."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = s.replace("\r", " ").replace("\n", " ").replace("|", "\\|")
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
