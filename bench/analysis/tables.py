"""What the stored runs say, as tables and plain records (pandas only; no Markdown, no figures).

    comparison_frame   every cell's summary (bench.analysis.aggregate: its processes combined) with its
    speed-up
                       over eager and its ratio to the other frameworks, each with a 95% CI
    notes              what a reader must know: missing, skipped, failed, partial, noisy or unsteady
                       cells, fractions above the measured peak...

The headline (each framework's best shipped-default and best tuned configuration) is in
bench.analysis.headline, loss-curve parity in bench.analysis.parity. Groups hold every axis but the compared
ones equal
(``bench.labels.GROUP_AXES``), within one run. Ratios come from ``bench.stats.median_ratio_ci``:
the ratio of the two medians printed, with a 95% t interval from the per-block log ratios (a block
holds every cell of one model once, so two cells of a model in one block ran side by side), widened
for a ratio of medians.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bench.analysis.aggregate import cell_summaries
from bench.analysis.parity import Parity
from bench.analysis.spread import prior_key, priors_of_rows
from bench.frameworks.registry import framework_names, get_framework
from bench.labels import (
    GROUP_AXES,
    SORT_AXES,
    eager_mode,
    framework_order,
    is_shipped_default,
    model_order,
    sort_rank,
)
from bench.markdown import truncate
from bench.results.load import RunSet
from bench.stats import B_FASTER, RatioCI, SpreadPrior, median_ratio_ci, num
from bench.vocab import BAD_STATUSES

KEY = ["run_id", *GROUP_AXES]
DRIFT_LIMIT = 0.10  # |step_time_drift| above this: the timed steps were not yet steady
NOISY_CV = 0.10  # a cell whose within- or between-process CV exceeds this gets a note


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict(orient="records") if not df.empty else []


def sort_cells(df: pd.DataFrame, run_ids: Sequence[str]) -> pd.DataFrame:
    """Rows in reading order: the group axes, the compared axes, then the run (bench.labels)."""
    if df.empty:
        return df
    rows = records(df)
    models = model_order(df["model"])
    keys = pd.DataFrame(
        {
            **{f"_{a}": [sort_rank(a, r, models) for r in rows] for a in SORT_AXES},
            "_run": [run_ids.index(r) if r in run_ids else len(run_ids) for r in df["run_id"]],
            "_id": df["cell_id"].to_numpy(),
        },
        index=df.index,
    )
    order = keys.sort_values(list(keys.columns), kind="stable").index
    return df.loc[order]


def timed(row: dict[str, Any]) -> bool:
    return row.get("status") == "ok" and num(row.get("step_time_median_s")) is not None


def compare(a: dict[str, Any], b: dict[str, Any], candidates: int = 1) -> RatioCI | None:
    """B's median step time over A's (> 1: A faster; the medians the reports print), its interval
    paired by schedule block, moderated by the run's pooled spread (the rows' ``spread_prior``,
    bench.analysis.spread) and Bonferroni-widened for ``candidates``; None when either is missing."""
    if not (timed(a) and timed(b)):
        return None
    if a.get("run_id") == b.get("run_id") and a.get("cell_id") == b.get("cell_id"):
        return RatioCI(1.0, None, None, int(a.get("n_ok") or 1), "same cell")
    prior = a.get("spread_prior") if a.get("run_id") == b.get("run_id") else None
    return median_ratio_ci(a["process_medians"], b["process_medians"], candidates=candidates,
                           prior=prior if isinstance(prior, SpreadPrior) else None)


def fastest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    have = [r for r in rows if timed(r)]
    return min(have, key=lambda r: r["step_time_median_s"]) if have else None


def _eager_reference(row: dict[str, Any], group: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The same framework's eager cell: same variant, else the default variant."""
    fw = row["framework"]
    eager = [r for r in group if r["framework"] == fw and r["mode"] == eager_mode(fw) and timed(r)]
    return next((r for r in eager if r["variant"] == row["variant"]), None) or next(
        (r for r in eager if r["variant"] == "default"), None)


def comparison_frame(runs: RunSet) -> pd.DataFrame:
    """The cells of all runs, one row per cell (bench.analysis.aggregate.cell_summaries), plus:

    eager_step_s / eager_first_s / eager_steady_s   the same framework's eager cell (same variant,
                                                    else the default variant)
    speedup_vs_eager, speedup_ci    eager step time / this one, with its RatioCI
    other_best_s, other_best_id     the other framework(s)' fastest ok shipped-default-variant cell
                                    (any mode; same device, precision and batch)
    vs_other_best, vs_other_ci      other_best_s / this one (> 1: this cell is faster), with its RatioCI
    spread_prior                    the run's pooled between-process spread of the cell's scenario
                                    (bench.analysis.spread), which every ratio's interval is moderated by
    """
    cells = runs.cells if runs.cells is not None else pd.DataFrame()
    df = cell_summaries(cells, runs.steps)
    if df.empty:
        return df
    rows = records(df.reset_index(drop=True))
    priors = priors_of_rows(rows)
    for r in rows:
        r["spread_prior"] = priors.get(prior_key(r))
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in KEY), []).append(r)
    extra: list[dict[str, Any]] = []
    for r in rows:
        group = groups[tuple(r[k] for k in KEY)]
        e = _eager_reference(r, group) if timed(r) else None
        speed = compare(r, e) if e is not None else None
        others = [o for o in group if o["framework"] != r["framework"] and o["variant"] == "default"]
        best = fastest(others)
        vs = compare(r, best) if best is not None else None
        extra.append({
            "spread_prior": r["spread_prior"],
            "eager_step_s": e and e["step_time_median_s"],
            "eager_first_s": e and e.get("time_to_first_step_s"),
            "eager_steady_s": e and e.get("time_to_steady_state_s"),
            "speedup_vs_eager": speed.ratio if speed else np.nan,
            "speedup_ci": speed,
            "other_best_s": best["step_time_median_s"] if best else np.nan,
            "other_best_id": best["cell_id"] if best else None,
            "vs_other_best": vs.ratio if vs else np.nan,
            "vs_other_ci": vs,
        })
    out = pd.concat([df.reset_index(drop=True), pd.DataFrame(extra)], axis=1)
    for col in ("eager_step_s", "eager_first_s", "eager_steady_s"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return sort_cells(out, runs.run_ids)


def frameworks_shown(table: pd.DataFrame) -> list[str]:
    """Frameworks that get a column: every registered one, and any other found in the data."""
    present = set(table["framework"]) if not table.empty else set()
    return framework_order(set(framework_names()) | present)


def shipped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if is_shipped_default(r)]


