"""The cell: one point of the matrix, with its axes declared once.

The fields of ``Cell`` *are* the axes. Everything else that needs them (the cell id and its parsing,
baseline keys, report grouping and sort order, exports) derives them from ``CELL_AXES``, so adding an
axis is one field here. An axis whose id part is not the bare value declares its prefix in the
field's metadata (``batch_size`` → ``b128``). An axis added after runs were stored declares the value
those runs had as ``implicit``: the id leaves the part out at that value (so every stored id, baseline key
and page stays what it was) and writes it after the other parts otherwise (``…__default__generate__w2``);
labels, page columns and figure names leave it out likewise (bench.labels).

The roles of the axes in a report are declared here too: ``compared`` (what a comparison varies; every
other axis is held equal and groups the rows) and ``tuned`` (what a tuned configuration may change; the
shipped default holds the field's default). Each axis's validator is in bench.axes, keyed by these names.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bench.errors import BenchError

ID_SEPARATOR = "__"
# One part of a cell id: a name from the vocabulary, never a path.
ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _axis(default: Any = None, *, prefix: str = "", implicit: bool = False, compared: bool = False,
          tuned: bool = False) -> Any:
    meta = {"axis": True, "prefix": prefix, "implicit": implicit, "compared": compared, "tuned": tuned}
    return field(metadata=meta) if default is None else field(default=default, metadata=meta)


@dataclass(frozen=True)
class Cell:
    """What is measured. Field order is the order of the id's parts and of sorting."""

    model: str = _axis()
    framework: str = _axis(compared=True)  # a registered framework (bench.frameworks)
    mode: str = _axis(compared=True)  # one of that framework's modes
    device: str = _axis()  # bench.vocab.DEVICES
    precision: str = _axis("fp32", tuned=True)  # bench.vocab.PRECISIONS
    batch_size: int = _axis(0, prefix="b")  # 0: the model's default (resolved by the matrix)
    variant: str = _axis("default", compared=True, tuned=True)  # one of that framework's variants
    scenario: str = _axis("train", implicit=True)  # a registered scenario (bench.scenarios)
    workers: int = _axis(1, prefix="w", implicit=True)  # ranks that run one process slot together

    @property
    def cell_id(self) -> str:
        parts = [_part(f, getattr(self, f.name)) for f in _POSITIONAL]
        parts += [_part(f, getattr(self, f.name)) for f in _IMPLICIT if getattr(self, f.name) != f.default]
        return ID_SEPARATOR.join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cell:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, a) for a in CELL_AXES)


CELL_AXES: tuple[str, ...] = tuple(f.name for f in fields(Cell))
# Axes left out of the id, labels and columns at this value (the one every run stored before them had).
IMPLICIT_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Cell) if f.metadata["implicit"]}
INT_AXES: frozenset[str] = frozenset(f.name for f in fields(Cell) if f.type in ("int", int))
_TYPES = {a: (int if a in INT_AXES else str) for a in CELL_AXES}
_POSITIONAL = tuple(f for f in fields(Cell) if not f.metadata["implicit"])
_IMPLICIT = tuple(f for f in fields(Cell) if f.metadata["implicit"])


def _part(f: Any, value: Any) -> str:
    return f"{f.metadata['prefix']}{value}"


def _value(f: Any, part: str) -> Any:
    """The axis value an id part holds, or None when the part is not one of this axis."""
    prefix = f.metadata["prefix"]
    if not ID_PART.fullmatch(part) or not part.startswith(prefix):
        return None
    raw = part[len(prefix):]
    if _TYPES[f.name] is int:
        return int(raw) if raw.isdigit() else None
    return raw or None


def parse_cell_id(cell_id: str) -> Cell:
    """Inverse of ``Cell.cell_id``. Refuses anything that is not one part per axis of safe names."""
    if not isinstance(cell_id, str):
        raise BenchError(f"malformed cell id {cell_id!r}")
    parts = cell_id.split(ID_SEPARATOR)
    if not len(_POSITIONAL) <= len(parts) <= len(CELL_AXES):
        raise BenchError(f"malformed cell id {cell_id!r}: expected {len(_POSITIONAL)} parts "
                         f"({ID_SEPARATOR.join(f.name for f in _POSITIONAL)}) and optionally "
                         f"{', '.join(f.name for f in _IMPLICIT)}")
    values: dict[str, Any] = {}
    for f, part in zip(_POSITIONAL, parts, strict=False):
        value = _value(f, part)
        if value is None:
            raise BenchError(f"malformed cell id {cell_id!r}: bad {f.name} part {part!r}")
        values[f.name] = value
    rest = parts[len(_POSITIONAL):]
    # The implicit parts come in field order, each only when away from its default; a part that reads
    # as a later axis (``w2``) belongs to that one.
    for i, f in enumerate(_IMPLICIT):
        if not rest:
            break
        later = _IMPLICIT[i + 1:]
        value = _value(f, rest[0])
        if value is None or value == f.default or any(_value(g, rest[0]) is not None for g in later
                                                      if g.metadata["prefix"]):
            continue
        values[f.name] = value
        rest = rest[1:]
    if rest:
        raise BenchError(f"malformed cell id {cell_id!r}: bad part {rest[0]!r}")
    return Cell(**values)
