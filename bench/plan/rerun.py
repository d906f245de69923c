"""Measure stored cells again, through the planning code of a new run (``bench gate --confirm``).

The cells, their settings and interpreters come from a stored run; probing, the environment, the
interleaved seeded schedule, the run directory and the processes are a new run's (bench.plan.orchestrate),
so that a re-run is a stored run like any other. No roofline (no fraction of peak), no adaptive phase,
no report: a re-run answers one question about the cells it was given.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.host.detect import probe_frameworks
from bench.launchers.scratch import drop_shared_scratch
from bench.plan.orchestrate import create_planned_run, execute_processes
from bench.plan.schedule import build_schedule
from bench.results.records import Cell, RunSettings


def rerun(cells: Sequence[Cell], by_model: Mapping[str, RunSettings], pythons: Mapping[str, str],
          run_dir: Path, *, profile: str, argv: Sequence[str], extra_meta: Mapping[str, Any],
          note: str = "") -> Path:
    """Measure ``cells`` in ``by_model``'s repeats of fresh processes each, with ``pythons``, into the new
    run directory ``run_dir`` (run.json gets ``pythons`` then ``extra_meta``); ``note`` is said on stderr
    once the directory exists. Returns ``run_dir``."""
    probes = probe_frameworks(sorted({c.framework for c in cells}), dict(pythons))
    base = next(iter(by_model.values()))
    schedule = build_schedule(list(cells), base.repeats, base.seed)
    create_planned_run(run_dir, by_model, argv, profile, cells, probes, schedule, base.seed,
                       {"pythons": dict(pythons), **extra_meta})
    if note:
        print(note, file=sys.stderr, flush=True)
    try:
        execute_processes(run_dir, schedule, by_model, pythons, peaks={})
    finally:
        drop_shared_scratch(run_dir)
    return run_dir


__all__ = ["rerun"]
