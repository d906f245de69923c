"""Confirmation re-runs (``bench gate --confirm N``): a regression counts only if it comes back.

A flagged cell is measured again in N fresh processes, with the flagged run's own settings and
interpreters, on the same machine, into a new run directory (``<confirm dir>/<run id>-confirm``, a
stored run like any other). The re-run is judged against the same baseline by the same rule, its
flagged cells forming their own family of tests; the cell fails only when the re-run flags one of
the metrics that regressed the first time. The verdict shows both measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.gate.rules import CellVerdict, GateResult, cell_histories, compare_cell, decide, history_pools
from bench.markdown import fmt_change


@dataclass
class Confirmation:
    run_dir: Path
    processes: int
    metrics: list[str]  # the metrics that regressed in the first measurement
    first: dict[str, float | None]  # metric -> change first measured
    again: dict[str, float | None]  # metric -> change in the re-run
    reproduced: list[str] = field(default_factory=list)
    status: str | None = None  # the re-run's status, when not ok

    @property
    def outcome(self) -> str:
        def show(changes: dict[str, float | None]) -> str:
            return ", ".join(f"{m.replace('_', ' ')} {fmt_change(c) if c is not None else '–'}"
                             for m, c in changes.items())

        where = f"{self.processes} fresh process{'es' if self.processes != 1 else ''}"
        if self.status not in (None, "ok"):
            return f"confirmation in {where}: {self.status}"
        verb = "confirmed" if self.reproduced else "not reproduced"
        return f"{verb} by {where}: first {show(self.first)}; re-run {show(self.again)}"


def rerun_cells(run: Any, cell_ids: Sequence[str], processes: int, out_root: Path) -> Path:
    """Measure ``cell_ids`` of the stored ``run`` again in ``processes`` fresh processes each, with
    its settings and interpreters, into a new run directory under ``out_root``; returns it."""
    from bench.cell import parse_cell_id
    from bench.host.machine import check_same_machine
    from bench.inputs import check_output_dir
    from bench.plan.rerun import rerun
    from bench.results.records import RunSettings
    from bench.results.write import unused_run_dir

    check_output_dir(out_root, "--confirm-dir")
    refusal = check_same_machine(run.env, what=f"run {run.run_id}")
    if refusal:
        raise BenchError(f"cannot confirm on this machine: {refusal}")
    cells = [parse_cell_id(c) for c in cell_ids]  # ids of the stored run, validated when it was loaded
    by_model_raw = run.meta.get("settings_by_model") or {}
    by_model = {}
    for c in cells:
        raw = by_model_raw.get(c.model) or run.meta.get("settings") or {}
        by_model[c.model] = RunSettings.from_dict({**raw, "repeats": processes})
    pythons = {str(k): str(v) for k, v in (run.meta.get("pythons") or {}).items()}
    run_dir = unused_run_dir(out_root, f"{run.run_id}-confirm")
    return rerun(cells, by_model, pythons, run_dir, profile=str(run.meta.get("profile")),
                 argv=["bench", "gate", "--confirm", str(processes)], extra_meta={"confirms": run.run_id},
                 note=f"confirming {len(cells)} flagged cell(s) of {run.run_id} in {processes} fresh "
                      f"process(es) each -> {run_dir}")


def confirm(result: GateResult, baseline: dict[str, Any], run: Any, processes: int,
            out_root: Path) -> Path | None:
    """Re-run the cells of ``result`` whose metrics regressed and keep only reproduced regressions;
    returns the confirmation run's directory (None when nothing regressed)."""
    from bench.gate.baseline import baseline_cells
    from bench.results.load import load_run

    flagged = [v for v in result.verdicts if v.verdict == "fail" and any(c.failed for c in v.checks.values())]
    if not flagged:
        return None
    run_dir = rerun_cells(run, [v.cell_id for v in flagged], processes, out_root)
    again = baseline_cells(load_run(run_dir))
    histories = cell_histories(baseline)
    pools = history_pools(histories) if len(baseline.get("runs") or []) >= 2 else None
    base_cells = baseline.get("cells", {})
    second: list[CellVerdict] = [
        compare_cell(v.cell_id, base_cells.get(v.cell_id), again.get(v.cell_id), result.config,
                     histories.get(v.cell_id), pools, decide_now=False) for v in flagged]
    decide(second, result.config)
    for first, v2 in zip(flagged, second, strict=True):
        metrics = [m for m, c in first.checks.items() if c.failed]
        conf = Confirmation(run_dir, processes, metrics,
                            first={m: first.checks[m].change for m in metrics},
                            again={m: (v2.checks[m].change if m in v2.checks else None) for m in metrics},
                            reproduced=[m for m in metrics if m in v2.checks and v2.checks[m].failed])
        if v2.new_status != "ok":
            conf.status = v2.new_status or "missing"
            conf.reproduced = list(metrics)  # no measurement came back: the regression stands
        first.confirmation = conf
        if not conf.reproduced:
            first.verdict = "warn"
            first.reasons = [f"not reproduced: {r}" for r in first.reasons]
    result.warnings.append(f"flagged cells re-run in {processes} fresh process(es) each: {run_dir}")
    return run_dir
