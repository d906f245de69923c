"""Whether a run may be gated against a baseline at all: same machine, same measurement settings.

A gate that compares a Zen 3 run with a Zen 5 baseline, or 5 timed steps with 50, passes real
regressions and flags imaginary ones. Each difference is named (the field, both values); the gate
refuses on any unless --force, and then prints them as warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.host.machine import machine_differences, machine_fields
from bench.same_settings import settings_differences


def batch_differences(base_cells: Mapping[str, Mapping[str, Any]],
                      new_cells: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Models measured at other batch sizes in the run than in the baseline, per device."""
    def sizes(cells: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], set[int]]:
        out: dict[tuple[str, str], set[int]] = {}
        for c in cells.values():
            if c.get("batch_size") is not None:
                out.setdefault((str(c.get("model")), str(c.get("device"))), set()).add(int(c["batch_size"]))
        return out

    b, n = sizes(base_cells), sizes(new_cells)
    return [f"batch_size of {m} on {d} ({sorted(b[m, d])} vs {sorted(n[m, d])})"
            for m, d in sorted(set(b) & set(n)) if b[m, d] != n[m, d]]


def refusals(baseline: Mapping[str, Any], run_env: Mapping[str, Any], run_meta: Mapping[str, Any],
             run_cells: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(reasons to refuse, warnings): machine and settings differences between the baseline (every
    stored run of it) and the run."""
    refuse: list[str] = []
    warn: list[str] = []
    # The baseline's identity fields, else its newest run's; fields without a "version" predate the
    # ISA (schema-1 baselines) and are not compared.
    candidates = [baseline.get("machine"), *(r.get("machine") for r in reversed(baseline.get("runs") or []))]
    fields_b = next((f for f in candidates if isinstance(f, dict) and "version" in f), None)
    run_fields = machine_fields(dict(run_env))
    if fields_b is None or run_fields is None:
        warn.append("the baseline or the run does not record its hardware: cannot check that both ran on "
                    "the same machine")
    else:
        diffs, unknown = machine_differences(fields_b, run_fields)
        refuse += [f"machine {d}" for d in diffs]
        if unknown:
            warn.append("machine identity not recorded on one side, not compared: " + "; ".join(unknown))
    models = {str(c.get("model")) for c in run_cells.values()}
    for entry in baseline.get("runs") or [baseline]:
        for d in settings_differences(entry, run_meta, models):
            item = f"setting {d}"
            if item not in refuse:
                refuse.append(item)
    refuse += batch_differences(baseline.get("cells") or {}, run_cells)
    return refuse, warn
