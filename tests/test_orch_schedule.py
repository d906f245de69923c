"""bench.plan.schedule: the interleaved, seeded-random order of a run's processes (pure, no process)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from bench.cell import Cell
from bench.plan.schedule import build_schedule
from bench.results.slots import Slot, schedule_entries, slots_from_entries

MODELS = ("dcgan-mnist", "dcgan-64", "vae-mnist")
CELLS = [Cell(m, fw, mode, "cpu", precision, 8)
         for m in MODELS
         for fw, mode in (("tensorflow", "eager"), ("tensorflow", "function"), ("torch", "eager"),
                          ("torch", "compile"))
         for precision in (("fp32", "bf16") if (fw, mode) == ("torch", "eager") else ("fp32",))]


def test_same_seed_same_order_and_another_seed_another() -> None:
    a, b = build_schedule(CELLS, 3, seed=7), build_schedule(list(CELLS), 3, seed=7)
    assert a == b
    assert build_schedule(CELLS, 3, seed=8) != a
    # Pinned: the order must not change with the Python version or a refactoring (stored runs record it).
    assert [s.cell.cell_id for s in build_schedule(CELLS[:5], 1, seed=0)] == [
        CELLS[i].cell_id for i in (2, 1, 0, 4, 3)]


@pytest.mark.parametrize(("repeats", "seed"), [(1, 0), (3, 0), (3, 12345), (5, 2)])
def test_every_cell_runs_once_per_repeat_in_blocks_of_one_model(repeats: int, seed: int) -> None:
    slots = build_schedule(CELLS, repeats, seed)
    assert len(slots) == repeats * len(CELLS)
    assert [s.order for s in slots] == list(range(len(slots)))
    assert Counter(s.cell for s in slots) == {c: repeats for c in CELLS}
    assert {(s.cell, s.repeat) for s in slots} == {(c, r) for c in CELLS for r in range(1, repeats + 1)}
    # Blocks are contiguous, numbered in run order, one per (repeat, model).
    blocks = [list(g) for _, g in itertools.groupby(slots, key=lambda s: s.block)]
    assert [b[0].block for b in blocks] == list(range(repeats * len(MODELS)))
    for block in blocks:
        (model,) = {s.cell.model for s in block}
        assert len({s.repeat for s in block}) == 1
        # Every cell of its model once: every framework, mode and precision of the model in one block.
        assert sorted(s.cell.cell_id for s in block) == sorted(c.cell_id for c in CELLS if c.model == model)
        assert {s.cell.framework for s in block} == {"tensorflow", "torch"}
    # Repeat r's blocks all run before repeat r+1's; each repeat has every model once.
    assert [s.repeat for s in slots] == sorted(s.repeat for s in slots)
    for r in range(1, repeats + 1):
        assert sorted(b[0].cell.model for b in blocks if b[0].repeat == r) == sorted(MODELS)


def test_order_is_interleaved_not_grouped_by_framework() -> None:
    """Over seeds, a framework's cells are neither always first nor always last in their block."""
    firsts = Counter()
    for seed in range(40):
        for block in itertools.groupby(build_schedule(CELLS, 2, seed), key=lambda s: s.block):
            firsts[next(block[1]).cell.framework] += 1
    assert firsts["tensorflow"] > 20 and firsts["torch"] > 20, firsts
    models_first = Counter(build_schedule(CELLS, 1, seed)[0].cell.model for seed in range(30))
    assert set(models_first) == set(MODELS)


def test_entries_round_trip_and_bad_repeats() -> None:
    slots = build_schedule(CELLS, 2, seed=3)
    entries = schedule_entries(slots)
    assert entries[0] == {"order": 0, "block": 0, "cell_id": slots[0].cell.cell_id, "repeat": 1}
    assert slots_from_entries(entries) == slots
    assert Slot(CELLS[0], 2).label == f"{CELLS[0].cell_id} r2"
    assert build_schedule([], 3, seed=0) == []
    with pytest.raises(ValueError, match="at least 1"):
        build_schedule(CELLS, 0, seed=0)


def test_headline_comparisons_run_adjacent_in_abba_order() -> None:
    """Each headline comparison (the frameworks' declared default cells) is one unit of its block: its
    two processes adjacent, A B in odd repeats and B A in even ones; every other cell as before."""
    from bench.analysis.comparisons import headline_groups
    from bench.plan.schedule import extra_block

    groups = headline_groups(CELLS)
    assert [[c.cell_id for c in g] for g in groups] == [
        [Cell(m, "tensorflow", "function", "cpu", "fp32", 8).cell_id,
         Cell(m, "torch", "eager", "cpu", "fp32", 8).cell_id] for m in MODELS]
    for seed in range(12):
        slots = build_schedule(CELLS, 4, seed, groups)
        assert Counter(s.cell for s in slots) == {c: 4 for c in CELLS}
        for block in (list(g) for _, g in itertools.groupby(slots, key=lambda s: s.block)):
            (model,) = {s.cell.model for s in block}
            a, b = next(g for g in groups if g[0].model == model)
            cells = [s.cell for s in block]
            i = cells.index(a)
            expected = [a, b] if block[0].repeat % 2 else [b, a]
            assert cells[min(i, cells.index(b)):][:2] == expected, (seed, block[0].repeat)
            assert sorted(c.cell_id for c in cells) == sorted(c.cell_id for c in CELLS if c.model == model)
    # the adaptive phase's extra pairs go on alternating: pair 5 is A B, pair 6 B A, each in its own block
    a, b = groups[0]
    five, six = extra_block(groups[0], 5, 12, 100), extra_block(groups[0], 6, 13, 102)
    assert [(s.cell, s.repeat, s.block, s.order) for s in five + six] == [
        (a, 5, 12, 100), (b, 5, 12, 101), (b, 6, 13, 102), (a, 6, 13, 103)]
    # without groups, the order is the one stored runs recorded before groups existed
    assert build_schedule(CELLS, 3, 7, ()) == build_schedule(CELLS, 3, 7)
