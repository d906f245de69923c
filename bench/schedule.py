"""The run's schedule: in which order a run's processes run. Pure (no I/O, no process).

A cell is measured in ``repeats`` fresh processes. So that time on the machine (a neighbour's load,
thermal state, a cache warming up over the run) is not confounded with the framework, the processes
run in interleaved, seeded-random **blocks**: for each repeat r = 1..R, the models in a seeded shuffle,
and for each model one block holding every cell of that model (all frameworks, modes, variants and
precisions) once, in a seeded-random order. So a framework's cells are never all early or all late,
and the cells of one model in one block ran close together: ratios between them are paired by block.

The same cells, repeats and seed give the same schedule; run.json stores it (``schedule``, in run
order) with its seed (``schedule_seed``), and every process's result carries its ``repeat``, ``block``
and ``order``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .cell import Cell, parse_cell_id

__all__ = ["Slot", "build_schedule", "schedule_entries", "slots_from_entries"]


@dataclass(frozen=True)
class Slot:
    """One process of a run: the cell, which of its processes (1-based), its block and place in the run
    (0-based; None for a process outside the schedule, e.g. a skipped cell's lost result re-run)."""

    cell: Cell
    repeat: int = 1
    block: int | None = None
    order: int | None = None

    @property
    def cell_id(self) -> str:
        return self.cell.cell_id

    @property
    def label(self) -> str:
        """``<cell_id> r<k>``, as the progress lines and messages name a process."""
        return f"{self.cell.cell_id} r{self.repeat}"

    def to_dict(self) -> dict[str, Any]:
        """run.json's form of a scheduled process."""
        return {"order": self.order, "block": self.block, "cell_id": self.cell.cell_id, "repeat": self.repeat}


def build_schedule(cells: Sequence[Cell], repeats: int, seed: int) -> list[Slot]:
    """Every process of ``cells`` (``repeats`` each), in run order: blocks as the module says.

    Models are taken in their order in ``cells`` before shuffling, and cells within a model likewise,
    so the result depends on the cells, ``repeats`` and ``seed`` only.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1 (got {repeats})")
    rng = random.Random(seed)
    by_model: dict[str, list[Cell]] = {}
    for cell in dict.fromkeys(cells):  # a cell given twice is scheduled once per repeat
        by_model.setdefault(cell.model, []).append(cell)
    slots: list[Slot] = []
    block = 0
    for repeat in range(1, repeats + 1):
        models = list(by_model)
        rng.shuffle(models)
        for model in models:
            members = list(by_model[model])
            rng.shuffle(members)
            for cell in members:
                slots.append(Slot(cell, repeat, block, len(slots)))
            block += 1
    return slots


def schedule_entries(slots: Iterable[Slot]) -> list[dict[str, Any]]:
    """run.json's ``schedule``."""
    return [s.to_dict() for s in slots]


def slots_from_entries(entries: Iterable[Mapping[str, Any]]) -> list[Slot]:
    """run.json's ``schedule`` (already validated by bench.schema) back as slots, in run order."""
    return [Slot(parse_cell_id(e["cell_id"]), int(e["repeat"]), e.get("block"), e.get("order"))
            for e in entries]
