"""Reading runs back: stored files checked and migrated, then tidy DataFrames (``load_run``).

Stored files are untrusted input: every file read is validated (``bench.results.schema``) after older schemas
are brought up to today's (``bench.results.migrations``; the files are never rewritten), a cell is refused
under another cell's file name, and a run holding a link that leads out of it is refused; each file
is opened as ``bench.results.storedfile`` says (regular, no link, size-limited). Every problem is a one-line
BenchError naming the file (and the field). pandas is imported lazily, by ``load_run``/``load_runs``
once every file has been read. ``bench.results.write`` re-exports this module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.cell import parse_cell_id
from bench.errors import BenchError
from bench.results.layout import (
    ProcessFile,
    check_no_links_out,
    process_files,
    result_problem,
    schedule_index,
)
from bench.results.migrations import migrate_cell, migrate_step
from bench.results.paths import (
    CELLS_DIR,
    ENV_FILE,
    RESULT_SUFFIX,
    RUN_FILE,
    STEPS_DIR,
    STEPS_SUFFIX,
    roofline_path,
    run_file,
)
from bench.results.records import Cell, CellResult, RunSettings, StepRecord
from bench.results.slots import Slot, slots_from_entries
from bench.results.storedfile import loads_strict, read_stored_json, stored_lines
from bench.vocab import FAILED_STATUSES

if TYPE_CHECKING:
    import pandas as pd

# A stored process: (cell id, repeat).
ProcessKey = tuple[str, int]
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
    from bench.results.schema import one_line

    return BenchError(one_line(text))


# A JSON file's content; BenchError naming ``what`` and the path when missing, not a regular file,
# over its size limit, or corrupt (bench.results.storedfile).
read_json = read_stored_json


def read_run_meta(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """run.json, validated (bench.results.schema): every planned cell id is a safe, known cell; and no link in
    the run leads out of it."""
    from bench.results.schema import validate_run_meta

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
    from bench.results.schema import validate_environment

    path = Path(run_dir) / ENV_FILE
    if not path.exists():
        return {}
    return validate_environment(read_json(path, "environment file"), path)


def read_roofline(run_dir: str | os.PathLike[str], device: str = "cuda") -> dict[str, Any] | None:
    """A device's measured peak (roofline.json for CUDA, roofline-<device>.json), validated; None when
    the run has none."""
    from bench.results.schema import validate_roofline

    path = roofline_path(Path(run_dir), device)
    if not path.exists():
        return None
    return validate_roofline(read_json(path, "roofline file"), path)


def read_rooflines(run_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """device -> its measured peak, for every device the run has one for."""
    from bench.vocab import DEVICES

    return {d: roof for d in DEVICES if (roof := read_roofline(run_dir, d)) is not None}


def read_cell_result(path: Path) -> CellResult:
    """One process's result file, migrated and validated (bench.results.schema)."""
    from bench.results.schema import validate_cell_result

    d = read_json(path, "cell result")
    if not isinstance(d, dict):
        raise _corrupt(f"corrupt cell result {path}: not a JSON object")
    try:
        d = migrate_cell(d)
    except (TypeError, KeyError, ValueError) as e:
        raise _corrupt(f"corrupt cell result {path}: {e}") from None
    return validate_cell_result(d, path)


def _schema_of(meta: dict[str, Any]) -> object:
    return meta.get("schema", 1)


def read_process_results(run_dir: Path, meta: dict[str, Any] | None = None) -> dict[ProcessKey, CellResult]:
    """(cell_id, repeat) → CellResult for every stored process of the run (temporary files ignored).

    A result is refused when its cell or repeat is not the one its file is named by (the names are
    what --resume and the reports go by), or when its block and order disagree with run.json's schedule.
    """
    meta = read_run_meta(run_dir) if meta is None else meta
    index = schedule_index(meta)
    out: dict[ProcessKey, CellResult] = {}
    from bench.results.schema import checked_cell_id

    for cid, repeat, path in process_files(Path(run_dir), CELLS_DIR, RESULT_SUFFIX, _schema_of(meta),
                                           "cell result", checked_cell_id):
        r = read_cell_result(path)
        if r.cell.cell_id != cid:
            raise _corrupt(f"corrupt cell result {path}: cell_id {r.cell.cell_id!r} does not match "
                           "the file name")
        if r.repeat != repeat:
            raise _corrupt(f"corrupt cell result {path}: repeat {r.repeat} does not match the file name "
                           f"(r{repeat})")
        problem = result_problem(meta, index, cid, repeat, r.block, r.order)
        if problem:
            raise _corrupt(f"corrupt cell result {path}: {problem}")
        out[(cid, repeat)] = r
    return out


