"""The regression gate: compare a run against a baseline, cell by cell (``python -m bench gate``).

Before anything is compared, the run and every run of the baseline must share the machine (CPU
identity and ISA flags, cores, RAM, GPUs: bench.host.machine) and the measurement settings (profile,
steps, threads, TF32, data, batch: identity.py); each difference is named, and refused without
--force. Then, per cell and metric (rule also printed with every verdict, see render.rule_text):

- a metric regresses when it worsens by more than its threshold (step time +10%, throughput −10%,
  peak memory +10%, time to first step +50% and more than compile_time_floor_s) AND its noise test
  says the change is beyond noise, after the p-values of every cell and metric of the decision are
  adjusted together (Benjamini-Hochberg by default, Holm with ``correction = "holm"``): q < alpha.
- noise tests. With a baseline of at least 2 runs (a history), every metric is weighed against the
  spread BETWEEN the history's runs (history.py: a one-sided t prediction test on log per-run
  values, the variance moderated towards the one pooled over cells). With a baseline of one run:
  step time by a one-sided Welch t test on log process medians (>= 2 processes a side), else a
  Mann-Whitney U test on the steps AND bootstrap CIs apart (fewer than MIN_SAMPLES steps: the
  threshold alone); throughput by a z test on the processes' throughput spread (else the per-step
  spread over a window of W steps); memory and first step by their thresholds alone.
- a cell ok in the baseline that now failed, timed out, ran out of memory or diverged fails; one
  missing from the run, or now skipped, warns (``--missing fail`` makes it fail); new cells are listed.
- one-run baseline: step time and throughput also weighed with the day-one prior (prior.py), a
  between-run spread measured by the calibration.
- machine drift (drift.py): when most cells moved the same way by a similar amount and the run's own
  canary (its measured device peak) moved too, each cell is judged against that run-wide shift.
- ``--confirm N`` (confirm.py) re-runs each cell that regressed in N fresh processes and fails only
  on the regressions the re-run reproduces.
Exit code: 0 pass, 1 regression, 2 usage or data error (BenchError).

    config.py    thresholds: defaults < [tool.framebench.gate] of pyproject.toml < command line
    identity.py  whether the run and the baseline may be compared at all
    history.py   the between-run noise model of a history baseline
    single_run.py  the checks against a single-run baseline (between-process or per-step noise)
    prior.py     the day-one prior of a one-run baseline
    drift.py     machine drift told apart from regressions
    ab.py        A/B runs (bench compare): paired ratios, verdicts with an indifference zone
    rules.py     the per-cell verdicts, the multiple-comparison decision, the comparison of a run
    confirm.py   confirmation re-runs of the cells that regressed
    render.py    the verdict as Markdown (Markdown helpers from bench.markdown) and one summary line
    here         run_gate (load both sides and compare) and the default baseline of a run's machine
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.gate.config import DEFAULTS, load_config, parse_fraction
from bench.gate.render import render, rule_text, summary_line
from bench.gate.rules import CellVerdict, GateResult, compare, compare_cell
from bench.gate.single_run import MIN_SAMPLES, Check, step_time_check, throughput_check
from bench.host.machine import machine_fingerprint

__all__ = [
    "DEFAULTS",
    "MIN_SAMPLES",
    "CellVerdict",
    "Check",
    "GateResult",
    "compare",
    "compare_cell",
    "default_baseline_for",
    "load_config",
    "parse_fraction",
    "render",
    "rule_text",
    "run_gate",
    "step_time_check",
    "summary_line",
    "throughput_check",
]


def run_gate(
    baseline_path: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    pyproject: Path | None = None,
    confirm: int = 0,
    confirm_dir: Path | None = None,
) -> GateResult:
    """Load the baseline (file or run directory) and the run, and compare them; with ``confirm`` N,
    re-run the cells that regressed in N fresh processes each (under ``confirm_dir``) and keep only
    the regressions they reproduce."""
    from bench.gate.baseline import baseline_cells, baseline_from_path, run_canary
    from bench.results.load import load_run

    cfg = load_config(pyproject, overrides)
    baseline = baseline_from_path(baseline_path)
    run = load_run(run_dir)
    if "ab" in run.meta:  # two sides' processes under one cell id
        raise BenchError(f"run {run.run_id} is an A/B run of `bench compare`: judge it with "
                         "`bench gate --ab`")
    runs = baseline.get("runs") or []
    label_b = (
        f"baseline `{baseline.get('name')}` ("
        + (f"history of {len(runs)} runs, newest `{baseline.get('run_id')}`" if len(runs) > 1
           else f"run `{baseline.get('run_id')}`")
        + f", machine `{baseline.get('fingerprint')}`)"
    )
    label_r = f"run `{run.run_id}` (machine `{machine_fingerprint(run.env)}`)"
    result = compare(
        baseline,
        baseline_cells(run),
        run.env,
        cfg=cfg,
        force=force,
        baseline_label=label_b,
        run_label=label_r,
        run_meta=run.meta,
        run_canary=run_canary(run),
    )
    if confirm > 0:
        from bench.gate.confirm import confirm as confirm_regressions

        confirm_regressions(result, baseline, run, confirm, confirm_dir or Path("reports") / "confirmations")
    return result


def default_baseline_for(run_dir: Path, baselines_dir: Path) -> Path:
    from bench.results.load import load_run

    fp = machine_fingerprint(load_run(run_dir).env)
    return baselines_dir / f"{fp}.json"
