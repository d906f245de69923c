"""The run directory's layout: file names and paths, in one place (no I/O here).

One run = one directory, default ``reports/runs/<run_id>``::

    <run_dir>/run.json              {"schema", "run_id", "created_at", "argv", "profile", "settings",
                                     "cells_planned": [cell_id, ...]}
    <run_dir>/environment.json      bench.envinfo.collect_environment(...)
    <run_dir>/cells/<cell_id>.json  CellResult.to_dict()
    <run_dir>/steps/<cell_id>.jsonl StepRecord rows, one JSON object per line
    <run_dir>/logs/<cell_id>.log    the worker's stderr
    <run_dir>/work/<cell_id>/       per-cell scratch (compile caches); not results
    <run_dir>/roofline.json         when measured (CUDA only)

``bench.store`` writes these files (atomically) and ``bench.load`` reads them back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

RUN_FILE = "run.json"
ENV_FILE = "environment.json"
ROOFLINE_FILE = "roofline.json"
CELLS_DIR = "cells"
STEPS_DIR = "steps"
LOGS_DIR = "logs"
WORK_DIR = "work"
DEFAULT_RUNS_ROOT = Path("reports") / "runs"


def new_run_id(now: datetime | None = None) -> str:
    """UTC timestamp ``YYYYmmddTHHMMSSZ``: sorts in time order as a string."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def run_file(run_dir: Path) -> Path:
    return Path(run_dir) / RUN_FILE


def cell_result_path(run_dir: Path, cell_id: str) -> Path:
    return Path(run_dir) / CELLS_DIR / f"{cell_id}.json"


def steps_path(run_dir: Path, cell_id: str) -> Path:
    return Path(run_dir) / STEPS_DIR / f"{cell_id}.jsonl"


def log_path(run_dir: Path, cell_id: str) -> Path:
    return Path(run_dir) / LOGS_DIR / f"{cell_id}.log"


def work_dir(run_dir: Path, cell_id: str) -> Path:
    return Path(run_dir) / WORK_DIR / cell_id
