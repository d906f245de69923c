"""The adaptive phase of a run: more pairs for each headline comparison still "inconclusive".

After the planned processes (R pairs per comparison, bench.plan.schedule), each headline comparison
(bench.analysis.comparisons) is decided on its paired processes: ``median_ratio_ci(A, B).decision(MARGIN)``
(A faster / B faster beyond ±5%, tie inside it, else inconclusive). While one is inconclusive, fewer
than ``cap`` pairs were added to it, and the next pair's estimated time (bench.plan.estimates, from this
run's own processes where they tell) fits before the deadline (the profile's time budget from the
run's start, less ``REPORT_RESERVE_S`` for the report), it gets one more pair: its two processes next
to each other, in the ABBA order of its pair number, in a new block after the planned ones
(``bench.plan.schedule.extra_block``). Each round adds a pair to every comparison that qualifies, then all
are decided again. A comparison stops as "decided", "cap", "budget", "futile" (``can_decide``: even
the pairs left under the cap, at the spread seen so far, could not take its interval clear of the
zone's edges, so the budget goes to the comparisons that can still be decided) or "no ratio" (a side has no ok
process); the report prints "inconclusive (n = …)" for one that stopped undecided. The interval is the
headline's: paired, moderated by the run's pooled spread (bench.analysis.spread).

run.json records what happened (``adaptive``: the cap, margin and budget, and per comparison the pairs
added, its final decision and why it stopped); the added processes are appended to its ``schedule``
before they run, so ``--resume`` re-runs one that was lost.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.analysis.spread import prior_of_results
from bench.plan.estimates import PastTimings, process_seconds
from bench.plan.schedule import extra_block
from bench.results.load import read_process_results, read_run_meta
from bench.results.records import CellResult, RunSettings
from bench.results.slots import Slot, schedule_entries, slots_from_entries
from bench.results.write import update_run_meta
from bench.stats import INCONCLUSIVE, MARGIN, RatioCI, median_ratio_ci

__all__ = ["DEFAULT_CAP", "REPORT_RESERVE_S", "group_ratio", "own_timings", "run_adaptive"]

DEFAULT_CAP = 5  # extra pairs per comparison at most
REPORT_RESERVE_S = 45.0  # kept for the report after the last process (quick's reports take ~20-40 s)
DECIDED, CAP, BUDGET, NO_RATIO, FUTILE = "decided", "cap", "budget", "no ratio", "futile"


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _medians(results: Mapping[tuple[str, int], CellResult], cell_id: str) -> dict[Any, float]:
    """The cell's ok processes' medians by schedule block (by repeat where a block is unknown)."""
    out: dict[Any, float] = {}
    for (cid, repeat), r in results.items():
        if cid == cell_id and r.status == "ok" and r.step_time_median_s:
            out[r.block if r.block is not None else f"r{repeat}"] = float(r.step_time_median_s)
    return out


def group_ratio(results: Mapping[tuple[str, int], CellResult], group: Sequence[Any]) -> RatioCI | None:
    """B's median over A's (the group's first two cells) with its paired interval, moderated by the
    run's pooled spread of their scenario, as the headline computes it (bench.stats.median_ratio_ci,
    bench.analysis.spread); None when a side has no ok process."""
    a, b = (_medians(results, c.cell_id) for c in group[:2])
    return median_ratio_ci(a, b, prior=prior_of_results(results, group[0].scenario))


def can_decide(ratio: RatioCI, more: int, margin: float = MARGIN) -> bool:
    """Whether ``more`` pairs could still decide the comparison, were the pairs' spread to stay what
    it is: the interval's half-width shrinks by sqrt(n / (n + more)) and by the t quantile of the
    added degrees of freedom; the point is taken as it stands. False: more pairs are futile."""
    from scipy.stats import t as student

    if ratio.low is None or ratio.high is None or ratio.ratio <= 0 or ratio.n < 2 or more < 1:
        return more >= 1
    alpha = (1.0 - ratio.confidence) / max(1, ratio.candidates)
    half = math.log(ratio.high / ratio.ratio)
    df = ratio.df if ratio.df is not None else max(1.0, ratio.n - 1.0)
    q = float(student.ppf(1 - alpha / 2, df + more) / student.ppf(1 - alpha / 2, df))
    h = half * q * math.sqrt(ratio.n / (ratio.n + more))
    lo, hi = ratio.ratio * math.exp(-h), ratio.ratio * math.exp(h)
    return lo > 1 + margin or hi < 1 - margin or (lo >= 1 - margin and hi <= 1 + margin)


def own_timings(results: Mapping[tuple[str, int], CellResult]) -> PastTimings:
    past = PastTimings()
    for r in results.values():
        past.add(r)
    return past


def run_adaptive(run_dir: Path, groups: Sequence[Sequence[Any]], by_model: Mapping[str, RunSettings], *,
                 cap: int, deadline: float | None, budget_s: float | None,
                 run_slots: Callable[[list[Slot]], None],
                 clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """The adaptive phase (module docstring): runs the added pairs with ``run_slots`` (in order) and
    returns run.json's ``adaptive`` record (also written there). ``deadline``: on ``clock``, None for
    no time limit."""
    started = clock()
    added = {i: 0 for i in range(len(groups))}
    stopped: dict[int, str] = {}
    ratios: dict[int, RatioCI | None] = {}
    record: dict[str, Any] = {"cap_pairs": cap, "margin": MARGIN, "budget_s": budget_s}
    while True:
        results = read_process_results(run_dir)
        past = own_timings(results)
        meta = read_run_meta(run_dir)
        schedule = slots_from_entries(meta.get("schedule") or [])
        block = max((s.block for s in schedule if s.block is not None), default=-1) + 1
        todo: list[Slot] = []
        t = clock()
        for i, group in enumerate(groups):
            if i in stopped:
                continue
            ratios[i] = ratio = group_ratio(results, group)
            if ratio is None:
                stopped[i] = NO_RATIO
                continue
            if ratio.decision() != INCONCLUSIVE:
                stopped[i] = DECIDED
                continue
            if added[i] >= cap:
                stopped[i] = CAP
                continue
            if not can_decide(ratio, cap - added[i]):
                stopped[i] = FUTILE
                continue
            pair = 1 + max((s.repeat for s in schedule if s.cell in group), default=0)
            need = sum(process_seconds(c, by_model[c.model], pair, past) for c in group)
            if deadline is not None and t + need > deadline:
                stopped[i] = BUDGET
                continue
            t += need
            todo += extra_block(group, pair, block, len(schedule) + len(todo))
            block += 1
            added[i] += 1
        record["comparisons"] = [_entry(g, added[i], ratios.get(i), stopped.get(i))
                                 for i, g in enumerate(groups)]
        record["seconds"] = round(clock() - started, 1)
        if not todo:
            update_run_meta(run_dir, adaptive=record)
            return record
        # Recorded before they run: the layout allows their repeats (cap) and --resume finds them.
        update_run_meta(run_dir, adaptive=record, schedule=schedule_entries([*schedule, *todo]))
        n = len(todo) // 2
        _say(f"adaptive: {n} comparison(s) still inconclusive: {len(todo)} more process(es), in ABBA pairs")
        run_slots(todo)


def _entry(group: Sequence[Any], added: int, ratio: RatioCI | None, stopped: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"cells": [c.cell_id for c in group], "added_pairs": added,
                           "pairs": ratio.n if ratio else 0,
                           "decision": ratio.decision() if ratio else "no ratio",
                           "stopped": stopped or "running"}
    if ratio is not None:
        out.update(ratio=ratio.ratio, low=ratio.low, high=ratio.high)
    return out
