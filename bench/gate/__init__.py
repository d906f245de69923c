"""The regression gate: compare a run against a baseline, cell by cell (``python -m bench gate``).

Rule (also printed with every verdict, see RULE_TEXT):
- step time regresses when its median grows by more than its threshold AND the slowdown is beyond
  noise: a one-sided Mann-Whitney U test on the per-step samples (new slower than baseline) gives
  p < alpha (0.01) AND the bootstrap 95% confidence intervals of the two medians do not overlap.
  Both tests must agree: the gate is meant to stay quiet on unchanged code, and on run-to-run drift
  a large-sample U test alone becomes "significant" for differences nobody cares about. With fewer
  than MIN_SAMPLES samples on a side no test can reach p < 0.01, so the threshold alone decides and
  the table says so. When both sides measured the cell in at least 2 processes, the process is the
  unit: the medians compared are medians of process medians, and the noise is the spread between
  processes (a one-sided Welch t test on the log process medians, p < alpha), since steps of one
  process share its luck and do not count as independent evidence.
- throughput (one window of W steps per run) regresses when it drops by more than its threshold AND
  by more than z(1 - alpha) sigma, sigma = sqrt(cv_base² + cv_new²) / sqrt(W) estimated from the
  per-step spread of both runs (see throughput_check): on a noisy machine a single window swings
  by tens of percent between identical runs. With at least 2 processes a side, sigma is
  sqrt(cv_base²/R_base + cv_new²/R_new) from the spread of the processes' throughputs.
- peak memory (host RSS, device allocator, NVML) and time to first step are single numbers per run
  with no noise model: the threshold alone decides (time to first step must also grow by more than
  compile_time_floor_s, since first steps of eager cells are fractions of a second).
- a cell ok in the baseline that now failed, timed out, ran out of memory or diverged fails.
- a cell ok in the baseline that is missing from the run, or now skipped, warns (``--missing fail``
  makes it fail); cells new in the run are listed.
Exit code: 0 pass, 1 regression, 2 usage or data error (BenchError).

    config.py   thresholds: defaults < [tool.framebench.gate] of pyproject.toml < command line
    rules.py    the per-cell checks and the comparison of a run with a baseline
    render.py   the verdict as Markdown (Markdown helpers from bench.markdown) and one summary line
    here        run_gate (load both sides and compare) and the default baseline of a run's machine
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..machine import machine_fingerprint
from .config import DEFAULTS, load_config, parse_fraction
from .render import render, rule_text, summary_line
from .rules import (
    MIN_SAMPLES,
    CellVerdict,
    Check,
    GateResult,
    compare,
    compare_cell,
    step_time_check,
    throughput_check,
)

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
) -> GateResult:
    """Load the baseline (file or run directory) and the run, and compare them."""
    from ..baseline import baseline_from_path, cell_summaries
    from ..store import load_run

    cfg = load_config(pyproject, overrides)
    baseline = baseline_from_path(baseline_path)
    run = load_run(run_dir)
    label_b = (
        f"baseline `{baseline.get('name')}` (run `{baseline.get('run_id')}`, machine "
        f"`{baseline.get('fingerprint')}`)"
    )
    label_r = f"run `{run.run_id}` (machine `{machine_fingerprint(run.env)}`)"
    return compare(
        baseline,
        cell_summaries(run),
        run.env,
        cfg=cfg,
        force=force,
        baseline_label=label_b,
        run_label=label_r,
    )


def default_baseline_for(run_dir: Path, baselines_dir: Path) -> Path:
    from ..store import load_run

    fp = machine_fingerprint(load_run(run_dir).env)
    return baselines_dir / f"{fp}.json"
