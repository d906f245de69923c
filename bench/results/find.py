"""Finding stored runs under a root directory (the newest for commands that default to it)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.errors import BenchError
from bench.results.paths import DEFAULT_RUNS_ROOT, RUN_FILE
from bench.results.storedfile import read_stored_json


def list_runs(root: str | os.PathLike[str] = DEFAULT_RUNS_ROOT) -> list[Path]:
    """Run directories directly under ``root`` (with a run.json), oldest first by run.json's created_at
    (then name), so runs written with a custom --out name sort too."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for d in root.iterdir():
        rf = d / RUN_FILE
        if d.is_dir() and rf.is_file():
            try:
                created = str(read_stored_json(rf, "run file").get("created_at", ""))
            except (BenchError, AttributeError):
                created = ""  # a corrupt run still lists; load_run will name the bad file
            found.append((created, d.name, d))
    return [d for _, _, d in sorted(found)]


def latest_run(root: str | os.PathLike[str] = DEFAULT_RUNS_ROOT) -> Path | None:
    """The most recent run directory under ``root``, or None."""
    runs = list_runs(root)
    return runs[-1] if runs else None