# --------------------------------------------------------------------------- notes


@dataclass
class Note:
    """One thing a reader must know. ``kind`` says which; the other fields are what it needs."""

    kind: str  # missing | missing_processes | empty_run | skipped | problem | partial | noisy
    #            | noisy_between | unsteady | recompiled | compile_warnings | above_peak | diverged
    #            | framework (a framework's note on its defaults) | slower_compiled
    row: dict[str, Any] | None = None  # the cell concerned
    rows: list[dict[str, Any]] = field(default_factory=list)  # the cells concerned (skipped)
    run_id: str | None = None
    cell_ids: list[str] = field(default_factory=list)  # missing cells / processes
    text: str = ""  # skip reason (truncated), compile warnings
    value: float | None = None  # CV, drift, number of recompiles, fraction of peak
    parity: Parity | None = None


def _missing_processes(meta: dict[str, Any], present: set[tuple[str, int]], cells: set[str]) -> list[str]:
    """Scheduled processes of cells that have results but lack this one ("cell_id r<k>")."""
    sched = meta.get("schedule")
    if not isinstance(sched, list):
        return []
    out = []
    for e in sched:
        if isinstance(e, dict) and e.get("cell_id") in cells:
            rep = int(num(e.get("repeat")) or 1)
            if (e["cell_id"], rep) not in present:
                out.append(f"{e['cell_id']} r{rep}")
    return out


def notes(runs: RunSet, table: pd.DataFrame, parity: list[Parity]) -> list[Note]:
    out: list[Note] = []
    rows = records(table)
    for r in runs.runs:
        present = set(r.cells["cell_id"]) if not r.cells.empty else set()
        missing = [c for c in r.meta.get("cells_planned", []) if c not in present]
        if missing:
            out.append(Note("missing", run_id=r.run_id, cell_ids=sorted(missing)))
        if not r.cells.empty:
            reps = r.cells["repeat"].fillna(1) if "repeat" in r.cells else pd.Series(1, index=r.cells.index)
            have = {(str(c), int(k)) for c, k in zip(r.cells["cell_id"], reps, strict=True)}
            lost = _missing_processes(r.meta, have, present)
            if lost:
                out.append(Note("missing_processes", run_id=r.run_id, cell_ids=lost))
        if r.cells.empty:
            out.append(Note("empty_run", run_id=r.run_id))
    skipped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] == "skipped":
            skipped.setdefault(truncate(row.get("reason") or "no reason given"), []).append(row)
    out += [Note("skipped", rows=cells, text=reason) for reason, cells in skipped.items()]
    for row in rows:
        status, ok = row["status"], row["status"] == "ok"
        if status in BAD_STATUSES:
            out.append(Note("problem", row=row))
        if ok and row.get("partial"):
            out.append(Note("partial", row=row))
        cv = num(row.get("within_process_cv"))
        if ok and cv is not None and cv > NOISY_CV:
            out.append(Note("noisy", row=row, value=cv))
        bcv = num(row.get("between_process_cv"))
        if ok and bcv is not None and bcv > NOISY_CV:
            out.append(Note("noisy_between", row=row, value=bcv))
        drift = num(row.get("step_time_drift"))
        if ok and drift is not None and abs(drift) > DRIFT_LIMIT:
            out.append(Note("unsteady", row=row, value=drift))
        rec = num(row.get("recompiles"))
        if rec is not None and rec > 0:
            out.append(Note("recompiled", row=row, value=rec))
        warns = row.get("compile_warnings")
        if isinstance(warns, list) and warns:
            out.append(Note("compile_warnings", row=row, text="; ".join(map(str, warns))))
        if ok and row.get("above_peak"):
            out.append(Note("above_peak", row=row, value=num(row.get("fraction_of_peak"))))
    out += _framework_notes(rows)
    out += [Note("diverged", parity=p) for p in parity if not p.within_tolerance]
    return out


def _framework_notes(rows: list[dict[str, Any]]) -> list[Note]:
    """The frameworks' own notes on their defaults (once per framework and device), and why a compiled
    mode measured slower than eager (``slower_compiled`` beside each such cell)."""
    out: list[Note] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        if row["status"] != "ok" or row["framework"] not in framework_names():
            continue
        desc = get_framework(row["framework"])
        key = (str(row["framework"]), str(row["device"]))
        text = desc.report_notes.get(key[1])
        if text and key not in seen:
            seen.add(key)
            out.append(Note("framework", row=row, text=text))
        speed = row.get("speedup_ci")
        if desc.compiles(row["mode"]) and isinstance(speed, RatioCI) and speed.verdict == B_FASTER:
            out.append(Note("slower_compiled", row=row, value=speed.ratio,
                            text=desc.slower_compiled_notes.get(key[1], "")))
    return out
