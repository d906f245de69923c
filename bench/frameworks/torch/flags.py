"""What a torch cell must set, decided without importing torch (see bench.worker.flags).

Compiled cells get their own Inductor/Triton cache directories: a cold one (emptied for this cell)
by default, so no earlier run's kernels are reused, or, for the ``warm-cache`` variant, a persistent
one that a separate child process primes first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from bench.frameworks.torch.descriptor import COMPILED_OPTIMIZER, DESCRIPTOR, OPTIMIZER_VARIANTS
from bench.results.records import Cell, RunSettings

# Compile-cache states of a torch compiled cell.
CACHE_COLD = "cold"  # a fresh, empty inductor/triton cache directory for this cell
CACHE_WARM = "warm"  # a persistent directory, primed by a separate child process first
# One directory per cell shared by the cell's processes (RunSettings.compile_cache "shared", the quick
# profile): the first process compiles cold, the later ones hit the cache (the flags count the hits).
# The "-shared" suffix keeps the launcher from emptying it between processes (bench.launchers.scratch).
CACHE_SHARED = "shared"


def compile_cache_state(cell: Cell, settings: RunSettings | None = None) -> str | None:
    """``warm``/``cold``/``shared`` for a compiled cell; None where no compile cache is involved."""
    if not DESCRIPTOR.compiles(cell.mode):
        return None
    if cell.variant == "warm-cache":
        return CACHE_WARM
    if settings is not None and settings.compile_cache == CACHE_SHARED:
        return CACHE_SHARED
    return CACHE_COLD


def cache_dirs(work_dir: str | os.PathLike[str], state: str) -> dict[str, Path]:
    base = Path(work_dir)
    return {
        "TORCHINDUCTOR_CACHE_DIR": base / f"inductor-cache-{state}",
        "TRITON_CACHE_DIR": base / f"triton-cache-{state}",
    }


def env(cell: Cell, settings: RunSettings, work_dir: Path) -> dict[str, str]:
    """Variables to export before the import, beyond the variant's own."""
    out: dict[str, str] = {}
    state = compile_cache_state(cell, settings)
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
        "compile_cache": compile_cache_state(cell, settings),
        # The model's Adam implementation (models/common/torch_common.py): torch's default unless a
        # variant asks.
        "optimizer": OPTIMIZER_VARIANTS.get(cell.variant, "default"),
        # The optimizer step compiled too (backend.compile_optimizer_steps), in a compiled mode.
        "compile_optimizer": cell.variant == COMPILED_OPTIMIZER and DESCRIPTOR.compiles(cell.mode),
        # What Backend.sync does in the shared timing path (bench.frameworks.base).
        "sync": ("torch.cuda.synchronize()" if cell.device == "cuda"
                 else "none needed (CPU ops are synchronous)"),
    }


def prepare_compile_cache(cell: Cell, work_dir: Path, settings: RunSettings | None = None) -> str | None:
    """Create the cell's compile-cache directories; a cold cache is emptied first. Returns the state."""
    state = compile_cache_state(cell, settings)
    if state is None:
        return None
    for path in cache_dirs(work_dir, state).values():
        if state == CACHE_COLD and path.exists():
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
    return state


def needs_priming(cell: Cell) -> bool:
    return compile_cache_state(cell) == CACHE_WARM
