"""Stored runs of older schemas, brought up to today's on load (the files are never rewritten).

Schema 1 (the first committed runs) stored each loss as its own field: ``final_<name>_loss`` in a
cell result and ``<name>_loss`` in a step row. Schema 2 keeps them by the model family's loss names:
``final_losses`` and ``losses``. The mapping is by pattern, so it knows no model family. Schema 3 (one
result per process) adds ``repeat``, ``block`` and ``order``: an older result is its cell's only
process, repeat 1, outside any schedule (block and order None).
"""

from __future__ import annotations

import re
from typing import Any

from .records import SCHEMA_VERSION

_FINAL_LOSS = re.compile(r"final_([a-z][a-z0-9]*)_loss")
_STEP_LOSS = re.compile(r"([a-z][a-z0-9]*)_loss")


def _schema(d: dict[str, Any]) -> int:
    v = d.get("schema", 1)
    return v if isinstance(v, int) and not isinstance(v, bool) else -1


def migrate_cell(d: dict[str, Any]) -> dict[str, Any]:
    """A stored cell result as today's schema (a new dict; the input is left alone)."""
    version = _schema(d)
    if version == SCHEMA_VERSION:
        return d
    if version not in (1, 2):
        raise ValueError(f"unsupported schema {d.get('schema')!r} "
                         f"(this framebench reads 1 to {SCHEMA_VERSION})")
    out: dict[str, Any] = {}
    if version == 1:
        losses: dict[str, Any] = {}
        for k, v in d.items():
            m = _FINAL_LOSS.fullmatch(k)
            if m:
                if v is not None:
                    losses[m.group(1)] = v
            else:
                out[k] = v
        out["final_losses"] = losses
    else:
        out.update(d)
    # Schema 2 -> 3: no replication fields yet (a stored one would be refused by the schema).
    for key, value in (("repeat", 1), ("block", None), ("order", None)):
        if key in out:
            raise ValueError(f"{key!r} is not a field of a schema-{version} cell result")
        out[key] = value
    out["schema"] = SCHEMA_VERSION
    return out


def migrate_step(row: dict[str, Any]) -> dict[str, Any]:
    """A stored step row as today's schema (rows carry no version: schema 1 rows have no ``losses``;
    a row without ``repeat`` belongs to the process its file names, which bench.load sets)."""
    if "losses" in row:
        return row
    out: dict[str, Any] = {}
    losses: dict[str, Any] = {}
    for k, v in row.items():
        m = _STEP_LOSS.fullmatch(k)
        if m:
            losses[m.group(1)] = v
        else:
            out[k] = v
    out["losses"] = losses
    return out
