"""Writing a run: atomic writes of raw results into the run directory (``bench.results.paths``).

Every file is written whole or not at all (``atomic_write_text``), so a run killed at any moment
leaves only complete files behind; ``--resume`` relies on that. Reading runs back is
``bench.results.load``; the layout is ``bench.results.paths``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from bench.clock import utc_now_iso
from bench.errors import BenchError
from bench.results.load import read_run_meta
from bench.results.paths import (
    CELLS_DIR,
    ENV_FILE,
    LOGS_DIR,
    STEPS_DIR,
    cell_result_path,
    inside,
    roofline_path,
    run_file,
)
from bench.results.records import SCHEMA_VERSION, Cell, CellResult, RunSettings, StepRecord
from bench.results.slots import Slot, schedule_entries

# --------------------------------------------------------------------------- atomic files


@functools.cache
def file_mode() -> int:
    """The mode of the files written here: 0666 less the umask (0644 under the usual 022).

    mkstemp creates its file 0600 whatever the umask, which would leave a shared results directory
    unreadable to others. The umask is read once: from /proc where it can be read without changing
    it, elsewhere by setting and restoring it (the only way POSIX offers).
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: str | os.PathLike[str], text: str, *,
                      within: str | os.PathLike[str] | None = None) -> Path:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a part.

    The temporary file lives in the same directory (``os.replace`` is atomic only within one
    filesystem) and is fsynced before the rename, so a crash after the rename cannot leave an empty
    file behind either. Parent directories are created (0777 less the umask). The file gets
    ``file_mode()``. With ``within``, the path must lie inside that directory
    (``bench.results.paths.inside``).
    Whatever was at ``path`` (a hard link to a file elsewhere, a link) is replaced, never written through.
    """
    data = text.encode("utf-8")
    return atomic_write_with(path, lambda f: f.write(data), within=within)


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object], *,
                      within: str | os.PathLike[str] | None = None) -> Path:
    """``atomic_write_text`` for a writer of bytes: ``write(f)`` fills a fresh temporary file (a figure's
    ``savefig``), which is then renamed into place."""
    path = Path(path) if within is None else inside(within, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if hasattr(os, "fchmod"):  # POSIX; elsewhere the platform decides
                os.fchmod(f.fileno(), file_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def create_fresh(path: str | os.PathLike[str]) -> IO[str]:
    """A new, empty text file at ``path`` for writing: whatever was there (a file, a hard link to a file
    elsewhere, a symbolic link) is removed first, and the file is created with ``O_EXCL | O_NOFOLLOW``,
    so nothing planted at ``path`` is ever written through."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0), file_mode())
    return os.fdopen(fd, "w", encoding="utf-8")


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


# --------------------------------------------------------------------------- the run's files


def unused_run_dir(root: Path, name: str) -> Path:
    """``root/name``, or ``root/name-1``, ``-2``... the first that does not exist yet (two runs started
    within the same second, or a confirmation run of a run confirmed before, get their own)."""
    d, i = root / name, 1
    while d.exists():
        d, i = root / f"{name}-{i}", i + 1
    return d


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
    schedule: Sequence[Slot] | None = None,
    schedule_seed: int | None = None,
) -> Path:
    """Make a new run directory with run.json (and environment.json when given); returns it.

    ``schedule`` (bench.plan.schedule) is stored in run order with ``repeats`` (settings.repeats) and its
    seed. ``extra_meta`` adds keys to run.json (the CLI stores ``settings_by_model`` and ``pythons``).
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
        "created_at": utc_now_iso("seconds"),
        "argv": list(argv),
        "profile": profile,
        "settings": settings.to_dict(),
        "cells_planned": [c.cell_id for c in cells],
        "repeats": settings.repeats,
        "schedule_seed": settings.seed if schedule_seed is None else schedule_seed,
        "schedule": schedule_entries(schedule or ()),
        **(extra_meta or {}),
    }
    if environment is not None:
        write_environment(run_dir, environment)
    atomic_write_text(run_file(run_dir), dumps(meta), within=run_dir)
    return run_dir


def update_run_meta(run_dir: Path, **changes: Any) -> dict[str, Any]:
    """Rewrite run.json with some keys changed (e.g. a resume appending to ``resumed_at``)."""
    meta = read_run_meta(run_dir)
    meta.update(changes)
    atomic_write_text(run_file(run_dir), dumps(meta), within=run_dir)
    return meta


def write_environment(run_dir: Path, environment: dict[str, Any]) -> Path:
    return atomic_write_text(Path(run_dir) / ENV_FILE, dumps(environment), within=run_dir)


def write_roofline(run_dir: Path, roofline: dict[str, Any], device: str = "cuda") -> Path:
    """The device's measured peak (bench.results.paths.roofline_path)."""
    return atomic_write_text(roofline_path(run_dir, device), dumps(roofline), within=run_dir)


def write_cell_result(run_dir: Path, result: CellResult) -> Path:
    """cells/<cell_id>/r<repeat>.json of one process (parents created)."""
    return atomic_write_text(cell_result_path(run_dir, result.cell.cell_id, result.repeat),
                             dumps(result.to_dict()), within=run_dir)


def write_steps(path: Path, records: Iterable[StepRecord | dict[str, Any]]) -> Path:
    """StepRecord rows as JSON Lines, atomically (the worker calls this with its steps_path)."""
    lines = []
    for r in records:
        d = r.to_dict() if isinstance(r, StepRecord) else dict(r)
        lines.append(json.dumps(_clean_floats(d), default=_json_default, allow_nan=False))
    return atomic_write_text(path, "".join(line + "\n" for line in lines))
