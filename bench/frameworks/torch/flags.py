"""What a torch cell must set, decided without importing torch (see bench.flags).

Compiled cells get their own Inductor/Triton cache directories: a cold one (emptied for this cell)
by default, so no earlier run's kernels are reused, or, for the ``warm-cache`` variant, a persistent
one that a separate child process primes first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ...records import Cell, RunSettings
from .descriptor import DESCRIPTOR

# Compile-cache states of a torch compiled cell.
CACHE_COLD = "cold"  # a fresh, empty inductor/triton cache directory for this cell
CACHE_WARM = "warm"  # a persistent directory, primed by a separate child process first


def compile_cache_state(cell: Cell) -> str | None:
    """``warm``/``cold`` for a compiled cell; None where no compile cache is involved."""
    if not DESCRIPTOR.compiles(cell.mode):
        return None
    return CACHE_WARM if cell.variant == "warm-cache" else CACHE_COLD


def cache_dirs(work_dir: str | os.PathLike[str], state: str) -> dict[str, Path]:
    base = Path(work_dir)
    return {
        "TORCHINDUCTOR_CACHE_DIR": base / f"inductor-cache-{state}",
        "TRITON_CACHE_DIR": base / f"triton-cache-{state}",
    }


def env(cell: Cell, settings: RunSettings, work_dir: Path) -> dict[str, str]:
    """Variables to export before the import, beyond the variant's own."""
    out: dict[str, str] = {}
    state = compile_cache_state(cell)
    if state is not None:
        # Cold: a directory of this cell's own, so no earlier run's kernels are reused (the default
        # /tmp/torchinductor_<user> is shared by every process of the user). Warm: a persistent one.
        out.update({k: str(v) for k, v in cache_dirs(work_dir, state).items()})
    if settings.deterministic and cell.device == "cuda":
        # Required by torch.use_deterministic_algorithms for cuBLAS on CUDA >= 10.2.
        out["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    return out


def plan(cell: Cell, settings: RunSettings) -> dict[str, Any]:
    """torch's entries of the cell's plan."""
    return {
        # cuDNN autotuning picks possibly non-deterministic algorithms, so determinism turns it off.
        "cudnn_benchmark": bool(settings.cudnn_benchmark) and not settings.deterministic,
        "channels_last": cell.variant == "channels-last",
        "compile_cache": compile_cache_state(cell),
        "sync": "cuda-events" if cell.device == "cuda" else "loss.item()",
    }


def prepare_compile_cache(cell: Cell, work_dir: Path) -> str | None:
    """Create the cell's compile-cache directories; a cold cache is emptied first. Returns the state."""
    state = compile_cache_state(cell)
    if state is None:
        return None
    for path in cache_dirs(work_dir, state).values():
        if state == CACHE_COLD and path.exists():
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
    return state


def needs_priming(cell: Cell) -> bool:
    return compile_cache_state(cell) == CACHE_WARM