def read_steps(path: Path, cell_id: str | None = None, repeat: int | None = None,
               max_rows: int | None = None) -> list[dict[str, Any]]:
    """The rows of a steps file, migrated and validated; with ``cell_id`` (``repeat``), rows default to
    it and any other cell's (process's) row is refused. The file is streamed (bench.results.storedfile); with
    ``max_rows`` (``step_count``), a row beyond the process's recorded step count is refused."""
    from bench.results.schema import validate_step_row

    rows = []
    for i, line in stored_lines(path, "steps file"):
        if not line.strip():
            continue
        if max_rows is not None and len(rows) >= max_rows:
            raise _corrupt(f"corrupt steps file {path}: line {i}: more rows than the process's "
                           f"{max_rows} recorded step(s)")
        try:
            row = loads_strict(line)
        except json.JSONDecodeError as e:
            raise _corrupt(f"corrupt steps file {path}: line {i}: {e.msg} (column {e.colno})") from None
        except RecursionError as e:
            raise _corrupt(f"corrupt steps file {path}: line {i}: {type(e).__name__}: {e}") from None
        except ValueError as e:
            raise _corrupt(f"corrupt steps file {path}: line {i}: {e}") from None
        if not isinstance(row, dict) or "step" not in row:
            raise _corrupt(f"corrupt steps file {path}: line {i} is not a step record")
        row = migrate_step(row)
        if cell_id is not None:
            row.setdefault("cell_id", cell_id)
        if repeat is not None:
            row.setdefault("repeat", repeat)
        row = validate_step_row(row, path, i)
        if cell_id is not None and row["cell_id"] != cell_id:
            raise _corrupt(f"corrupt steps file {path}: line {i}: cell_id {row['cell_id']!r} is not "
                           "the file's cell")
        if repeat is not None and row["repeat"] != repeat:
            raise _corrupt(f"corrupt steps file {path}: line {i}: repeat {row['repeat']} is not the "
                           f"file's process (r{repeat})")
        rows.append(row)
    return rows


def step_count(meta: dict[str, Any], cell_id: str, result: CellResult | None) -> int:
    """The most step rows a process can write: first step, warm-up, timed steps and window, by its
    recorded counts or settings (the run's, for a process with no result), whichever is more."""
    model = cell_id.split("__", 1)[0]
    stored = (result.settings if result is not None and result.settings else None) or (
        (meta.get("settings_by_model") or {}).get(model) or meta.get("settings") or {})
    return row_bound(RunSettings.from_dict(stored), result)


def row_bound(s: RunSettings, result: CellResult | None) -> int:
    """``step_count`` for a process of settings ``s`` (the worker keeps a failed process within it)."""
    n = 1 + max(s.warmup, 0) + max(s.steps, 0) + max(s.window_steps, 0)
    if result is not None:
        n = max(n, 1 + len(result.warmup_step_times_s) + result.n_steps + result.window_steps)
    return n


def _read_all_steps(run_dir: Path, meta: dict[str, Any],
                    results: dict[ProcessKey, CellResult]) -> list[list[dict[str, Any]]]:
    return [read_steps(p, cid, repeat, step_count(meta, cid, results.get((cid, repeat))))
            for cid, repeat, p in steps_files(run_dir, meta)]


def steps_files(run_dir: Path, meta: dict[str, Any] | None = None) -> list[ProcessFile]:
    """(cell_id, repeat, path) of the run's steps files (temporary files ignored); refuses a file or
    directory whose name is not a cell id, or not a process (r<k>.jsonl)."""
    from bench.results.schema import checked_cell_id

    meta = read_run_meta(run_dir) if meta is None else meta
    return process_files(Path(run_dir), STEPS_DIR, STEPS_SUFFIX, _schema_of(meta), "steps file",
                         checked_cell_id)


