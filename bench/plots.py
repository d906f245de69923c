"""PNG figures of the reports: loss-curve parity, throughput and memory bars.

Pure functions of their inputs, drawn with matplotlib's object API on the Agg canvas (no pyplot, no
global backend switch, no GUI), under matplotlib's default style so that a user's matplotlibrc does
not change the bytes. PNGs are written with fixed dpi and without the "Software" metadata entry,
so regenerating a figure from the same data gives the same file. Each framework is drawn in its
descriptor's colour under its label (bench.labels); one that is not registered gets its own name and a
neutral colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .labels import framework_colour, framework_label

DPI = 100
PNG_METADATA = {"Software": None}
PANEL_WIDTH = 4.5  # inches per loss panel of a parity chart


@dataclass(frozen=True)
class Bar:
    label: str
    framework: str
    value: float
    err_low: float | None = None  # absolute lower/upper error bar ends (None: no bar)
    err_high: float | None = None


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    from .store import atomic_write_with

    # Into a fresh file renamed into place: a planted link or hard link at ``path`` is replaced, not
    # written through.
    return atomic_write_with(path, lambda f: fig.savefig(f, dpi=DPI, format="png", metadata=PNG_METADATA))


def _style():
    # matplotlib's default style, whatever the user's matplotlibrc says: same data, same pixels.
    return matplotlib.style.context("default")


def bar_chart(path: Path, bars: Sequence[Bar], *, title: str, xlabel: str) -> Path:
    """Horizontal bars, one per cell, coloured by framework (first bar at the top)."""
    with _style():
        height = max(2.0, 0.8 + 0.35 * len(bars))
        fig = Figure(figsize=(8.0, height), dpi=DPI)
        ax = fig.add_subplot(1, 1, 1)
        y = np.arange(len(bars))[::-1]
        values = [b.value for b in bars]
        colors = [framework_colour(b.framework) for b in bars]
        ax.barh(y, values, color=colors)
        _room_for_legend(ax, values)
        for yi, b in zip(y, bars, strict=True):
            if b.err_low is not None and b.err_high is not None:
                ax.errorbar(
                    [b.value],
                    [yi],
                    xerr=[[b.value - b.err_low], [b.err_high - b.value]],
                    fmt="none",
                    ecolor="black",
                    capsize=3,
                    linewidth=1,
                )
        ax.set_yticks(y, [b.label for b in bars], fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        _framework_legend(ax, {b.framework for b in bars})
        fig.tight_layout()
        return _save(fig, path)


def grouped_bar_chart(
    path: Path,
    labels: Sequence[str],
    frameworks: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    title: str,
    xlabel: str,
) -> Path:
    """Horizontal grouped bars: one group per cell, one bar per series (e.g. host / device memory)."""
    with _style():
        n, k = len(labels), max(1, len(series))
        fig = Figure(figsize=(8.0, max(2.0, 0.8 + 0.3 * n * k)), dpi=DPI)
        ax = fig.add_subplot(1, 1, 1)
        y = np.arange(n)[::-1].astype(float)
        h = 0.8 / k
        hatches = ["", "//", "..", "xx"]
        from matplotlib.patches import Patch

        colors = [framework_colour(f) for f in frameworks]
        handles = []
        every: list[float] = []
        for i, (name, values) in enumerate(series.items()):
            vals = [np.nan if v is None else float(v) for v in values]
            every += [v for v in vals if np.isfinite(v)]
            ax.barh(
                y + (k - 1 - 2 * i) * h / 2,
                vals,
                height=h,
                color=colors,
                hatch=hatches[i % 4],
                edgecolor="black",
                linewidth=0.3,
            )
            handles.append(Patch(facecolor="white", edgecolor="black", hatch=hatches[i % 4], label=name))
        handles += [
            Patch(color=framework_colour(f), label=framework_label(f)) for f in sorted(set(frameworks))
        ]
        _room_for_legend(ax, every)
        ax.set_yticks(y, list(labels), fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(handles=handles, fontsize=8, loc="lower right")
        fig.tight_layout()
        return _save(fig, path)


def parity_chart(
    path: Path,
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
    *,
    title: str,
    labels: dict[str, str],
    losses: dict[str, str],
) -> Path:
    """Loss curves of the compared frameworks: one panel per loss, raw (faint) and smoothed lines.

    ``curves[framework][loss] = (raw, smoothed)`` over the same steps; ``losses`` maps each loss
    name to its label, in panel order; ``labels`` names each framework's lines.
    """
    with _style():
        fig = Figure(figsize=(PANEL_WIDTH * max(1, len(losses)), 3.4), dpi=DPI)
        for i, (loss, loss_label) in enumerate(losses.items()):
            ax = fig.add_subplot(1, len(losses), i + 1)
            for fw in sorted(curves):
                raw, smooth = curves[fw][loss]
                x = np.arange(len(raw))
                color = framework_colour(fw)
                ax.plot(x, raw, color=color, alpha=0.25, linewidth=0.8)
                ax.plot(x, smooth, color=color, linewidth=1.6, label=labels.get(fw, fw))
            ax.set_xlabel("step")
            ax.set_ylabel(f"{loss_label} loss")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        return _save(fig, path)


def _room_for_legend(ax, values: Sequence[float]) -> None:
    # Bars end before ~70% of the axis so the legend (right) never hides one.
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if finite and max(finite) > 0:
        ax.set_xlim(0, max(finite) * 1.45)


def _framework_legend(ax, frameworks: set[str]) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(color=framework_colour(f), label=framework_label(f)) for f in sorted(frameworks)
    ]
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="lower right")
