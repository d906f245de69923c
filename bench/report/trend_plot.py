"""The chart of ``python -m bench history``: one cell's step time across the runs of one machine.

Drawn like bench.report.plots (matplotlib's object API on the Agg canvas, under matplotlib's default style,
PNG without the "Software" entry), so that the same data gives the same bytes. x is the run order,
labelled by each run's date; y the step time in ms (the median of the run's process medians), with a
vertical bar from the fastest to the slowest process median; a red ▲ marks a run where the gate saw
a regression, a green ▼ one that was faster than its history by more than the threshold; a dotted
line separates runs that were not comparable (a new segment).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bench.labels import framework_colour
from bench.report.plots import DPI, default_style, save_png

REGRESSION_COLOUR = "#c62828"
IMPROVEMENT_COLOUR = "#2e7d32"


def trend_chart(
    path: Path,
    *,
    title: str,
    framework: str,
    x_labels: Sequence[str],
    values_ms: Sequence[float | None],
    lows_ms: Sequence[float | None],
    highs_ms: Sequence[float | None],
    markers: Sequence[str | None],
    segment_starts: Sequence[int] = (),
) -> Path:
    """One cell's step time per run (None: no ok measurement in that run). ``markers[i]``:
    "regression", "improvement" or None. ``segment_starts``: run positions (> 0) that start a new
    segment of comparable runs."""
    n = len(x_labels)
    x = np.arange(n, dtype=float)
    y = np.array([np.nan if v is None else float(v) for v in values_ms], dtype=float)
    with default_style():
        fig = Figure(figsize=(max(6.0, 1.0 + 0.55 * n), 3.6), dpi=DPI)
        ax = fig.add_subplot(1, 1, 1)
        colour = framework_colour(framework)
        ax.plot(x, y, color=colour, marker="o", markersize=4, linewidth=1.4, label="step time (median)")
        spans = [(xi, lo, hi) for xi, lo, hi in zip(x, lows_ms, highs_ms, strict=True)
                 if lo is not None and hi is not None and hi > lo]
        if spans:
            ax.vlines([s[0] for s in spans], [s[1] for s in spans], [s[2] for s in spans], color=colour,
                      linewidth=3, alpha=0.35, label="process medians, min–max")
        for kind, symbol, col, label in (("regression", "^", REGRESSION_COLOUR, "gate: regression"),
                                         ("improvement", "v", IMPROVEMENT_COLOUR, "faster than history")):
            idx = [i for i, m in enumerate(markers) if m == kind and np.isfinite(y[i])]
            if idx:
                ax.scatter(x[idx], y[idx], s=110, marker=symbol, color=col, zorder=5, label=label)
        for s in segment_starts:
            ax.axvline(s - 0.5, color="grey", linestyle=":", linewidth=1)
        tops = [float(v) for v in y if np.isfinite(v)] + [float(h) for h in highs_ms if h is not None]
        top = max(tops, default=0.0)
        ax.set_ylim(0, top * 1.25 if top > 0 else 1.0)
        ax.set_xlim(-0.5, n - 0.5)
        ax.set_xticks(x, list(x_labels), rotation=30, ha="right", fontsize=7)
        ax.set_ylabel("step time (ms)")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        return save_png(fig, path)
