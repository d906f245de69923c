"""The cell's scratch directory between its processes: what a process leaves there, and what goes.

A process starts from an empty scratch unless its framework asked for a directory shared by the
cell's processes (``SHARED_SUFFIX``, e.g. a compile cache that the quick profile lets processes 2..R
reuse): kept between processes, dropped at the run's end (``drop_shared_scratch``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.results import paths as rundir

SHARED_SUFFIX = "-shared"


def _tidy_work_dir(work: Path) -> None:
    """Drop compile caches and raw results (every rank's); keep the spec files (to rerun a process by
    hand). Run directories may be committed; megabytes of compile caches must not come with them."""
    for p in work.iterdir():
        if p.is_dir() and not p.is_symlink():
            if not p.name.endswith(SHARED_SUFFIX):
                shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith("result-") and p.suffix == ".json":
            p.unlink(missing_ok=True)


def drop_shared_scratch(run_dir: Path) -> None:
    """Remove the cells' shared scratch directories (the run is over; a resume starts them cold)."""
    work_root = Path(run_dir) / rundir.WORK_DIR
    if not work_root.is_dir() or work_root.is_symlink():
        return
    for cell_dir in work_root.iterdir():
        if cell_dir.is_dir() and not cell_dir.is_symlink():
            for p in cell_dir.iterdir():
                if p.is_dir() and not p.is_symlink() and p.name.endswith(SHARED_SUFFIX):
                    shutil.rmtree(p, ignore_errors=True)
