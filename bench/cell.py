"""The cell: one point of the matrix, with its axes declared once.

The fields of ``Cell`` *are* the axes. Everything else that needs them (the cell id and its parsing,
baseline keys, report grouping and sort order, exports) derives them from ``CELL_AXES``, so adding an
axis is one field here. An axis whose id part is not the bare value declares its prefix in the
field's metadata (``batch_size`` → ``b128``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import BenchError

ID_SEPARATOR = "__"
# One part of a cell id: a name from the vocabulary, never a path.
ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _axis(default: Any = None, *, prefix: str = "") -> Any:
    meta = {"axis": True, "prefix": prefix}
    return field(metadata=meta) if default is None else field(default=default, metadata=meta)


@dataclass(frozen=True)
class Cell:
    """What is measured. Field order is the order of the id's parts and of sorting."""

    model: str = _axis()
    framework: str = _axis()  # a registered framework (bench.frameworks)
    mode: str = _axis()  # one of that framework's modes
    device: str = _axis()  # bench.vocab.DEVICES
    precision: str = _axis("fp32")  # bench.vocab.PRECISIONS
    batch_size: int = _axis(0, prefix="b")  # 0: the model's default (resolved by the matrix)
    variant: str = _axis("default")  # one of that framework's variants

    @property
    def cell_id(self) -> str:
        return ID_SEPARATOR.join(
            f"{f.metadata['prefix']}{getattr(self, f.name)}" for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cell:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, a) for a in CELL_AXES)


CELL_AXES: tuple[str, ...] = tuple(f.name for f in fields(Cell))
_TYPES = {f.name: (int if f.type in ("int", int) else str) for f in fields(Cell)}


def parse_cell_id(cell_id: str) -> Cell:
    """Inverse of ``Cell.cell_id``. Refuses anything that is not one part per axis of safe names."""
    if not isinstance(cell_id, str):
        raise BenchError(f"malformed cell id {cell_id!r}")
    parts = cell_id.split(ID_SEPARATOR)
    if len(parts) != len(CELL_AXES):
        raise BenchError(f"malformed cell id {cell_id!r}: expected {len(CELL_AXES)} parts "
                         f"({ID_SEPARATOR.join(CELL_AXES)})")
    values: dict[str, Any] = {}
    for f, part in zip(fields(Cell), parts, strict=True):
        prefix = f.metadata["prefix"]
        if not ID_PART.fullmatch(part) or not part.startswith(prefix):
            raise BenchError(f"malformed cell id {cell_id!r}: bad {f.name} part {part!r}")
        raw = part[len(prefix):]
        if _TYPES[f.name] is int:
            if not raw.isdigit():
                raise BenchError(f"malformed cell id {cell_id!r}: bad {f.name} part {part!r}")
            values[f.name] = int(raw)
        else:
            values[f.name] = raw
    return Cell(**values)
