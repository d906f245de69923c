"""The report's figures: their file names, and a drawing (``draw(path) -> path``) for each.

Names follow fixed patterns (FIGURE_PATTERNS) so that stale figures of cells that no longer exist
can be recognised and removed; drawings are closures over plain data, run by bench.report.build.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.analysis.parity import Parity
from bench.labels import GROUP_AXES, axis_text, cell_label, framework_label, shown_axes
from bench.markdown import fmt_pct
from bench.report import plots
from bench.report.pages.sections import parity_title
from bench.stats import num

FIGURES_DIR = "figures"
FIGURE_PATTERNS = ("*__throughput.png", "*__memory.png", "*__parity__*.png", "*__scaling.png")

Draw = Callable[[Path], Path]
# What a throughput bar's error bar spans, printed under the chart's axis.
THROUGHPUT_ERROR_BARS = "bar: median over processes; error bar: slowest to fastest process"
SCALING_CAPTION = ("points: median global images/s over processes; E(N): ratio of the median process "
                   "throughputs / N (intervals in the table above); dashed: ideal")


def fig_name(*parts: Any) -> str:
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)) for p in parts) + ".png"


def name_parity_figures(parity: list[Parity], multi: bool) -> None:
    """Set each comparison's figure path: model, "parity", the group's axes, the pair when the group
    compares more than two frameworks, the run when several runs are reported."""
    per_group: dict[tuple[Any, ...], int] = {}
    for p in parity:
        g = tuple(p.key.values())
        per_group[g] = per_group.get(g, 0) + 1
    for p in parity:
        pair = ["-vs-".join(p.cells)] if per_group[tuple(p.key.values())] > 1 else []
        parts = [axis_text(a, p.key[a]) for a in shown_axes(GROUP_AXES, [p.key]) if a != "model"]
        run = [p.run_id] if multi else []
        p.figure = f"{FIGURES_DIR}/" + fig_name(p.model, "parity", *parts, *pair, *run)


def parity_drawing(p: Parity, multi: bool) -> Draw:
    labels = {fw: f"{framework_label(fw)} {c['mode']}" for fw, c in p.cells.items()}
    diffs = ", ".join(f"{label} {fmt_pct(p.rel_diff[name])}" for name, label in p.loss_labels.items())
    diffs = f"change differences: {diffs}"
    title = f"{parity_title(p, multi)} — {diffs}"
    return lambda path: plots.parity_chart(path, p.curves, title=title, labels=labels, losses=p.loss_labels,
                                           tolerance=p.tolerance)


def _mib(v: Any) -> float | None:
    x = num(v)
    return None if x is None else x / 2**20


def throughput_drawing(model: str, ok: list[dict[str, Any]], multi: bool) -> Draw:
    """Median throughput over each cell's processes; the bar spans the slowest to the fastest process."""
    bars = [
        plots.Bar(cell_label(r, model=False, run=multi), r["framework"], float(r["throughput_img_s"]),
                  *_span(r))
        for r in ok
    ]
    return lambda path: plots.bar_chart(
        path, bars, title=f"{model}: throughput (higher is better)", xlabel="images / s",
        caption=THROUGHPUT_ERROR_BARS,
    )


def _span(r: dict[str, Any]) -> tuple[float | None, float | None]:
    lo, hi = num(r.get("throughput_min_img_s")), num(r.get("throughput_max_img_s"))
    if lo is None or hi is None or int(num(r.get("n_ok")) or 0) < 2:
        return None, None
    return lo, hi


def memory_drawing(model: str, rows: list[dict[str, Any]], multi: bool) -> Draw:
    mem_rows = [r for r in rows if r["status"] == "ok"]
    series = {"host peak RSS": [_mib(r.get("peak_rss_bytes")) for r in mem_rows]}
    for col, name in (
        ("device_alloc_peak_bytes", "device allocator peak"),
        ("nvml_peak_bytes", "device NVML peak"),
    ):
        vals = [_mib(r.get(col)) for r in mem_rows]
        if any(v is not None for v in vals):
            series[name] = vals
    labels = [cell_label(r, model=False, run=multi) for r in mem_rows]
    fws = [r["framework"] for r in mem_rows]
    return lambda path: plots.grouped_bar_chart(
        path, labels, fws, series, title=f"{model}: peak memory (lower is better)", xlabel="MiB"
    )


def scaling_drawing(model: str, series: list[plots.ScalingSeries]) -> Draw:
    """Images/s and E(N) against the number of ranks, one line per cell (weak scaling)."""
    return lambda path: plots.scaling_chart(path, series, title=f"{model}: data-parallel scaling (weak)",
                                            caption=SCALING_CAPTION)
