"""What reports call things and in which order, read from the registries and from ``Cell``.

Stored results are untrusted input: a framework or model that is not registered here (a run made
with a plugin that is not loaded now) still reports, under its own name, a neutral colour and last
in order, rather than failing.

The cell's axes come from ``bench.cell.CELL_AXES``. A comparison varies the ``COMPARED_AXES`` (which
framework, mode and variant) and holds every other axis equal: those are the ``GROUP_AXES``, the
report's grouping key. A new axis is therefore grouped, sorted and labelled without an edit here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import MISSING, fields
from typing import Any

from bench.cell import CELL_AXES, IMPLICIT_DEFAULTS, INT_AXES, Cell
from bench.errors import UnknownChoice
from bench.frameworks.descriptor import FrameworkDescriptor
from bench.frameworks.registry import framework_names, get_framework
from bench.scenarios import scenario_names
from bench.vocab import DEVICES, PRECISIONS

_FIELDS = {f.name: f for f in fields(Cell)}
COMPARED_AXES: tuple[str, ...] = tuple(a for a in CELL_AXES if _FIELDS[a].metadata["compared"])
GROUP_AXES: tuple[str, ...] = tuple(a for a in CELL_AXES if a not in COMPARED_AXES)
# Reading order of rows: what is held equal first, then what is compared.
SORT_AXES: tuple[str, ...] = (*GROUP_AXES, *COMPARED_AXES)
AXIS_HEADERS: dict[str, str] = {a: a.removesuffix("_size") for a in CELL_AXES}  # batch_size -> "batch"
NEUTRAL_COLOUR = "#607d8b"
DEFAULT_MODE = "eager"  # baseline mode name assumed for a framework that is not registered

_PREFIX = {a: _FIELDS[a].metadata.get("prefix", "") for a in CELL_AXES}
# Axes left out of a cell's label while they hold their default: a compared axis that has one (the
# "default" variant), and the implicit axes (bench.cell), as the cell id leaves them out.
_HIDDEN_DEFAULTS = {**{a: _FIELDS[a].default for a in COMPARED_AXES if _FIELDS[a].default is not MISSING},
                    **IMPLICIT_DEFAULTS}
# A framework's shipped default configuration: the axes a tuned configuration may change at the Cell's
# defaults (the "default" variant, fp32). The headline compares both.
# The compared ones first: the order a tuned configuration's changes are named in ("tf32 bf16").
SHIPPED_DEFAULTS: dict[str, Any] = {a: _FIELDS[a].default for a in sorted(
    (a for a in CELL_AXES if _FIELDS[a].metadata["tuned"]), key=lambda a: a not in COMPARED_AXES)}
# The headline's key: the group axes a tuned configuration may not change.
HEADLINE_AXES: tuple[str, ...] = tuple(a for a in GROUP_AXES if a not in SHIPPED_DEFAULTS)


def shown_axes(axes: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """``axes`` less the implicit ones (bench.cell) that every row holds at their default: a column, label
    or file name of runs that never varied such an axis reads as it did before the axis existed."""
    rows = list(rows)
    return [a for a in axes if a not in IMPLICIT_DEFAULTS
            or any(r.get(a, IMPLICIT_DEFAULTS[a]) != IMPLICIT_DEFAULTS[a] for r in rows)]


def is_shipped_default(row: Mapping[str, Any]) -> bool:
    return all(row.get(a) == v for a, v in SHIPPED_DEFAULTS.items())


# --------------------------------------------------------------------------- frameworks


def descriptor(name: str) -> FrameworkDescriptor | None:
    try:
        return get_framework(str(name))
    except UnknownChoice:
        return None


def framework_label(name: str) -> str:
    d = descriptor(name)
    return d.label if d else str(name)


def framework_colour(name: str) -> str:
    d = descriptor(name)
    return d.colour if d else NEUTRAL_COLOUR


def framework_order(names: Iterable[str]) -> list[str]:
    """The given frameworks, registered ones in registry order, then unknown ones by name."""
    registered = framework_names()
    present = set(map(str, names))
    return [n for n in registered if n in present] + sorted(present - set(registered))


def framework_rank(name: str) -> int:
    registered = framework_names()
    return registered.index(name) if name in registered else len(registered)


def eager_mode(framework: str) -> str:
    d = descriptor(framework)
    return d.eager_mode if d else DEFAULT_MODE


def compiles(framework: str, mode: str) -> bool:
    d = descriptor(framework)
    return bool(d and mode in d.mode_names and d.compiles(mode))


def mode_rank(framework: str, mode: str) -> int:
    d = descriptor(framework)
    return _index(d.mode_names if d else (), mode)


def variant_rank(framework: str, variant: str) -> int:
    d = descriptor(framework)
    return _index(d.variant_names if d else (), variant)


def _index(seq: tuple[str, ...], value: Any) -> int:
    return seq.index(value) if value in seq else len(seq)


# --------------------------------------------------------------------------- models and losses


def model_order(models: Iterable[str]) -> list[str]:
    from models.registry import model_names

    known = model_names()
    return sorted(set(models), key=lambda m: (_index(known, m), m))


def loss_labels(model: str, stored: Iterable[str] = ()) -> dict[str, str]:
    """Loss name -> label for a model, in the family's report order.

    ``stored`` are the loss names found in the data; they are used, labelled by their own name, when
    the model's family is not registered here.
    """
    from models.registry import family_of

    try:
        family = family_of(model)
    except ValueError:
        return {n: n for n in sorted(set(stored))}
    return {n: family.label(n) for n in family.losses}


def parity_note(model: str) -> str:
    """The family's sentence on why its loss curves should match across frameworks ("" if none)."""
    from models.registry import family_of

    try:
        return family_of(model).parity_note
    except ValueError:
        return ""


