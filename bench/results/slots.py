"""A run's processes as run.json's ``schedule`` stores them: the slots (which cell, which of its
processes, block and place in the run). The plan stage decides the order (bench.plan.schedule); the
results read and write it here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.cell import Cell, parse_cell_id

__all__ = ["Slot", "schedule_entries", "slots_from_entries"]


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


def schedule_entries(slots: Iterable[Slot]) -> list[dict[str, Any]]:
    """run.json's ``schedule``."""
    return [s.to_dict() for s in slots]


def slots_from_entries(entries: Iterable[Mapping[str, Any]]) -> list[Slot]:
    """run.json's ``schedule`` (already validated by bench.results.schema) back as slots, in run order."""
    return [Slot(parse_cell_id(e["cell_id"]), int(e["repeat"]), e.get("block"), e.get("order"))
            for e in entries]
