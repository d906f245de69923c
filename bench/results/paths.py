"""The run directory's layout: file names and paths, in one place (no reading or writing here).

One run = one directory, default ``reports/runs/<run_id>``::

    <run_dir>/run.json                   {"schema", "run_id", "created_at", "argv", "profile", "settings",
                                          "cells_planned": [cell_id, ...], "repeats", "schedule_seed",
                                          "schedule": [{"order", "block", "cell_id", "repeat"}, ...]}
    <run_dir>/environment.json           bench.host.envinfo.collect_environment(...)
    <run_dir>/cells/<cell_id>/r<k>.json  CellResult.to_dict() of the cell's k-th process (k = 1, 2, ...)
    <run_dir>/steps/<cell_id>/r<k>.jsonl its StepRecord rows, one JSON object per line
    <run_dir>/logs/<cell_id>/r<k>.log    its worker's stdout and stderr
    <run_dir>/work/<cell_id>/            scratch shared by the cell's processes (spec files, compile
                                         caches, tidied after each process); not results,
                                         never read back: --resume recreates it empty
    <run_dir>/roofline.json              the CUDA device's measured peak, when the run has CUDA cells
    <run_dir>/roofline-cpu.json          the CPU's, when the run has CPU cells (bench.host.roofline)

Runs of schema 1 and 2 (one process per cell) stored ``cells/<cell_id>.json``,
``steps/<cell_id>.jsonl`` and ``logs/<cell_id>.log`` (``FLAT_LAYOUT_SCHEMAS``); they are read as
repeat 1 of each cell, never written.

``bench.results.write`` writes these files (atomically) and ``bench.results.load`` reads them back.

Run directories are shared between machines, so their contents are untrusted: every path built here
from a cell id is checked to lie inside the run directory (``inside``); the reports and baselines use
the same check against their own output directory. Only resolving symlinks touches the filesystem.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

from bench.cell import parse_cell_id
from bench.errors import BenchError

RUN_FILE = "run.json"
ENV_FILE = "environment.json"
ROOFLINE_FILE = "roofline.json"
CELLS_DIR = "cells"
STEPS_DIR = "steps"
LOGS_DIR = "logs"
WORK_DIR = "work"
DEFAULT_RUNS_ROOT = Path("reports") / "runs"
# run.json schemas whose cells are one file each (cells/<cell_id>.json): one process per cell.
FLAT_LAYOUT_SCHEMAS = (1, 2)
# The name of a process's file, without its suffix: r1, r2, ... (no leading zero: one name per repeat).
PROCESS_NAME = re.compile(r"r([1-9][0-9]{0,8})")
RESULT_SUFFIX, STEPS_SUFFIX, LOG_SUFFIX = ".json", ".jsonl", ".log"


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


def checked_repeat(repeat: object) -> int:
    """``repeat`` when it is a process number (an int >= 1); BenchError otherwise."""
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise BenchError(f"bad repeat {repeat!r}: a process number is an integer >= 1")
    return repeat


def process_name(repeat: int) -> str:
    """``r<k>``: the name of the k-th process's files."""
    return f"r{checked_repeat(repeat)}"


def repeat_of(file_name: str, suffix: str) -> int | None:
    """k of a process file name ``r<k><suffix>``; None for any other name (``r0``, ``r01``, ``x``)."""
    if not file_name.endswith(suffix):
        return None
    m = PROCESS_NAME.fullmatch(file_name[: len(file_name) - len(suffix)])
    return int(m.group(1)) if m else None


def _process_path(run_dir: Path, sub: str, cell_id: str, repeat: int, suffix: str) -> Path:
    name = process_name(repeat)
    return inside(run_dir, _cell_path(run_dir, sub, cell_id) / f"{name}{suffix}")


def run_file(run_dir: Path) -> Path:
    return Path(run_dir) / RUN_FILE


def roofline_path(run_dir: Path, device: str = "cuda") -> Path:
    """Where a device's measured peak is kept: roofline.json for CUDA (as before), roofline-<device>.json
    for another device of the vocabulary."""
    from bench.axes import check

    check("device", device)
    return Path(run_dir) / (ROOFLINE_FILE if device == "cuda" else f"roofline-{device}.json")


def cell_result_path(run_dir: Path, cell_id: str, repeat: int = 1) -> Path:
    """cells/<cell_id>/r<repeat>.json"""
    return _process_path(run_dir, CELLS_DIR, cell_id, repeat, RESULT_SUFFIX)


def steps_path(run_dir: Path, cell_id: str, repeat: int = 1) -> Path:
    """steps/<cell_id>/r<repeat>.jsonl"""
    return _process_path(run_dir, STEPS_DIR, cell_id, repeat, STEPS_SUFFIX)


def log_path(run_dir: Path, cell_id: str, repeat: int = 1) -> Path:
    """logs/<cell_id>/r<repeat>.log"""
    return _process_path(run_dir, LOGS_DIR, cell_id, repeat, LOG_SUFFIX)


def work_dir(run_dir: Path, cell_id: str) -> Path:
    """work/<cell_id>/: shared by the cell's processes."""
    return _cell_path(run_dir, WORK_DIR, cell_id)


def flat_layout(schema: object) -> bool:
    """Whether a run of this run.json schema stores one file per cell (schema 1 and 2)."""
    return schema in FLAT_LAYOUT_SCHEMAS
