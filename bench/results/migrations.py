"""Stored runs of older schemas, brought up to today's on load (the files are never rewritten).

Schema 1 (the first committed runs) stored each loss as its own field: ``final_<name>_loss`` in a
cell result and ``<name>_loss`` in a step row. Schema 2 keeps them by the model family's loss names:
``final_losses`` and ``losses``. The mapping is by pattern, so it knows no model family. Schema 3 (one
result per process) adds ``repeat``, ``block`` and ``order``: an older result is its cell's only
process, repeat 1, outside any schedule (block and order None). Schema 4 renames the CI of a process's
median, ``step_time_ci95_low_s/high_s`` (which held 93.75-97.9%, never exactly 95%), to
``step_time_ci_low_s/high_s`` with its coverage ``step_time_ci_coverage``: a schema-3 file's coverage
is computed from its ``n_steps`` (bench.stats.median_ci_coverage), as its CI was; schema 1 and 2
computed a percentile bootstrap, whose coverage is not known (None). Schema 5 stores the two cell axes
added with it, ``scenario`` and ``workers`` (bench.cell: "implicit" axes, so a cell id is as before):
every older run measured the training step in one process, so an older result reads as ``train`` with
1 worker. A baseline's cell summary and a step row need no migration: the axes absent from a summary
take the Cell's defaults, and a step row names its cell by id.
"""

from __future__ import annotations

import re
from typing import Any

from bench.cell import IMPLICIT_DEFAULTS
from bench.results.records import SCHEMA_VERSION

# Schema 4 -> 5: the cell's axes added in schema 5 (all of bench.cell's implicit ones), and their value
# in every older run.
NEW_AXES: dict[str, object] = dict(IMPLICIT_DEFAULTS)
# Schema 3 -> 4: a process's CI of its median, old name -> new name.
CI_RENAMES = {"step_time_ci95_low_s": "step_time_ci_low_s", "step_time_ci95_high_s": "step_time_ci_high_s"}
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
    if version not in range(1, SCHEMA_VERSION):
        raise ValueError(f"unsupported schema {d.get('schema')!r} "
                         f"(this framebench reads 1 to {SCHEMA_VERSION})")
    out = _replication(d, version) if version <= 2 else dict(d)
    if version <= 3:
        _ci_names(out, version, order_statistic=version == 3)
    _new_axes(out, version)
    out["schema"] = SCHEMA_VERSION
    return out


def _replication(d: dict[str, Any], version: int) -> dict[str, Any]:
    """Schema 1 -> 2 (the losses by name) and 2 -> 3 (the replication fields)."""
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
    # No replication fields yet (a stored one would be refused by the schema).
    for key, value in (("repeat", 1), ("block", None), ("order", None)):
        if key in out:
            raise ValueError(f"{key!r} is not a field of a schema-{version} cell result")
        out[key] = value
    return out


def _ci_names(d: dict[str, Any], version: int, *, order_statistic: bool) -> None:
    """Schema 3 -> 4 (module docstring), in place."""
    for new in (*CI_RENAMES.values(), "step_time_ci_coverage"):
        if new in d:
            raise ValueError(f"{new!r} is not a field of a schema-{version} cell result")
    for old, new in CI_RENAMES.items():
        if old in d:
            d[new] = d.pop(old)
    known = order_statistic and d.get("step_time_ci_low_s") is not None
    d["step_time_ci_coverage"] = _coverage(d.get("n_steps")) if known else None


def _new_axes(d: dict[str, Any], version: int) -> None:
    """Schema 4 -> 5, in place: the axes added since, at the value every older run measured."""
    for axis, value in NEW_AXES.items():
        if axis in d:
            raise ValueError(f"{axis!r} is not a field of a schema-{version} cell result")
        d[axis] = value


def _coverage(n: Any) -> float | None:
    from bench.stats import median_ci_coverage

    return median_ci_coverage(n) if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def migrate_baseline_cell(d: dict[str, Any]) -> dict[str, Any]:
    """A baseline's cell summary with the CI under today's names (a baseline written before schema 4
    stored ``step_time_ci95_*``); a new dict, the input left alone."""
    if not any(old in d for old in CI_RENAMES):
        return d
    out = {k: v for k, v in d.items() if k not in CI_RENAMES}
    for old, new in CI_RENAMES.items():
        out.setdefault(new, d.get(old))
    return out


def migrate_step(row: dict[str, Any]) -> dict[str, Any]:
    """A stored step row as today's schema (rows carry no version: schema 1 rows have no ``losses``;
    a row without ``repeat`` belongs to the process its file names, which bench.results.load sets)."""
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
