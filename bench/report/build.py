"""Markdown reports regenerated from stored runs alone (``python -m bench report``).

Everything here is a pure function of the stored results (bench.results.load.load_runs): nothing is re-run
and nothing about the report run itself (clock, paths, host) enters the output, so the same runs
give byte-identical Markdown and figures. The runs are only read; everything is written under ``out``.
The analysis is in bench.analysis.tables and bench.analysis.parity, the pages in bench.report.pages, the
Markdown helpers in
bench.markdown and the drawings in bench.report.plots.

Output (``out`` defaults to reports/):
    out/README.md          front page: headline, per-model links, runs, conditions, environment, notes
    out/<model>.md         comparison table, spread, loss-curve parity, charts, conditions, failures
    out/figures/*.png      throughput, memory and loss-parity figures
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import BenchError
from bench.results.find import latest_run
from bench.results.load import RunSet, load_runs
from bench.results.paths import inside
from bench.results.write import atomic_write_text

if TYPE_CHECKING:
    from bench.report.pages.figures import Draw

# The analysis and the pages (pandas, matplotlib) are imported once the runs have loaded: a corrupt
# run is refused in a fraction of the time.


@dataclass
class Report:
    pages: dict[str, str]  # relative path -> Markdown
    figures: dict[str, Draw]  # relative path -> drawing


def build_report(runs: RunSet) -> Report:
    from bench.analysis.parity import loss_parity
    from bench.analysis.tables import comparison_frame, frameworks_shown, records
    from bench.labels import model_order
    from bench.report.pages.figures import name_parity_figures, parity_drawing
    from bench.report.pages.front import front_page
    from bench.report.pages.model import model_page

    if not runs.runs:
        raise BenchError("no runs to report on")
    multi = len(runs.runs) > 1
    table = comparison_frame(runs)
    parity = loss_parity(runs, table)
    name_parity_figures(parity, multi)
    models = model_order(table["model"]) if not table.empty else []
    frameworks = frameworks_shown(table)
    pages: dict[str, str] = {}
    figures: dict[str, Draw] = {}
    for model in models:
        rows = records(table[table["model"] == model])
        mine = [p for p in parity if p.model == model]
        page, figs = model_page(model, rows, mine, runs, frameworks, multi)
        pages[f"{model}.md"] = page
        figures.update(figs)
    figures.update({p.figure: parity_drawing(p, multi) for p in parity})
    pages["README.md"] = front_page(runs, table, parity, models, frameworks, multi)
    return Report(pages=pages, figures=figures)


def resolve_runs(
    paths: Sequence[str | Path] | None, runs_root: Path = Path("reports") / "runs"
) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    latest = latest_run(runs_root)
    if latest is None:
        raise BenchError(
            f"no stored runs under {runs_root}; run `python -m bench all` first or pass --runs DIR"
        )
    return [latest]


def write_report(run_dirs: Sequence[str | Path], out: str | Path = "reports", *,
                 loaded: RunSet | None = None) -> list[Path]:
    """Load the runs (unless the caller ``loaded`` them already), write the Markdown pages and figures
    under ``out``; returns the files written.

    Only ``out`` is written: the runs are read, never modified, and every page and figure path is
    checked to lie inside ``out`` (names come from stored data) before anything is written.
    """
    out = Path(out)
    report = build_report(loaded if loaded is not None else load_runs(run_dirs))
    from bench.report.pages.figures import FIGURE_PATTERNS, FIGURES_DIR

    pages = {inside(out, out / rel): text for rel, text in sorted(report.pages.items())}
    figures = {inside(out, out / rel): draw for rel, draw in sorted(report.figures.items())}
    written: list[Path] = []
    for path, text in pages.items():
        written.append(atomic_write_text(path, text, within=out))
    for path, draw in figures.items():
        inside(out, path.parent)  # the figures directory may have been made a link since the check
        written.append(draw(path))
    # Figures of cells that no longer exist would linger and mislead; ours follow fixed name patterns.
    keep = set(figures)
    fig_dir = out / FIGURES_DIR
    if fig_dir.is_dir():
        inside(out, fig_dir)
        for pattern in FIGURE_PATTERNS:
            for p in fig_dir.glob(pattern):
                if p not in keep and p.is_file():
                    p.unlink()
    return written
