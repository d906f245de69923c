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

from bench.labels import framework_colour, framework_label

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


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as this module's PNGs are written (fixed dpi, no "Software" entry)."""
    FigureCanvasAgg(fig)
    from bench.results.write import atomic_write_with

    # Into a fresh file renamed into place: a planted link or hard link at ``path`` is replaced, not
    # written through.
    return atomic_write_with(path, lambda f: fig.savefig(f, dpi=DPI, format="png", metadata=PNG_METADATA))


def default_style():
    """matplotlib's default style, whatever the user's matplotlibrc says: same data, same pixels."""
    return matplotlib.style.context("default")


def bar_chart(path: Path, bars: Sequence[Bar], *, title: str, xlabel: str,
              caption: str | None = None) -> Path:
    """Horizontal bars, one per cell, coloured by framework (first bar at the top); ``caption`` (what
    the error bars span) is written under the axis when any bar has one."""
    with default_style():
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
        with_bars = any(b.err_low is not None and b.err_high is not None for b in bars)
        ax.set_xlabel(f"{xlabel}\n({caption})" if caption and with_bars else xlabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        _framework_legend(ax, {b.framework for b in bars})
        fig.tight_layout()
        return save_png(fig, path)


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
    with default_style():
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
        return save_png(fig, path)


# The two sides of a parity chart: line style and marker per position, so that curves that coincide
# still show both (colour alone would hide the one drawn first).
PARITY_STYLES = ({"linestyle": "-", "marker": "o", "markerfacecolor": "none"},
                 {"linestyle": "--", "marker": "x"})


def parity_chart(
    path: Path,
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
    *,
    title: str,
    labels: dict[str, str],
    losses: dict[str, str],
    tolerance: float | None = None,
) -> Path:
    """Loss changes of two compared frameworks: per loss, a top panel with both sides' change from
    step 0 (raw faint, smoothed bold, each side its own line style and marker) and a bottom panel
    with the difference of the smoothed changes (first minus second), the tolerance band dotted.

    ``curves[framework][loss] = (raw change, smoothed change)`` over the same steps, frameworks in the
    compared order; ``losses`` maps each loss name to its label, in panel order; ``labels`` names
    each framework's lines.
    """
    fws = list(curves)
    with default_style():
        n = max(1, len(losses))
        fig = Figure(figsize=(PANEL_WIDTH * n, 5.2), dpi=DPI)
        axes = fig.subplots(2, n, sharex="col", squeeze=False, gridspec_kw={"height_ratios": [2.2, 1]})
        for i, (loss, loss_label) in enumerate(losses.items()):
            top, bottom = axes[0][i], axes[1][i]
            for k, fw in enumerate(fws):
                raw, smooth = curves[fw][loss]
                x = np.arange(len(raw))
                color, style = framework_colour(fw), PARITY_STYLES[k % len(PARITY_STYLES)]
                top.plot(x, raw, color=color, alpha=0.25, linewidth=0.8, linestyle=style["linestyle"])
                top.plot(x, smooth, color=color, linewidth=1.6, markersize=4, label=labels.get(fw, fw),
                         **style)
            top.axhline(0.0, color="grey", linewidth=0.6)
            top.set_ylabel(f"{loss_label} loss − step 0")
            top.grid(alpha=0.3)
            top.legend(fontsize=8)
            if len(fws) >= 2:
                a, b = (curves[fw][loss][1] for fw in fws[:2])
                m = min(len(a), len(b))
                bottom.plot(np.arange(m), a[:m] - b[:m], color="black", linewidth=1.2)
                moved = max(float(np.max(np.abs(c))) if len(c) else 0.0 for c in (a, b))
                if tolerance is not None and moved > 0:
                    for y in (tolerance * moved, -tolerance * moved):
                        bottom.axhline(y, color="grey", linewidth=0.8, linestyle=":")
            bottom.axhline(0.0, color="grey", linewidth=0.6)
            bottom.set_xlabel("step")
            bottom.set_ylabel("difference\n(first − second)", fontsize=8)
            bottom.grid(alpha=0.3)
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        return save_png(fig, path)


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


@dataclass(frozen=True)
class ScalingSeries:
    """One cell across rank counts: global images/s at each N (medians over processes) and E(N)."""

    label: str
    framework: str
    ranks: tuple[int, ...]
    images_per_s: tuple[float, ...]
    efficiency: tuple[float | None, ...]  # None where N = 1 or no one-rank cell


def scaling_chart(path: Path, series: Sequence[ScalingSeries], *, title: str, caption: str) -> Path:
    """Two panels against the number of ranks: global images/s, and scaling efficiency E(N) (with the
    ideal, 1, as a dashed line); one line per cell, in its framework's colour."""
    with default_style():
        fig = Figure(figsize=(9.0, 3.6), dpi=DPI)
        thr, eff = fig.subplots(1, 2)
        markers = "osd^v<>"
        for i, s in enumerate(series):
            style = {"color": framework_colour(s.framework), "marker": markers[i % len(markers)],
                     "label": s.label}
            thr.plot(s.ranks, s.images_per_s, **style)
            pts = [(n, e) for n, e in zip(s.ranks, s.efficiency, strict=True) if e is not None]
            if pts:
                eff.plot([n for n, _ in pts], [e for _, e in pts], **style)
        ranks = sorted({n for s in series for n in s.ranks})
        for ax, ylabel in ((thr, "images / s (global)"), (eff, "E(N) = images/s(N) / (N × images/s(1))")):
            ax.set_xlabel("ranks (N)")
            ax.set_ylabel(ylabel, fontsize=8)
            ax.set_xticks(ranks)
            ax.grid(True, alpha=0.3)
        eff.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        eff.set_ylim(bottom=0)
        thr.set_ylim(bottom=0)
        thr.legend(fontsize=7, loc="best")
        fig.suptitle(title, fontsize=10)
        fig.text(0.5, 0.01, caption, ha="center", fontsize=7)
        fig.tight_layout(rect=(0, 0.05, 1, 0.95))
        return save_png(fig, path)
