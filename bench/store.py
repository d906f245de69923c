"""The run directory: atomic writes of raw results, and loading them back as tidy DataFrames.

Layout (one run = one directory, default ``reports/runs/<run_id>``)::

    <run_dir>/run.json              {"schema", "run_id", "created_at", "argv", "profile", "settings",
                                     "cells_planned": [cell_id, ...]}
    <run_dir>/environment.json      bench.envinfo.collect_environment(...)
    <run_dir>/cells/<cell_id>.json  CellResult.to_dict()
    <run_dir>/steps/<cell_id>.jsonl StepRecord rows, one JSON object per line
    <run_dir>/logs/<cell_id>.log    the worker's stderr
    <run_dir>/roofline.json         when measured (CUDA only)

Every file is written whole or not at all (``atomic_write_text``), so a run killed at any moment
leaves only complete files behind; ``--resume`` relies on that. pandas is imported lazily: the
worker imports this module for ``atomic_write_text`` and should not pay for pandas at start-up.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BenchError
from .migrations import migrate_cell, migrate_step
from .records import SCHEMA_VERSION, Cell, CellResult, RunSettings, StepRecord
from .vocab import CELL_STATUSES

if TYPE_CHECKING:
    import pandas as pd

RUN_FILE = "run.json"
ENV_FILE = "environment.json"
ROOFLINE_FILE = "roofline.json"
CELLS_DIR = "cells"
STEPS_DIR = "steps"
LOGS_DIR = "logs"
WORK_DIR = "work"  # per-cell scratch (compile caches); not results
DEFAULT_RUNS_ROOT = Path("reports") / "runs"

# Statuses a --resume runs again (the cell did not produce a measurement through no fault of the
# settings: a crash, a kill, a timeout). "skipped" and "diverged" are final answers.
RERUN_STATUSES: frozenset[str] = frozenset({"failed", "timeout", "oom"})

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


# --------------------------------------------------------------------------- writing


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a part.

    The temporary file lives in the same directory (``os.replace`` is atomic only within one
    filesystem) and is fsynced before the rename, so a crash after the rename cannot leave an empty
    file behind either. Parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not supported everywhere (e.g. Windows), hence best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and paths sneak into records; store them as plain JSON values.
    if hasattr(obj, "item") and callable(obj.item):
        try:
            return obj.item()
        except (TypeError, ValueError):
            pass
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean_floats(obj: Any) -> Any:
    # NaN/inf are not JSON; a diverged loss is stored as null (the status says why).
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_floats(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    """Strict JSON text (no NaN), with numpy values converted."""
    return json.dumps(_clean_floats(obj), indent=2, sort_keys=False, default=_json_default,
                      allow_nan=False) + "\n"


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, dumps(obj))


def new_run_id(now: datetime | None = None) -> str:
    """UTC timestamp ``YYYYmmddTHHMMSSZ``: sorts in time order as a string."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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


def create_run(
    out_dir: str | os.PathLike[str],
    settings: RunSettings,
    argv: Sequence[str],
    profile: str,
    cells: Iterable[Cell],
    *,
    run_id: str | None = None,
    environment: dict[str, Any] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> Path:
    """Make a new run directory with run.json (and environment.json when given); returns it.

    ``extra_meta`` adds keys to run.json (the CLI stores ``settings_by_model`` and ``pythons``).
    Refuses a directory that already holds a run: results are never overwritten (use --resume).
    """
    run_dir = Path(out_dir)
    if run_file(run_dir).exists():
        raise BenchError(f"{run_dir} already holds a run; use --resume to continue it or --out for a new one")
    for sub in (CELLS_DIR, STEPS_DIR, LOGS_DIR):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    meta = {
        "schema": SCHEMA_VERSION,
        "run_id": run_id or run_dir.name,
        "created_at": utc_now_iso(),
        "argv": list(argv),
        "profile": profile,
        "settings": settings.to_dict(),
        "cells_planned": [c.cell_id for c in cells],
        **(extra_meta or {}),
    }
    if environment is not None:
        write_environment(run_dir, environment)
    atomic_write_json(run_file(run_dir), meta)
    return run_dir


def update_run_meta(run_dir: Path, **changes: Any) -> dict[str, Any]:
    """Rewrite run.json with some keys changed (e.g. a resume appending to ``resumed_at``)."""
    meta = read_run_meta(run_dir)
    meta.update(changes)
    atomic_write_json(run_file(run_dir), meta)
    return meta


def write_environment(run_dir: Path, environment: dict[str, Any]) -> Path:
    return atomic_write_json(Path(run_dir) / ENV_FILE, environment)


def write_roofline(run_dir: Path, roofline: dict[str, Any]) -> Path:
    return atomic_write_json(Path(run_dir) / ROOFLINE_FILE, roofline)


def write_cell_result(run_dir: Path, result: CellResult) -> Path:
    return atomic_write_json(cell_result_path(run_dir, result.cell.cell_id), result.to_dict())


def write_steps(path: Path, records: Iterable[StepRecord | dict[str, Any]]) -> Path:
    """StepRecord rows as JSON Lines, atomically (the worker calls this with its steps_path)."""
    lines = []
    for r in records:
        d = r.to_dict() if isinstance(r, StepRecord) else dict(r)
        lines.append(json.dumps(_clean_floats(d), default=_json_default, allow_nan=False))
    return atomic_write_text(path, "".join(line + "\n" for line in lines))


# --------------------------------------------------------------------------- reading


def _read_json(path: Path, what: str) -> Any:
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
    meta = _read_json(run_file(run_dir), "run file")
    if not isinstance(meta, dict) or "settings" not in meta or "cells_planned" not in meta:
        raise BenchError(f"corrupt run file {run_file(run_dir)}: missing 'settings' or 'cells_planned'")
    meta.setdefault("run_id", run_dir.name)
    return meta


def read_settings(run_dir: Path) -> RunSettings:
    return RunSettings.from_dict(read_run_meta(run_dir)["settings"])


def read_cell_result(path: Path) -> CellResult:
    d = _read_json(path, "cell result")
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


def parse_cell_id(cell_id: str) -> Cell:
    """Inverse of ``Cell.cell_id`` (model__framework__mode__device__precision__b<N>__variant)."""
    parts = cell_id.split("__")
    if len(parts) != 7 or not parts[5].startswith("b") or not parts[5][1:].isdigit():
        raise BenchError(f"malformed cell id {cell_id!r}")
    model, framework, mode, device, precision, b, variant = parts
    return Cell(model=model, framework=framework, mode=mode, device=device, precision=precision,
                batch_size=int(b[1:]), variant=variant)


def cells_to_rerun(run_dir: Path) -> list[Cell]:
    """Planned cells of a run with no result, or with a failed/timeout/oom result (for --resume)."""
    meta = read_run_meta(run_dir)
    results = read_cell_results(run_dir)
    todo = []
    for cid in meta["cells_planned"]:
        r = results.get(cid)
        if r is None or r.status in RERUN_STATUSES:
            todo.append(parse_cell_id(cid))
    return todo


@dataclass
class RunData:
    """One run loaded back: metadata, environment and the tidy tables."""

    run_id: str
    path: Path
    meta: dict[str, Any]
    env: dict[str, Any]
    cells: pd.DataFrame  # one row per cell: CELL_COLUMNS (+ flags.*, versions.* scalars)
    steps: pd.DataFrame  # one row per step: STEP_COLUMNS
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
    env = _read_json(env_path, "environment file") if env_path.exists() else {}
    roof_path = run_dir / ROOFLINE_FILE
    roofline = _read_json(roof_path, "roofline file") if roof_path.exists() else None

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
