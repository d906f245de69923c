"""The sequential phase of an A/B run (``bench compare``): more ABBA pairs for each cell still undecided.

After the planned R pairs, every comparison is judged (bench.analysis.ab). One whose pass/fail is not
settled yet gets one more pair of processes, next to each other in the ABBA order of its pair number,
in a new block after the others; then all are judged again. "Settled" means the verdict is decided
(B slower, B faster, or no change within the zone) or the cell can no longer fail: its interval's
upper end lies under 1 + ``fail_on``. So a real slowdown gets the pairs it needs to be told from the
machine's noise, and an unchanged cell stops as soon as it cannot be read as a regression.

A comparison stops as "settled", "cap" (``cap`` pairs added), "budget" (the next pair's estimated time,
bench.plan.estimates from this run's own processes, would pass the deadline), or "no pair" (a side
has no ok process, or B failed where A ran: the verdict already says so).

Looking again after each pair (optional stopping) is not corrected for in the interval: it is the
±margin zone between "no change" and "B slower by more than ``fail_on``" that keeps an unchanged cell
from failing, and the calibration (reports/calibration/ab/) measures how often it does.

run.json records what happened under ``ab.adaptive`` (the cap, and per comparison the pairs added,
its final verdict and why it stopped); the added processes are appended to its ``schedule`` before they
run, and the layout allows their repeat numbers (2 per pair, bench.results.layout.max_repeat).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.analysis.ab import AbCell, analyse
from bench.plan.ab_plan import AbSlot, Pair, pair_slots
from bench.plan.adaptive import own_timings
from bench.plan.estimates import process_seconds
from bench.results.load import read_process_results, read_run_meta
from bench.results.records import RunSettings
from bench.results.slots import Slot, schedule_entries, slots_from_entries
from bench.results.write import update_run_meta

__all__ = ["DEFAULT_AB_CAP", "run_sequential", "settled"]

DEFAULT_AB_CAP = 6  # pairs added per comparison at most (calibrated with 4 planned: README, A/B or history?)
SETTLED, CAP, BUDGET, NO_PAIR = "settled", "cap", "budget", "no pair"


def settled(c: AbCell, fail_on: float) -> bool:
    """Whether one more pair could change this comparison's pass/fail (module doc)."""
    if c.kind != "inconclusive":
        return True
    return c.high is not None and c.high < 1 + fail_on


def _next_pair(pair: Pair, schedule: Sequence[Slot]) -> int:
    """The number of the comparison's next pair (its processes are 2p − 1 for A and 2p for B)."""
    top = max((s.repeat for s in schedule if s.cell in (pair.a, pair.b)), default=0)
    return (top + 1) // 2 + 1


def run_sequential(run_dir: Path, pairs: Sequence[Pair], by_model: Mapping[str, RunSettings], *,
                   cap: int, deadline: float | None, margin: float, fail_on: float,
                   run_slots: Callable[[list[AbSlot]], None],
                   clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """The sequential phase (module doc): runs the added pairs with ``run_slots`` (in order) and returns
    run.json's ``ab.adaptive`` record (also written there). ``deadline``: on ``clock``; None: no limit."""
    started = clock()
    added = {p.key: 0 for p in pairs}
    stopped: dict[str, str] = {}
    record: dict[str, Any] = {"cap_pairs": cap, "margin": margin, "fail_on": fail_on}
    while True:
        verdicts = {c.key: c for c in analyse(run_dir, margin=margin, fail_on=fail_on).cells}
        past = own_timings(read_process_results(run_dir))
        meta = read_run_meta(run_dir)
        schedule = slots_from_entries(meta.get("schedule") or [])
        block = max((s.block for s in schedule if s.block is not None), default=-1) + 1
        todo: list[AbSlot] = []
        t = clock()
        for pair in pairs:
            c = verdicts.get(pair.key)
            if pair.key in stopped:
                continue
            if c is None or c.kind == "failed" or c.ratio is None:
                stopped[pair.key] = NO_PAIR
            elif settled(c, fail_on):
                stopped[pair.key] = SETTLED
            elif added[pair.key] >= cap:
                stopped[pair.key] = CAP
            if pair.key in stopped:
                continue
            new = pair_slots(pair, _next_pair(pair, schedule), block, len(schedule) + len(todo))
            need = sum(process_seconds(x.slot.cell, by_model[x.slot.cell.model], x.slot.repeat, past)
                       for x in new)
            if deadline is not None and t + need > deadline:
                stopped[pair.key] = BUDGET
                continue
            t += need
            todo += new
            block += 1
            added[pair.key] += 1
        record["comparisons"] = [_entry(p, added[p.key], verdicts.get(p.key), stopped.get(p.key))
                                 for p in pairs]
        record["seconds"] = round(clock() - started, 1)
        ab = {**(meta.get("ab") or {}), "adaptive": record}
        if not todo:
            update_run_meta(run_dir, ab=ab)
            return record
        update_run_meta(run_dir, ab=ab, schedule=schedule_entries([*schedule, *(x.slot for x in todo)]))
        print(f"compare: {len(todo) // 2} comparison(s) not settled: {len(todo)} more process(es), in ABBA "
              "pairs", file=sys.stderr, flush=True)
        run_slots(todo)


def _entry(pair: Pair, added: int, c: AbCell | None, stopped: str | None) -> dict[str, Any]:
    return {"key": pair.key, "added_pairs": added, "pairs": len(c.a_s) if c else 0,
            "verdict": c.verdict if c else "no result", "stopped": stopped or "running"}
