"""Step-time trend of one machine (``python -m bench history``): per-cell trends across its stored
runs, marking the runs where the regression gate saw a change.

Everything here is a function of the stored runs alone; nothing is written into a run. The runs of
one machine (bench.host.machine.machine_fingerprint of their environment) are ordered by created_at,
then run id. Each run is gated, exactly as ``python -m bench gate`` would gate it, against a history
baseline of the up to K (``window``) runs before it in its segment:

    compare(baseline_of_entries(run_entry(r) for r in those runs), baseline_cells(run), run.env, ...)

A segment is a stretch of consecutive runs the gate may compare: when the gate refuses a run
(different measurement settings, no cell in common: bench.gate.rules.compare raises BenchError), that
run starts a new segment and its history starts again from it. The first run of a segment has no
history, hence no marker. Markers, per cell and run:

- ▲ regression: the gate's verdict for the cell is "fail" (any of its rules: step time, throughput,
  memory, time to first step, or ok → failed/timeout/oom/diverged);
- ▼ improvement: the step time is lower than the history's by more than the gate's step-time
  threshold (its step_time check's change < −threshold). The threshold alone decides: the gate
  has no noise test for getting faster.

The step time shown is the run's median of its process medians (bench.gate.single_run.run_step_time).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError
from bench.labels import SORT_AXES, cell_label, model_order, sort_rank
from bench.markdown import MISSING, fmt_ms, join_words, md_escape, md_table

if TYPE_CHECKING:
    from bench.results.load import RunData

REGRESSION = "regression"
IMPROVEMENT = "improvement"
SYMBOLS = {REGRESSION: "▲", IMPROVEMENT: "▼"}
DEFAULT_WINDOW = 5
HISTORY_FILE = "history.md"
FIGURES_DIR = "figures"
FIGURE_PREFIX = "trend__"

Draw = Callable[[Path], Path]


@dataclass
class RunPoint:
    """One run of the trend and what the gate said about it."""

    run_id: str
    created_at: str
    commit: str | None
    cells: dict[str, dict[str, Any]]  # cell_id -> its summary (bench.gate.baseline.baseline_cells)
    markers: dict[str, str] = field(default_factory=dict)  # cell_id -> REGRESSION | IMPROVEMENT
    compared_with: int = 0  # runs in its history baseline; 0: the first run of a segment
    new_segment: bool = False  # a later run the gate could not compare with the runs before it
    note: str = ""  # why it starts a new segment


@dataclass
class Trend:
    """The step-time trend of one machine's runs (what ``python -m bench history`` writes); each run's
    gate history is the up to ``window`` runs before it."""

    fingerprint: str
    description: str
    window: int
    step_threshold: float
    runs: list[RunPoint]

    @property
    def segment_starts(self) -> list[int]:
        return [i for i, r in enumerate(self.runs) if r.new_segment]


# --------------------------------------------------------------------------- loading


def _order(run: RunData) -> tuple[str, str]:
    return (str(run.meta.get("created_at") or ""), str(run.run_id))


def machine_runs(
    runs_dir: str | Path, machine: str | None = None, warn: Callable[[str], None] | None = None
) -> tuple[str, list[RunData]]:
    """(machine fingerprint, its runs, oldest first) of the runs under ``runs_dir``. ``machine``
    defaults to the newest run's. A run that does not load is skipped with a warning; BenchError
    when no run (of that machine) is left."""
    from bench.host.machine import machine_fingerprint
    from bench.results.find import list_runs
    from bench.results.load import load_run

    loaded = []
    for path in list_runs(runs_dir):
        try:
            loaded.append(load_run(path))
        except (BenchError, OSError) as e:
            if warn is not None:
                warn(f"warning: skipping run {path}: {' '.join(str(e).split())}")
    if not loaded:
        raise BenchError(f"no stored runs under {runs_dir}; run `python -m bench all` first "
                         "or pass --runs-dir DIR")
    loaded.sort(key=_order)
    fps = [machine_fingerprint(r.env) for r in loaded]
    machine = machine or fps[-1]
    mine = [r for r, fp in zip(loaded, fps, strict=True) if fp == machine]
    if not mine:
        raise BenchError(f"no runs of machine {machine} under {runs_dir} (its runs are of "
                         f"{join_words(sorted(set(fps)))})")
    return machine, mine


# --------------------------------------------------------------------------- the gate over the runs


def _note(e: BenchError) -> str:
    # The gate's refusal suggests --force, which means nothing here: keep what differs.
    return " ".join(str(e).split(" — ")[0].split())


def mark_run(point: RunPoint, result: Any, step_threshold: float) -> None:
    """The markers of one run from its GateResult."""
    for v in result.verdicts:
        step = v.checks.get("step_time")
        if v.verdict == "fail":
            point.markers[v.cell_id] = REGRESSION
        elif step is not None and step.change is not None and step.change < -step_threshold:
            point.markers[v.cell_id] = IMPROVEMENT


def build_trend(runs: Sequence[RunData], *, window: int = DEFAULT_WINDOW,
                cfg: dict[str, Any] | None = None) -> Trend:
    """The step-time trend of these runs (one machine's, oldest first): each gated against the up to
    ``window`` runs before it in its segment (module doc)."""
    from bench.gate import load_config
    from bench.gate.baseline import baseline_of_entries, run_entry
    from bench.gate.rules import compare
    from bench.host.machine import machine_description, machine_fingerprint

    if window < 1:
        raise BenchError(f"--window must be >= 1 (got {window})")
    if not runs:
        raise BenchError("no runs to chart")
    cfg = cfg if cfg is not None else load_config()
    threshold = float(cfg["step_time"])
    # Unrounded samples: each run's summaries serve both as the gated run and in later histories.
    entries = [run_entry(r, round_samples=False) for r in runs]
    points: list[RunPoint] = []
    segment: list[int] = []
    for i, run in enumerate(runs):
        git = run.env.get("git") if isinstance(run.env.get("git"), dict) else {}
        commit = git.get("commit")
        summaries = entries[i]["cells"]
        point = RunPoint(str(run.run_id), str(run.meta.get("created_at") or ""),
                         str(commit) if commit else None, summaries)
        points.append(point)
        before = segment[-window:]
        if not before:
            segment = [i]
            continue
        n = len(before)
        try:
            result = compare(baseline_of_entries([entries[j] for j in before]), summaries, run.env,
                             cfg=cfg, run_meta=run.meta, run_label=f"run {run.run_id}",
                             baseline_label=f"the {n} run{'s' if n != 1 else ''} before it")
        except BenchError as e:
            point.new_segment, point.note = True, _note(e)
            segment = [i]
            continue
        segment.append(i)
        point.compared_with = n
        mark_run(point, result, threshold)
    newest = runs[-1]
    return Trend(machine_fingerprint(newest.env), machine_description(newest.env), window, threshold,
                   points)


# --------------------------------------------------------------------------- Markdown


def run_date(created_at: str) -> str:
    """"2025-01-02T03:04:05Z" -> "2025-01-02 03:04"; anything else as stored."""
    m = re.match(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})", created_at)
    return f"{m.group(1)} {m.group(2)}" if m else (created_at or MISSING)


def figure_name(cell_id: str) -> str:
    return f"{FIGURES_DIR}/{FIGURE_PREFIX}" + re.sub(r"[^A-Za-z0-9._-]+", "-", cell_id) + ".png"


def cell_rows(trend: Trend) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """model -> [(cell_id, a summary of it: the newest)], models and cells in report order."""
    latest: dict[str, dict[str, Any]] = {}
    for p in trend.runs:
        latest.update(p.cells)
    models = model_order({str(s.get("model")) for s in latest.values()})
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {m: [] for m in models}
    for cid, s in latest.items():
        out[str(s.get("model"))].append((cid, s))
    for cells in out.values():
        cells.sort(key=lambda c: (tuple(_rank(a, c[1], models) for a in SORT_AXES), c[0]))
    return out


def _rank(axis: str, row: dict[str, Any], models: list[str]) -> tuple[int, str]:
    r = sort_rank(axis, row, models)
    return (r, "") if isinstance(r, int) else (1 << 30, str(r))


def _label(summary: dict[str, Any]) -> str:
    try:
        return cell_label(summary, model=False)
    except (KeyError, TypeError, ValueError):
        return str(summary.get("cell_id") or "?")


def step_s(summary: dict[str, Any] | None) -> float | None:
    """A run's step time of a cell in seconds (median of its process medians); None unless ok."""
    from bench.gate.single_run import run_step_time

    if not summary or summary.get("status") != "ok":
        return None
    return run_step_time(summary)


def entry_text(point: RunPoint, cell_id: str) -> str:
    """A cell's entry for one run: step time in ms (else its status, "–" when absent) and marker."""
    s = point.cells.get(cell_id)
    text = MISSING if s is None else fmt_ms(step_s(s)) if s.get("status") == "ok" else str(s.get("status"))
    mark = point.markers.get(cell_id)
    return f"{text} {SYMBOLS[mark]}" if mark else text


def _charted(trend: Trend, cell_id: str) -> bool:
    return any(step_s(p.cells.get(cell_id)) is not None for p in trend.runs)


def _gate_text(p: RunPoint, labels: dict[str, str]) -> str:
    if p.new_segment:
        return f"new segment, not compared: {p.note}"
    if not p.compared_with:
        return "first run: no history"
    k = p.compared_with
    parts = [f"against {k} run{'s' if k != 1 else ''} before it"]
    for kind in (REGRESSION, IMPROVEMENT):
        cells = sorted(labels.get(c, c) for c, m in p.markers.items() if m == kind)
        what = "faster" if kind == IMPROVEMENT else "regression" if len(cells) == 1 else "regressions"
        parts.append(f"{len(cells)} {what}" + (f" ({', '.join(cells)})" if cells else ""))
    return ": ".join([parts[0], ", ".join(parts[1:])])


def render_markdown(trend: Trend) -> str:
    rows = cell_rows(trend)
    labels = {cid: f"{s.get('model')} {_label(s)}" for cells in rows.values() for cid, s in cells}
    pct = f"{trend.step_threshold * 100:g}%"
    out = [
        f"# Step-time history of machine `{md_escape(trend.fingerprint)}`\n",
        f"{md_escape(trend.description)}. {len(trend.runs)} run(s), oldest first.\n",
        f"Each run is gated (`python -m bench gate`'s rules) against the up to {trend.window} runs "
        "before it that the gate may compare it with (same measurement settings, cells in common); "
        "a run the gate refuses starts a new segment, and the first run of a segment is not gated. "
        "An entry is the cell's step time in ms (the median of its process medians); "
        f"{SYMBOLS[REGRESSION]}: the gate failed the cell (any of its rules); {SYMBOLS[IMPROVEMENT]}: the "
        f"step time is more than {pct} below its history's (threshold alone: the gate has no noise "
        "test for getting faster). Charts: the bar spans the run's fastest to slowest process median; "
        "a dotted line starts a new segment.\n",
        "## Runs\n",
        md_table(["#", "date", "run", "commit", "gate"],
                 [[str(i + 1), run_date(p.created_at), f"`{p.run_id}`",
                   f"`{p.commit[:12]}`" if p.commit else MISSING, _gate_text(p, labels)]
                  for i, p in enumerate(trend.runs)], "rllll"),
    ]
    for model, cells in rows.items():
        out.append(f"## {md_escape(model)}\n")
        out.append(md_table(
            ["cell", *[f"#{i + 1}" for i in range(len(trend.runs))], "chart"],
            [[_label(s), *[entry_text(p, cid) for p in trend.runs],
              f"[png]({figure_name(cid)})" if _charted(trend, cid) else MISSING]
             for cid, s in cells],
            "l" + "r" * len(trend.runs) + "l"))
    return "\n".join(out)


# --------------------------------------------------------------------------- figures and files


def figures(trend: Trend) -> dict[str, Draw]:
    """Relative path -> drawing, one chart per cell."""
    from bench.report.trend_plot import trend_chart

    x_labels = [f"#{i + 1} {run_date(p.created_at)}" for i, p in enumerate(trend.runs)]
    out: dict[str, Draw] = {}
    for cells in cell_rows(trend).values():
        for cid, s in cells:
            summaries = [p.cells.get(cid) for p in trend.runs]
            medians = [[float(v) * 1e3 for v in (c or {}).get("process_medians_s") or [] if v]
                       if step_s(c) is not None else [] for c in summaries]
            values = [step_s(c) for c in summaries]
            if not _charted(trend, cid):
                continue  # never measured (skipped or failed in every run): nothing to draw
            kw = dict(
                title=f"{s.get('model')} {_label(s)}: step time per run",
                framework=str(s.get("framework")),
                x_labels=x_labels,
                values_ms=[None if v is None else v * 1e3 for v in values],
                lows_ms=[min(m) if m else None for m in medians],
                highs_ms=[max(m) if m else None for m in medians],
                markers=[p.markers.get(cid) for p in trend.runs],
                segment_starts=trend.segment_starts,
            )
            out[figure_name(cid)] = lambda path, kw=kw: trend_chart(path, **kw)
    return out


def write_trend(trend: Trend, out: str | Path) -> list[Path]:
    """Write history.md and the charts under ``out`` (and nothing else); charts of cells that are no
    longer in the trend are removed. Returns the files written, history.md first."""
    from bench.results.paths import inside
    from bench.results.write import atomic_write_text

    out = Path(out)
    page = inside(out, out / HISTORY_FILE)
    drawings = {inside(out, out / rel): draw for rel, draw in sorted(figures(trend).items())}
    written = [atomic_write_text(page, render_markdown(trend), within=out)]
    for path, draw in drawings.items():
        inside(out, path.parent)
        written.append(draw(path))
    fig_dir = out / FIGURES_DIR
    if fig_dir.is_dir():
        inside(out, fig_dir)
        for p in sorted(fig_dir.glob(f"{FIGURE_PREFIX}*.png")):
            if p not in drawings and p.is_file():
                p.unlink()
    return written
