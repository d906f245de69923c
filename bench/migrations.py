"""Stored runs of older schemas, brought up to today's on load (the files are never rewritten).

Schema 1 (the first committed runs) stored each loss as its own field: ``final_<name>_loss`` in a
cell result and ``<name>_loss`` in a step row. Schema 2 keeps them by the model family's loss names:
``final_losses`` and ``losses``. The mapping is by pattern, so it knows no model family. Schema 3 (one
result per process) adds ``repeat``, ``block`` and ``order``: an older result is its cell's only
process, repeat 1, outside any schedule (block and order None). Schema 4 renames the CI of a process's
median, ``step_time_ci95_low_s/high_s`` (which held 93.75-97.9%, never exactly 95%), to
``step_time_ci_low_s/high_s`` with its coverage ``step_time_ci_coverage``: a schema-3 file's coverage
is computed from its ``n_steps`` (bench.stats.median_ci_coverage), as its CI was; schema 1 and 2
computed a percentile bootstrap, whose coverage is not known (None).
"""

from __future__ import annotations

import re
from typing import Any

from .records import SCHEMA_VERSION

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
    if version not in (1, 2, 3):
        raise ValueError(f"unsupported schema {d.get('schema')!r} "
                         f"(this framebench reads 1 to {SCHEMA_VERSION})")
    if version == 3:
        return _ci_names(dict(d), order_statistic=True)
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
    return _ci_names(out, order_statistic=False)


def _ci_names(d: dict[str, Any], *, order_statistic: bool) -> dict[str, Any]:
    """Schema 3 -> 4 (module docstring), in place; the result is today's schema."""
    for new in (*CI_RENAMES.values(), "step_time_ci_coverage"):
        if new in d:
            raise ValueError(f"{new!r} is not a field of a schema-{d.get('schema', 1)} cell result")
    for old, new in CI_RENAMES.items():
        if old in d:
            d[new] = d.pop(old)
    known = order_statistic and d.get("step_time_ci_low_s") is not None
    d["step_time_ci_coverage"] = _coverage(d.get("n_steps")) if known else None
    d["schema"] = SCHEMA_VERSION
    return d


def _coverage(n: Any) -> float | None:
    from .stats import median_ci_coverage

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
