"""``bench all --shard K/M``: the K-th of M deterministic, balanced slices of a run's planned processes.

M machines (GPU boxes, CI jobs) share one matrix: each plans the whole run exactly as an unsharded run
would (the same cells, schedule and seed), then keeps its slice. The slices are cut from the plan alone,
never from this machine's past runs, so every machine cuts the same ones:

- **Units.** The schedule's blocks (one model's cells in one repeat, bench.plan.schedule) are the units,
  so a block's processes, whose ratios are paired by block, and each headline comparison's ABBA pair
  in it, run on one machine, next to each other, as in an unsharded run. A plan of fewer blocks than M
  is cut into its ABBA pairs (a headline comparison's processes of one repeat) and lone processes
  instead; fewer units than shards is refused.
- **Balance.** Units are dealt largest first to the shard with the least estimated time so far (ties: the
  lower shard), estimated from the frameworks' descriptors (bench.plan.estimates.process_seconds with no
  past timings). Within a shard, processes keep the plan's order, block and order numbers.
- **Skipped cells** are recorded by shard 1 only; the adaptive phase is off (its extra pairs would
  take order numbers past the plan's in every shard at once).

run.json records ``shard``: ``k``, ``m``, ``unit``, ``processes`` (the whole plan's) and ``run_key``,
a SHA-256 of the whole plan (profile, planned cells and their skip reasons, settings per model, schedule,
its seed, headline groups), so that ``bench report --runs`` recognises the shards of one plan and merges
them (bench.report.shards).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError
from bench.plan.estimates import process_seconds
from bench.plan.matrix import PlannedCell
from bench.results.records import Cell, RunSettings
from bench.results.slots import Slot

__all__ = ["ShardPlan", "ShardSpec", "parse_shard", "plan_units", "run_key", "shard_plan"]

BLOCK, PAIR = "block", "pair"


@dataclass(frozen=True)
class ShardSpec:
    """Which slice: the ``k``-th (1-based) of ``m``."""

    k: int
    m: int

    def __str__(self) -> str:
        return f"{self.k}/{self.m}"


def parse_shard(text: str) -> ShardSpec:
    """``K/M`` with 1 <= K <= M; BenchError (one line) otherwise."""
    k_text, sep, m_text = str(text).strip().partition("/")
    try:
        k, m = int(k_text), int(m_text)
    except ValueError:
        k = m = 0
    if not sep or not (1 <= k <= m):
        raise BenchError(f"expected K/M with 1 <= K <= M, e.g. 1/4 (got {text!r})")
    return ShardSpec(k, m)


def plan_units(schedule: Sequence[Slot], groups: Sequence[Sequence[Cell]], by: str) -> list[list[Slot]]:
    """The schedule cut into units, in run order: its blocks (``by`` "block"), or each headline
    comparison's processes of one repeat (adjacent in a block) and every other process alone."""
    units: list[list[Slot]] = []
    if by == BLOCK:
        for slot in schedule:
            if units and units[-1][0].block == slot.block:
                units[-1].append(slot)
            else:
                units.append([slot])
        return units
    group_of = {c: frozenset(g) for g in groups if len(g) > 1 for c in g}
    for slot in schedule:
        last = units[-1] if units else None
        if (last is not None and slot.cell in group_of and group_of.get(last[0].cell) == group_of[slot.cell]
                and last[0].block == slot.block and last[0].repeat == slot.repeat
                and len(last) < len(group_of[slot.cell])):
            last.append(slot)
        else:
            units.append([slot])
    return units


def run_key(profile: str, planned: Sequence[PlannedCell], by_model: Mapping[str, RunSettings],
            schedule: Sequence[Slot], seed: int, groups: Sequence[Sequence[Cell]]) -> str:
    """The whole plan's SHA-256 (hex): equal for every shard of one matrix and its settings."""
    plan = {
        "profile": profile,
        "cells": [[p.cell.cell_id, p.skip_reason] for p in planned],
        "settings_by_model": {m: s.to_dict() for m, s in sorted(by_model.items())},
        "schedule": [s.to_dict() for s in schedule],
        "schedule_seed": seed,
        "headline_groups": [[c.cell_id for c in g] for g in groups],
    }
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def deal(costs: Sequence[float], m: int) -> list[int]:
    """The shard (0-based) of each unit: largest first to the least loaded shard, ties to the lower
    index and the earlier unit, so the result depends on the costs alone."""
    load = [0.0] * m
    out = [0] * len(costs)
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        target = min(range(m), key=lambda j: (load[j], j))
        out[i] = target
        load[target] += costs[i]
    return out


@dataclass(frozen=True)
class ShardPlan:
    """One shard of a planned run: what it runs and records, and what run.json says about it."""

    planned: list[PlannedCell]  # its runnable cells with a process here, and (shard 1) the skipped ones
    schedule: list[Slot]  # its processes, in the plan's order (order and block numbers kept)
    groups: list[tuple[Cell, ...]]  # the headline comparisons whose cells all run here
    meta: dict[str, Any]  # run.json's "shard"
    seconds: float  # its estimated time (descriptors' figures)
    total_seconds: float  # the whole plan's, estimated alike


def shard_plan(spec: ShardSpec, profile: str, planned: Sequence[PlannedCell],
               by_model: Mapping[str, RunSettings], schedule: Sequence[Slot], seed: int,
               groups: Sequence[tuple[Cell, ...]]) -> ShardPlan:
    """The ``spec``-th slice of a planned run (module docstring); BenchError when the plan has fewer
    units than shards."""
    n_blocks = len({s.block for s in schedule})
    by = BLOCK if n_blocks >= spec.m else PAIR
    units = plan_units(schedule, groups, by)
    if len(units) < spec.m:
        raise BenchError(f"--shard {spec}: the plan's {len(schedule)} process(es) in {n_blocks} block(s) "
                         f"make at most {len(units)} shards (an ABBA pair is never split); use M <= "
                         f"{len(units)}")

    def cost(slot: Slot) -> float:
        return process_seconds(slot.cell, by_model[slot.cell.model], slot.repeat)

    costs = [sum(cost(s) for s in u) for u in units]
    owner = deal(costs, spec.m)
    mine = [s for u, o in zip(units, owner, strict=True) if o == spec.k - 1 for s in u]
    here = {s.cell for s in mine}
    kept = [p for p in planned if p.cell in here or (spec.k == 1 and not p.runnable)]
    meta = {"k": spec.k, "m": spec.m, "unit": by, "processes": len(schedule),
            "run_key": run_key(profile, planned, by_model, schedule, seed, groups)}
    return ShardPlan(kept, mine, [g for g in groups if all(c in here for c in g)], meta,
                     sum(c for c, o in zip(costs, owner, strict=True) if o == spec.k - 1), sum(costs))
