"""What the stored runs say, as tables and plain records (pandas only; no Markdown, no figures).

    comparison_frame   every cell with its speed-up over eager and its ratio to the other frameworks
    headlines          per group: each framework's fastest cell, the ranking, what compiling costs
    notes              what a reader must know: missing, skipped, failed, noisy or unsteady cells...

Groups hold every axis but the compared ones equal (``bench.labels.GROUP_AXES``), within one run.
Loss-curve parity is in ``bench.parity``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .frameworks.registry import framework_names
from .labels import GROUP_AXES, SORT_AXES, compiles, eager_mode, framework_order, model_order, sort_rank
from .markdown import truncate
from .parity import Parity
from .stats import num
from .store import RunSet
from .vocab import BAD_STATUSES

KEY = ["run_id", *GROUP_AXES]
DRIFT_LIMIT = 0.10  # |step_time_drift| above this: the timed steps were not yet steady
NOISY_CV = 0.10  # a cell whose step-time CV exceeds this gets a note


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


def comparison_frame(runs: RunSet) -> pd.DataFrame:
    """The cells of all runs plus derived columns (within each run only):

    eager_step_s       median step time of the same framework's eager mode (same variant, else default)
    eager_first_s      its time to first step
    speedup_vs_eager   eager_step_s / step_time_median_s
    other_best_s       fastest ok cell of the other framework(s), any mode/variant, same group
    vs_other_best      other_best_s / step_time_median_s  (> 1: this cell is faster)
    """
    df = runs.cells.copy() if runs.cells is not None else pd.DataFrame()
    if df.empty:
        return df
    df = df.reset_index(drop=True)
    df["_row"] = np.arange(len(df))
    ok = df[df["status"] == "ok"]
    is_eager = [m == eager_mode(f) for f, m in zip(ok["framework"], ok["mode"], strict=True)]
    eager = ok[np.asarray(is_eager, dtype=bool)]
    same = eager[[*KEY, "framework", "variant", "step_time_median_s", "time_to_first_step_s"]].rename(
        columns={"step_time_median_s": "_e_s", "time_to_first_step_s": "_e_first_s"}
    )
    default = eager[eager["variant"] == "default"][
        [*KEY, "framework", "step_time_median_s", "time_to_first_step_s"]
    ].rename(columns={"step_time_median_s": "_ed_s", "time_to_first_step_s": "_ed_first_s"})
    df = df.merge(same, on=[*KEY, "framework", "variant"], how="left")
    df = df.merge(default, on=[*KEY, "framework"], how="left")
    df["eager_step_s"] = df["_e_s"].where(df["_e_s"].notna(), df["_ed_s"])
    df["eager_first_s"] = df["_e_first_s"].where(df["_e_first_s"].notna(), df["_ed_first_s"])
    is_ok = df["status"] == "ok"
    df["speedup_vs_eager"] = (df["eager_step_s"] / df["step_time_median_s"]).where(is_ok)

    best = (
        ok.groupby([*KEY, "framework"], as_index=False)["step_time_median_s"]
        .min()
        .rename(columns={"framework": "_ofw", "step_time_median_s": "_obest"})
    )
    pairs = df[[*KEY, "framework", "_row"]].merge(best, on=KEY, how="inner")
    pairs = pairs[pairs["_ofw"] != pairs["framework"]]
    other = pairs.groupby("_row")["_obest"].min()
    df["other_best_s"] = df["_row"].map(other).astype(float)
    df["vs_other_best"] = (df["other_best_s"] / df["step_time_median_s"]).where(is_ok)
    df = df.drop(columns=["_e_s", "_e_first_s", "_ed_s", "_ed_first_s"])
    return sort_cells(df, runs.run_ids)


def frameworks_shown(table: pd.DataFrame) -> list[str]:
    """Frameworks that get a column: every registered one, and any other found in the data."""
    present = set(table["framework"]) if not table.empty else set()
    return framework_order(set(framework_names()) | present)


# --------------------------------------------------------------------------- headline


def fastest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    timed = [r for r in rows if num(r.get("step_time_median_s")) is not None]
    return min(timed, key=lambda r: r["step_time_median_s"]) if timed else None


@dataclass
class CompileCost:
    """Time to first step of a framework's fastest compiled mode, against its eager mode."""

    framework: str
    mode: str
    first_s: float
    eager_first_s: float | None  # None: no eager cell to compare with
    payback_steps: int | None = None  # steps after which the faster steps repay the compilation
    never_repaid: bool = False  # the compiled mode is not faster than eager

    @property
    def extra_s(self) -> float:
        return 0.0 if self.eager_first_s is None else max(self.first_s - self.eager_first_s, 0.0)


