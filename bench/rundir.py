"""The run directory's layout: file names and paths, in one place (no reading or writing here).

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

Run directories are shared between machines, so their contents are untrusted: every path built here
from a cell id is checked to lie inside the run directory (``inside``); the reports and baselines use
the same check against their own output directory. Only resolving symlinks touches the filesystem.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from .cell import parse_cell_id
from .errors import BenchError

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


def inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """``path`` (as given) when it lies inside ``root`` once both are resolved; BenchError otherwise.

    Resolving follows symlinks and ``..``, so neither a crafted name nor a symlinked directory can take a
    write outside the directory the user gave. Returns the unresolved path so messages keep the user's
    spelling.
    """
    path = Path(path)
    try:
        real_root = Path(root).resolve()
        real = path.resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop, an unreadable component
        raise BenchError(f"cannot resolve {path}: {e}") from None
    if real != real_root and not real.is_relative_to(real_root):
        raise BenchError(f"refusing to write {path}: it resolves to {real}, outside {Path(root)}")
    return path


def _cell_path(run_dir: Path, sub: str, cell_id: str, suffix: str = "") -> Path:
    # The id is checked for syntax (one safe name per axis: no separator, no "..") before it names a path.
    parse_cell_id(cell_id)
    return inside(run_dir, Path(run_dir) / sub / f"{cell_id}{suffix}")


def run_file(run_dir: Path) -> Path:
    return Path(run_dir) / RUN_FILE


def cell_result_path(run_dir: Path, cell_id: str) -> Path:
    return _cell_path(run_dir, CELLS_DIR, cell_id, ".json")


def steps_path(run_dir: Path, cell_id: str) -> Path:
    return _cell_path(run_dir, STEPS_DIR, cell_id, ".jsonl")


def log_path(run_dir: Path, cell_id: str) -> Path:
    return _cell_path(run_dir, LOGS_DIR, cell_id, ".log")


def work_dir(run_dir: Path, cell_id: str) -> Path:
    return _cell_path(run_dir, WORK_DIR, cell_id)