# --------------------------------------------------------------------------- cells


def axis_text(axis: str, value: Any) -> str:
    """The value of an axis as the cell id writes it (``b128`` for a batch of 128)."""
    v = int(value) if axis in INT_AXES else value
    return f"{_PREFIX[axis]}{v}"


def axis_value(axis: str, value: Any) -> str:
    """The value of an axis as a table cell (a framework by its label, a batch as a plain number)."""
    if axis == "framework":
        return framework_label(str(value))
    return str(int(value)) if axis in INT_AXES else str(value)


def cell_label(row: Mapping[str, Any], *, model: bool = True, run: bool = False) -> str:
    """E.g. "mymodel MyFramework compile cpu fp32 b8 my-variant @run" (framework by its label)."""
    parts = []
    # A row read without an implicit axis (a summary of an older form) holds its default.
    row = {**IMPLICIT_DEFAULTS, **row}
    for axis in CELL_AXES:
        if (axis == "model" and not model) or _HIDDEN_DEFAULTS.get(axis, MISSING) == row.get(axis):
            continue
        parts.append(framework_label(str(row[axis])) if axis == "framework" else axis_text(axis, row[axis]))
    if run:
        parts.append(f"@{row['run_id']}")
    return " ".join(parts)


def group_label(row: Mapping[str, Any], *, model: bool = True) -> str:
    """The group axes of a row, e.g. "mymodel cpu fp32 b8" (an implicit axis only away from its default)."""
    return " ".join(axis_text(a, row[a]) for a in shown_axes(GROUP_AXES, [row]) if model or a != "model")


def sort_rank(axis: str, row: Mapping[str, Any], models: list[str]) -> Any:
    """Where a row goes along one axis (``models``: the model order of the rows being sorted)."""
    value = row.get(axis, IMPLICIT_DEFAULTS[axis]) if axis in IMPLICIT_DEFAULTS else row[axis]
    if axis == "model":
        return _index(tuple(models), value)
    if axis == "device":
        return _index(DEVICES, value)
    if axis == "precision":
        return _index(PRECISIONS, value)
    if axis == "framework":
        return framework_rank(value)
    if axis == "mode":
        return mode_rank(row["framework"], value)
    if axis == "variant":
        return variant_rank(row["framework"], value)
    if axis == "scenario":
        return _index(scenario_names(), value)
    return int(value) if axis in INT_AXES else str(value)
