"""The headline comparisons, declared before any data: which cells each one compares. Pure.

For each model, device and batch (``bench.labels.HEADLINE_AXES``), the shipped-default comparison
holds each framework's cell in its declared default mode (``FrameworkDescriptor.shipped_mode``: the
mode its users train in without asking for anything) in the shipped-default variant and precision
(``bench.labels.SHIPPED_DEFAULTS``), the frameworks in registry order: A is the first, B the second.
The schedule runs a comparison's processes next to each other in ABBA order (bench.plan.schedule), the
adaptive phase adds pairs to it (bench.plan.adaptive), and the headline pairs its processes by block
(bench.analysis.headline). run.json records the groups as ``headline_groups``: lists of cell ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.cell import Cell, parse_cell_id
from bench.errors import BenchError
from bench.labels import HEADLINE_AXES, SHIPPED_DEFAULTS, descriptor, framework_order

__all__ = ["default_mode_of", "group_entries", "groups_from_meta", "headline_groups", "is_default_cell"]


def default_mode_of(framework: str, device: str) -> str | None:
    """The framework's declared default mode on ``device`` (None for a framework not registered)."""
    d = descriptor(framework)
    return d.shipped_mode(device) if d else None


def is_default_cell(row: Mapping[str, Any]) -> bool:
    """Whether a cell (its fields) is its framework's shipped default: the declared default mode, the
    default variant and precision."""
    return (all(row.get(a) == v for a, v in SHIPPED_DEFAULTS.items())
            and row.get("mode") == default_mode_of(str(row.get("framework")), str(row.get("device"))))


def headline_groups(cells: Iterable[Cell]) -> list[tuple[Cell, ...]]:
    """The shipped-default comparisons among ``cells`` (module docstring), in the order their keys
    first appear; a key where fewer than two frameworks have their default cell has none."""
    by_key: dict[tuple[Any, ...], dict[str, Cell]] = {}
    for cell in dict.fromkeys(cells):
        if is_default_cell(cell.to_dict()):
            key = tuple(getattr(cell, a) for a in HEADLINE_AXES)
            by_key.setdefault(key, {}).setdefault(cell.framework, cell)
    return [tuple(fws[f] for f in framework_order(fws)) for fws in by_key.values() if len(fws) >= 2]


def group_entries(groups: Iterable[Sequence[Cell]]) -> list[list[str]]:
    """run.json's ``headline_groups``."""
    return [[c.cell_id for c in g] for g in groups]


def groups_from_meta(meta: Mapping[str, Any]) -> list[tuple[Cell, ...]]:
    """run.json's ``headline_groups`` (validated by bench.results.schema) as cells; [] for a run without
    them."""
    entries = meta.get("headline_groups")
    if not isinstance(entries, list):
        return []
    try:
        return [tuple(parse_cell_id(c) for c in g) for g in entries]
    except BenchError:
        return []