def check_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate every stored file of a run, without building its tables; returns its run.json.
    ``--resume`` calls this before it touches anything: a corrupt file is refused up front."""
    run_dir = Path(run_dir)
    meta = read_run_meta(run_dir)
    read_environment(run_dir)
    read_rooflines(run_dir)
    _read_all_steps(run_dir, meta, read_process_results(run_dir, meta))
    return meta


def scheduled_slots(meta: dict[str, Any]) -> list[Slot]:
    """Every process the run plans, in run order: its schedule, then each planned cell outside it
    (skipped when the run was planned) as one process. A run of schema 1-2 has no schedule: one
    process per planned cell."""
    slots = slots_from_entries(meta.get("schedule", []))
    scheduled = {s.cell_id for s in slots}
    return slots + [Slot(parse_cell_id(cid)) for cid in meta["cells_planned"] if cid not in scheduled]


def processes_to_rerun(run_dir: Path) -> list[Slot]:
    """The run's processes with no result, or with a failed/timeout/oom one, in run order (--resume).

    "skipped", "diverged" and "unsupported" are final answers; the FAILED_STATUSES did not produce a
    measurement through no fault of the settings (a crash, a kill, a timeout).
    """
    meta = read_run_meta(run_dir)
    results = read_process_results(run_dir, meta)
    todo = []
    for slot in scheduled_slots(meta):
        r = results.get((slot.cell_id, slot.repeat))
        if r is None or r.status in FAILED_STATUSES:
            todo.append(slot)
    return todo


# --------------------------------------------------------------------------- runs as tables


@dataclass
class RunData:
    """One run loaded back: metadata, environment and the tidy tables."""

    run_id: str
    path: Path
    meta: dict[str, Any]
    env: dict[str, Any]
    # One row per process (a cell measured in R processes has R rows: repeat, block, order):
    # CELL_COLUMNS (+ flags.*, versions.*, final_losses.* scalars). bench.analysis.aggregate summarises cells.
    cells: pd.DataFrame
    steps: pd.DataFrame  # one row per step of each process: STEP_COLUMNS (+ losses.*)
    roofline: dict[str, Any] | None = None  # the CUDA peak when measured, else the CPU's
    rooflines: dict[str, dict[str, Any]] = field(default_factory=dict)  # device -> its measured peak
    # A run merged from shards (bench.report.shards): m, unit, run_key, processes, runs (k -> run id).
    # Never read from a stored file.
    shards: dict[str, Any] | None = None

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
    rooflines = read_rooflines(run_dir)

    results = read_process_results(run_dir, meta)
    steps_by_file = _read_all_steps(run_dir, meta, results)
    import pandas as pd  # once every file has been read and validated: a corrupt run fails fast

    # One row per process: the planned cells in their order (then any other stored cell), each cell's
    # processes by repeat.
    rank = {cid: i for i, cid in enumerate(meta["cells_planned"])}
    keys = sorted(results, key=lambda k: (rank.get(k[0], len(rank)), k))
    rows = [_flatten({"run_id": run_id, **results[k].to_dict()}) for k in keys]
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
    losses = [c for c in steps.columns if c.startswith(f"{STEP_LOSSES}.")]
    for col in ["step", "step_time_s", "repeat", *losses]:
        steps[col] = pd.to_numeric(steps[col], errors="coerce")
    return RunData(run_id=run_id, path=run_dir, meta=meta, env=env, cells=cells, steps=steps,
                   roofline=rooflines.get("cuda") or rooflines.get("cpu"), rooflines=rooflines)


def load_runs(paths: Iterable[str | os.PathLike[str]]) -> RunSet:
    """Load several runs; ``cells``/``steps`` are the concatenated tables (tagged by run_id)."""
    return run_set([load_run(p) for p in paths])


def run_set(runs: list[RunData]) -> RunSet:
    """Runs already loaded (each checked once), as one set."""
    import pandas as pd
    if not runs:
        return RunSet(runs=[], cells=pd.DataFrame(columns=CELL_COLUMNS),
                      steps=pd.DataFrame(columns=STEP_COLUMNS))
    cells = pd.concat([r.cells for r in runs if not r.cells.empty] or [runs[0].cells], ignore_index=True)
    steps = pd.concat([r.steps for r in runs if not r.steps.empty] or [runs[0].steps], ignore_index=True)
    return RunSet(runs=runs, cells=cells, steps=steps)
