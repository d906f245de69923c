"""The run's schedule: in which order a run's processes run. Pure (no I/O, no process).

A cell is measured in ``repeats`` fresh processes. So that time on the machine (a neighbour's load,
thermal state, a cache warming up over the run) is not confounded with the framework, the processes
run in interleaved, seeded-random **blocks**: for each repeat r = 1..R, the models in a seeded shuffle,
and for each model one block holding every cell of that model (all frameworks, modes, variants and
precisions) once, in a seeded-random order. So a framework's cells are never all early or all late,
and the cells of one model in one block ran close together: ratios between them are paired by block.

Each headline comparison (``groups``: bench.analysis.comparisons, e.g. one framework's default cell against
the other's) runs its processes next to each other inside the block, in ABBA order: A B in odd
repeats, B A in even ones, so a slow spell of the machine falls on both sides of a pair alike, and a
drift within the run favours neither (the ratio pairs them: bench.stats.median_ratio_ci). The group
moves through the block's seeded shuffle as one unit. ``extra_block`` adds one more pair of a
comparison after the planned blocks (bench.plan.adaptive), continuing the alternation.

The same cells, groups, repeats and seed give the same schedule; run.json stores it (``schedule``, in
run order) with its seed (``schedule_seed``) and its groups (``headline_groups``), and every process's
result carries its ``repeat``, ``block`` and ``order``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from bench.cell import Cell
from bench.results.slots import Slot

__all__ = ["abba", "build_schedule", "extra_block"]


def abba(group: Sequence[Cell], pair: int) -> list[Cell]:
    """A comparison's cells in the order of its ``pair``-th pair (1-based): as given in odd pairs,
    reversed in even ones (A B, B A, A B …)."""
    return list(group) if pair % 2 else list(reversed(group))


def build_schedule(cells: Sequence[Cell], repeats: int, seed: int,
                   groups: Sequence[Sequence[Cell]] = ()) -> list[Slot]:
    """Every process of ``cells`` (``repeats`` each), in run order: blocks as the module says, each of
    ``groups`` (cells of one model, all in ``cells``) adjacent in ABBA order.

    Models are taken in their order in ``cells`` before shuffling, and cells within a model likewise,
    so the result depends on the cells, groups, ``repeats`` and ``seed`` only (without groups, the
    order of the schedule before groups existed).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1 (got {repeats})")
    rng = random.Random(seed)
    planned = list(dict.fromkeys(cells))  # a cell given twice is scheduled once per repeat
    grouped = {c: tuple(g) for g in groups if len(g) > 1 and all(x in planned for x in g) for c in g}
    by_model: dict[str, list[tuple[Cell, ...]]] = {}
    for cell in planned:
        unit = grouped.get(cell, (cell,))
        if unit[0] == cell:  # a group is one unit, placed where its first cell comes
            by_model.setdefault(cell.model, []).append(unit)
    slots: list[Slot] = []
    block = 0
    for repeat in range(1, repeats + 1):
        models = list(by_model)
        rng.shuffle(models)
        for model in models:
            members = list(by_model[model])
            rng.shuffle(members)
            for unit in members:
                for cell in abba(unit, repeat):
                    slots.append(Slot(cell, repeat, block, len(slots)))
            block += 1
    return slots


def extra_block(group: Sequence[Cell], repeat: int, block: int, order: int) -> list[Slot]:
    """One more pair of a comparison (its processes' ``repeat``), alone in a new ``block`` starting at
    ``order``, in the ABBA order that pair number ``repeat`` has."""
    return [Slot(cell, repeat, block, order + i) for i, cell in enumerate(abba(group, repeat))]
