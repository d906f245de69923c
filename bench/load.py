"""Reading runs back: stored files checked and migrated, then tidy DataFrames (``load_run``).

Stored files are untrusted input: every read names the file it could not use in a one-line
BenchError. Older schemas are brought up to today's on load (``bench.migrations``; the files are
never rewritten). pandas is imported lazily, only by ``load_run``/``load_runs``.
``from bench.store import load_run, load_runs`` keeps working (bench.store re-exports this module).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cell import parse_cell_id
from .errors import BenchError
from .migrations import migrate_cell, migrate_step
from .records import Cell, CellResult, RunSettings, StepRecord
from .rundir import CELLS_DIR, DEFAULT_RUNS_ROOT, ENV_FILE, ROOFLINE_FILE, RUN_FILE, STEPS_DIR, run_file
from .vocab import CELL_STATUSES, FAILED_STATUSES

if TYPE_CHECKING:
    import pandas as pd

# Columns of the DataFrames, in a stable order, even when a run has no cells or no steps yet.
CELL_COLUMNS: list[str] = ["run_id", "cell_id"] + [f.name for f in fields(Cell)] + [
    f.name for f in fields(CellResult) if f.name != "cell"
]
STEP_COLUMNS: list[str] = ["run_id"] + [f.name for f in fields(StepRecord)]
# Numeric CellResult columns: coerced to float/int dtypes so that a column of None is NaN, not object.
NUMERIC_CELL_COLUMNS: list[str] = [
    f.name for f in fields(CellResult) if str(f.type).split(" |")[0] in ("float", "int")
]
# Dict-valued CellResult columns that load_run also flattens into "<name>.<key>" scalar columns.
FLATTENED_DICTS: tuple[str, ...] = ("flags", "versions", "final_losses")
# The step rows' dict of named losses, flattened into "losses.<name>" columns.
STEP_LOSSES = "losses"


# --------------------------------------------------------------------------- files


def read_json(path: Path, what: str) -> Any:
    """A JSON file's content; BenchError naming ``what`` and the path when missing or corrupt."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"missing {what}: {path}") from None
    except OSError as e:
        raise BenchError(f"cannot read {what} {path}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise BenchError(f"corrupt {what} {path}: {e.msg} at line {e.lineno} column {e.colno}") from None


def read_run_meta(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not run_file(run_dir).exists():
        if not run_dir.exists():
            raise BenchError(f"no such run directory: {run_dir}")
        raise BenchError(f"not a run directory (no {RUN_FILE}): {run_dir}")
    meta = read_json(run_file(run_dir), "run file")
    if not isinstance(meta, dict) or "settings" not in meta or "cells_planned" not in meta:
        raise BenchError(f"corrupt run file {run_file(run_dir)}: missing 'settings' or 'cells_planned'")
    meta.setdefault("run_id", run_dir.name)
    return meta


def read_cell_result(path: Path) -> CellResult:
    d = read_json(path, "cell result")
    if not isinstance(d, dict):
        raise BenchError(f"corrupt cell result {path}: not a JSON object")
    try:
        result = CellResult.from_dict(migrate_cell(d))
    except (TypeError, KeyError, ValueError) as e:
        raise BenchError(f"corrupt cell result {path}: {e}") from None
    if result.status not in CELL_STATUSES:
        raise BenchError(f"corrupt cell result {path}: unknown status {result.status!r}")
    return result


def read_cell_results(run_dir: Path) -> dict[str, CellResult]:
    """cell_id → CellResult for every result file of the run (temporary files ignored)."""
    out: dict[str, CellResult] = {}
    cells = Path(run_dir) / CELLS_DIR
    if cells.is_dir():
        for p in sorted(cells.glob("*.json")):
            if p.name.startswith("."):
                continue
            r = read_cell_result(p)
            out[r.cell.cell_id] = r
    return out


def read_steps(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise BenchError(f"cannot read steps file {path}: {e.strerror or e}") from None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise BenchError(f"corrupt steps file {path}: line {i}: {e.msg}") from None
        if not isinstance(row, dict) or "step" not in row:
            raise BenchError(f"corrupt steps file {path}: line {i} is not a step record")
        rows.append(migrate_step(row))
    return rows


def cells_to_rerun(run_dir: Path) -> list[Cell]:
    """Planned cells of a run with no result, or with a failed/timeout/oom result (for --resume).

    "skipped" and "diverged" are final answers; the FAILED_STATUSES did not produce a measurement
    through no fault of the settings (a crash, a kill, a timeout).
    """
    meta = read_run_meta(run_dir)
    results = read_cell_results(run_dir)
    todo = []
    for cid in meta["cells_planned"]:
        r = results.get(cid)
        if r is None or r.status in FAILED_STATUSES:
            todo.append(parse_cell_id(cid))
    return todo


# --------------------------------------------------------------------------- runs as tables


@dataclass
class RunData:
    """One run loaded back: metadata, environment and the tidy tables."""

    run_id: str
    path: Path
    meta: dict[str, Any]
    env: dict[str, Any]
    cells: pd.DataFrame  # one row per cell: CELL_COLUMNS (+ flags.*, versions.*, final_losses.* scalars)
    steps: pd.DataFrame  # one row per step: STEP_COLUMNS (+ losses.*)
    roofline: dict[str, Any] | None = None

    @property
    def settings(self) -> RunSettings:
        return RunSettings.from_dict(self.meta.get("settings", {}))

    def settings_for(self, model: str) -> RunSettings:
        """The settings a model's cells ran with (profiles give models different step counts)."""
        by_model = self.meta.get("settings_by_model") or {}
        return RunSettings.from_dict(by_model.get(model) or self.meta.get("settings", {}))


@dataclass
class RunSet:
    """Several runs: the per-run data plus the concatenated tables (rows tagged by run_id)."""

    runs: list[RunData] = field(default_factory=list)
    cells: pd.DataFrame | None = None
    steps: pd.DataFrame | None = None

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    for name in FLATTENED_DICTS:
        d = row.get(name) or {}
        if isinstance(d, dict):
            for k, v in d.items():
                if v is None or isinstance(v, (str, int, float, bool)):
                    row[f"{name}.{k}"] = v
    return row


def load_run(path: str | os.PathLike[str]) -> RunData:
    """Load a run directory (or its run.json). Raises BenchError naming any corrupt file."""
    import pandas as pd

    run_dir = Path(path)
    if run_dir.name == RUN_FILE:
        run_dir = run_dir.parent
    meta = read_run_meta(run_dir)
    run_id = str(meta["run_id"])
    env_path = run_dir / ENV_FILE
    env = read_json(env_path, "environment file") if env_path.exists() else {}
    roof_path = run_dir / ROOFLINE_FILE
    roofline = read_json(roof_path, "roofline file") if roof_path.exists() else None

    results = read_cell_results(run_dir)
    planned = list(meta["cells_planned"])
    order = planned + sorted(set(results) - set(planned))
    rows = [_flatten({"run_id": run_id, **results[cid].to_dict()}) for cid in order if cid in results]
    extra = sorted({k for r in rows for k in r} - set(CELL_COLUMNS))
    cells = pd.DataFrame(rows, columns=CELL_COLUMNS + extra)
    for col in [*NUMERIC_CELL_COLUMNS, *(c for c in extra if c.startswith("final_losses."))]:
        cells[col] = pd.to_numeric(cells[col], errors="coerce")

    step_rows: list[dict[str, Any]] = []
    steps_dir = run_dir / STEPS_DIR
    if steps_dir.is_dir():
        for p in sorted(steps_dir.glob("*.jsonl")):
            if p.name.startswith("."):
                continue
            for row in read_steps(p):
                row.setdefault("cell_id", p.stem)
                losses = row.get(STEP_LOSSES)
                if isinstance(losses, dict):
                    row.update({f"{STEP_LOSSES}.{k}": v for k, v in losses.items()})
                step_rows.append({"run_id": run_id, **row})
    steps = pd.DataFrame(step_rows, columns=STEP_COLUMNS + sorted(
        {k for r in step_rows for k in r} - set(STEP_COLUMNS)))
    for col in ["step", "step_time_s", *(c for c in steps.columns if c.startswith(f"{STEP_LOSSES}."))]:
        steps[col] = pd.to_numeric(steps[col], errors="coerce")
    return RunData(run_id=run_id, path=run_dir, meta=meta, env=env, cells=cells, steps=steps,
                   roofline=roofline)


def load_runs(paths: Iterable[str | os.PathLike[str]]) -> RunSet:
    """Load several runs; ``cells``/``steps`` are the concatenated tables (tagged by run_id)."""
    import pandas as pd

    runs = [load_run(p) for p in paths]
    if not runs:
        return RunSet(runs=[], cells=pd.DataFrame(columns=CELL_COLUMNS),
                      steps=pd.DataFrame(columns=STEP_COLUMNS))
    cells = pd.concat([r.cells for r in runs if not r.cells.empty] or [runs[0].cells], ignore_index=True)
    steps = pd.concat([r.steps for r in runs if not r.steps.empty] or [runs[0].steps], ignore_index=True)
    return RunSet(runs=runs, cells=cells, steps=steps)


# --------------------------------------------------------------------------- finding runs


def list_runs(root: str | os.PathLike[str] = DEFAULT_RUNS_ROOT) -> list[Path]:
    """Run directories directly under ``root`` (those with a run.json), oldest first.

    Ordered by run.json's created_at (then name), so runs written with a custom --out name sort too.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        rf = d / RUN_FILE
        if d.is_dir() and rf.is_file():
            try:
                created = str(json.loads(rf.read_text(encoding="utf-8")).get("created_at", ""))
            except (OSError, ValueError, AttributeError):
                created = ""  # a corrupt run still lists; load_run will name the bad file
            found.append((created, d.name, d))
    return [d for _, _, d in sorted(found)]


def latest_run(root: str | os.PathLike[str] = DEFAULT_RUNS_ROOT) -> Path | None:
    """The most recent run directory under ``root``, or None."""
    runs = list_runs(root)
    return runs[-1] if runs else None
