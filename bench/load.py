"""Reading runs back: stored files checked and migrated, then tidy DataFrames (``load_run``).

Stored files are untrusted input: every file read is validated (``bench.schema``) after older schemas
are brought up to today's (``bench.migrations``; the files are never rewritten), a cell is refused
under another cell's file name, and a run holding a link that leads out of it is refused. Every
problem is a one-line BenchError naming the file (and the field). pandas is imported lazily, by
``load_run``/``load_runs`` once every file has been read, so a corrupt run is refused quickly.
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
from .vocab import FAILED_STATUSES

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


def _corrupt(text: str) -> BenchError:
    # Paths and values come from the stored files: escaped so that the message stays one line.
    from .schema import one_line

    return BenchError(one_line(text))


def read_json(path: Path, what: str) -> Any:
    """A JSON file's content; BenchError naming ``what`` and the path when missing or corrupt."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _corrupt(f"missing {what}: {path}") from None
    except IsADirectoryError:
        raise _corrupt(f"corrupt {what} {path}: a directory, not a file") from None
    except OSError as e:
        raise _corrupt(f"cannot read {what} {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise _corrupt(f"corrupt {what} {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise _corrupt(f"corrupt {what} {path}: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except (ValueError, RecursionError) as e:  # an integer of thousands of digits, absurd nesting
        raise _corrupt(f"corrupt {what} {path}: {type(e).__name__}: {e}") from None


def check_no_links_out(run_dir: Path) -> None:
    """No symbolic link in the run's tree leads out of it; BenchError naming the first that does.

    A link out of the run (cells/ → elsewhere, a log or a cell's work directory → a victim) would take
    reads and, on --resume, writes and deletions outside the directory the user gave.
    """
    root = run_dir.resolve()
    todo = [run_dir]
    while todo:
        d = todo.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as e:
            raise _corrupt(f"cannot read run directory {d}: {e.strerror or e}") from None
        for entry in entries:
            if entry.is_symlink():
                try:
                    target = Path(entry.path).resolve()
                except (OSError, RuntimeError):  # a loop of links
                    raise _corrupt(f"unsafe run directory {run_dir}: {entry.path} is a loop of links") \
                        from None
                if target != root and not target.is_relative_to(root):
                    raise _corrupt(f"unsafe run directory {run_dir}: {entry.path} is a link out of it "
                                   f"(to {target})")
            elif entry.is_dir(follow_symlinks=False):
                todo.append(Path(entry.path))


def read_run_meta(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """run.json, validated (bench.schema): every planned cell id is a safe, known cell; and no link in
    the run leads out of it."""
    from .schema import validate_run_meta

    run_dir = Path(run_dir)
    if not run_file(run_dir).exists():
        if not run_dir.exists():
            raise _corrupt(f"no such run directory: {run_dir}")
        raise _corrupt(f"not a run directory (no {RUN_FILE}): {run_dir}")
    check_no_links_out(run_dir)
    meta = validate_run_meta(read_json(run_file(run_dir), "run file"), run_file(run_dir))
    meta.setdefault("run_id", run_dir.name)
    return meta


def read_environment(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """environment.json of a run, validated; {} when the run has none."""
    from .schema import validate_environment

    path = Path(run_dir) / ENV_FILE
    if not path.exists():
        return {}
    return validate_environment(read_json(path, "environment file"), path)


def read_roofline(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """roofline.json of a run, validated; None when the run has none."""
    from .schema import validate_roofline

    path = Path(run_dir) / ROOFLINE_FILE
    if not path.exists():
        return None
    return validate_roofline(read_json(path, "roofline file"), path)


def read_cell_result(path: Path) -> CellResult:
    """One cell result file, migrated and validated (bench.schema)."""
    from .schema import validate_cell_result

    d = read_json(path, "cell result")
    if not isinstance(d, dict):
        raise _corrupt(f"corrupt cell result {path}: not a JSON object")
    try:
        d = migrate_cell(d)
    except (TypeError, KeyError, ValueError) as e:
        raise _corrupt(f"corrupt cell result {path}: {e}") from None
    return validate_cell_result(d, path)


def read_cell_results(run_dir: Path) -> dict[str, CellResult]:
    """cell_id → CellResult for every result file of the run (temporary files ignored).

    A result stored under another cell's file name is refused: the name is what --resume and the
    reports go by.
    """
    out: dict[str, CellResult] = {}
    cells = Path(run_dir) / CELLS_DIR
    if cells.is_dir():
        for p in sorted(cells.glob("*.json")):
            if p.name.startswith("."):
                continue
            r = read_cell_result(p)
            if p.name != f"{r.cell.cell_id}.json":
                raise _corrupt(f"corrupt cell result {p}: cell_id {r.cell.cell_id!r} does not match "
                               "the file name")
            out[r.cell.cell_id] = r
    return out


def read_steps(path: Path, cell_id: str | None = None) -> list[dict[str, Any]]:
    """The rows of a steps file, migrated and validated; with ``cell_id``, rows default to it and any
    other cell's row is refused."""
    from .schema import validate_step_row

    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise _corrupt(f"cannot read steps file {path}: {getattr(e, 'strerror', None) or e}") from None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise _corrupt(f"corrupt steps file {path}: line {i}: {e.msg} (column {e.colno})") from None
        except (ValueError, RecursionError) as e:
            raise _corrupt(f"corrupt steps file {path}: line {i}: {type(e).__name__}: {e}") from None
        if not isinstance(row, dict) or "step" not in row:
            raise _corrupt(f"corrupt steps file {path}: line {i} is not a step record")
        row = migrate_step(row)
        if cell_id is not None:
            row.setdefault("cell_id", cell_id)
        row = validate_step_row(row, path, i)
        if cell_id is not None and row["cell_id"] != cell_id:
            raise _corrupt(f"corrupt steps file {path}: line {i}: cell_id {row['cell_id']!r} is not "
                           "the file's cell")
        rows.append(row)
    return rows


def steps_files(run_dir: Path) -> list[Path]:
    """The run's steps files (temporary files ignored); refuses one whose name is not a cell id."""
    from .schema import checked_cell_id

    steps_dir = Path(run_dir) / STEPS_DIR
    found = sorted(p for p in steps_dir.glob("*.jsonl") if not p.name.startswith(".")) \
        if steps_dir.is_dir() else []
    for p in found:
        try:
            checked_cell_id(p.stem)
        except BenchError as e:
            raise _corrupt(f"corrupt steps file {p}: the file name is not a cell id ({e})") from None
    return found


def check_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate every stored file of a run, without building its tables; returns its run.json.

    ``--resume`` calls this before it touches anything: a corrupt file is refused up front (one line,
    exit 2), not after cells have run.
    """
    run_dir = Path(run_dir)
    meta = read_run_meta(run_dir)
    read_environment(run_dir)
    read_roofline(run_dir)
    read_cell_results(run_dir)
    for p in steps_files(run_dir):
        read_steps(p, p.stem)
    return meta


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
    run_dir = Path(path)
    if run_dir.name == RUN_FILE:
        run_dir = run_dir.parent
    meta = read_run_meta(run_dir)
    run_id = str(meta["run_id"])
    env = read_environment(run_dir)
    roofline = read_roofline(run_dir)

    results = read_cell_results(run_dir)
    steps_by_file = [read_steps(p, p.stem) for p in steps_files(run_dir)]
    import pandas as pd  # once every file has been read and validated: a corrupt run fails fast

    planned = list(meta["cells_planned"])
    order = planned + sorted(set(results) - set(planned))
    rows = [_flatten({"run_id": run_id, **results[cid].to_dict()}) for cid in order if cid in results]
    extra = sorted({k for r in rows for k in r} - set(CELL_COLUMNS))
    cells = pd.DataFrame(rows, columns=CELL_COLUMNS + extra)
    for col in [*NUMERIC_CELL_COLUMNS, *(c for c in extra if c.startswith("final_losses."))]:
        cells[col] = pd.to_numeric(cells[col], errors="coerce")

    step_rows: list[dict[str, Any]] = []
    for rows_of_file in steps_by_file:
        for row in rows_of_file:
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
    runs = [load_run(p) for p in paths]
    import pandas as pd
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
            except (OSError, ValueError, AttributeError, RecursionError):
                created = ""  # a corrupt run still lists; load_run will name the bad file
            found.append((created, d.name, d))
    return [d for _, _, d in sorted(found)]


def latest_run(root: str | os.PathLike[str] = DEFAULT_RUNS_ROOT) -> Path | None:
    """The most recent run directory under ``root``, or None."""
    runs = list_runs(root)
    return runs[-1] if runs else None