def compile_cost(rows: list[dict[str, Any]], fw: str) -> CompileCost | None:
    best = fastest([r for r in rows if r["framework"] == fw and compiles(fw, r["mode"])])
    if best is None:
        return None
    first, eager_first = num(best.get("time_to_first_step_s")), num(best.get("eager_first_s"))
    if first is None:
        return None
    cost = CompileCost(fw, str(best["mode"]), first, eager_first)
    if eager_first is None:
        return cost
    extra = first - eager_first
    eager_step, step = num(best.get("eager_step_s")), num(best.get("step_time_median_s"))
    if eager_step is not None and step is not None and eager_step > step and extra > 0:
        cost.payback_steps = math.ceil(extra / (eager_step - step))
    elif eager_step is not None and step is not None and eager_step <= step:
        cost.never_repaid = True
    return cost


@dataclass
class Headline:
    key: dict[str, Any]  # run_id and the group axes
    fastest: dict[str, dict[str, Any] | None]  # framework (every one shown) -> its fastest ok cell
    costs: list[CompileCost]

    @property
    def ranking(self) -> list[tuple[str, dict[str, Any]]]:
        """Measured frameworks, fastest first."""
        have = [(fw, r) for fw, r in self.fastest.items() if r is not None]
        return sorted(have, key=lambda kv: kv[1]["step_time_median_s"])


def headlines(table: pd.DataFrame) -> list[Headline]:
    out: list[Headline] = []
    if table.empty:
        return out
    shown = frameworks_shown(table)
    ok = table[table["status"] == "ok"]
    for key, group in ok.groupby(KEY, sort=False):
        rows = records(group)
        best = {fw: fastest([r for r in rows if r["framework"] == fw]) for fw in shown}
        costs = [c for fw in shown if (c := compile_cost(rows, fw))]
        out.append(Headline(dict(zip(KEY, key, strict=True)), best, costs))
    return out


# --------------------------------------------------------------------------- notes


@dataclass
class Note:
    """One thing a reader must know. ``kind`` says which; the other fields are what it needs."""

    kind: str  # missing | empty_run | skipped | problem | noisy | unsteady | recompiled | compile_warnings
    #            | diverged
    row: dict[str, Any] | None = None  # the cell concerned
    rows: list[dict[str, Any]] = field(default_factory=list)  # the cells concerned (skipped)
    run_id: str | None = None
    cell_ids: list[str] = field(default_factory=list)  # missing cells
    text: str = ""  # skip reason (truncated), compile warnings
    value: float | None = None  # CV, drift, number of recompiles
    parity: Parity | None = None


def notes(runs: RunSet, table: pd.DataFrame, parity: list[Parity]) -> list[Note]:
    out: list[Note] = []
    rows = records(table)
    for r in runs.runs:
        present = set(r.cells["cell_id"]) if not r.cells.empty else set()
        missing = [c for c in r.meta.get("cells_planned", []) if c not in present]
        if missing:
            out.append(Note("missing", run_id=r.run_id, cell_ids=sorted(missing)))
        if r.cells.empty:
            out.append(Note("empty_run", run_id=r.run_id))
    skipped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] == "skipped":
            skipped.setdefault(truncate(row.get("reason") or "no reason given"), []).append(row)
    out += [Note("skipped", rows=cells, text=reason) for reason, cells in skipped.items()]
    for row in rows:
        status = row["status"]
        if status in BAD_STATUSES:
            out.append(Note("problem", row=row))
        cv = num(row.get("step_time_cv"))
        if status == "ok" and cv is not None and cv > NOISY_CV:
            out.append(Note("noisy", row=row, value=cv))
        drift = num(row.get("step_time_drift"))
        if status == "ok" and drift is not None and abs(drift) > DRIFT_LIMIT:
            out.append(Note("unsteady", row=row, value=drift))
        rec = num(row.get("recompiles"))
        if rec is not None and rec > 0:
            out.append(Note("recompiled", row=row, value=rec))
        warns = row.get("compile_warnings")
        if isinstance(warns, list) and warns:
            out.append(Note("compile_warnings", row=row, text="; ".join(map(str, warns))))
    out += [Note("diverged", parity=p) for p in parity if not p.within_tolerance]
    return out
