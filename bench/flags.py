"""What each cell must set, decided without importing a framework (so it is testable anywhere).

``plan_flags`` turns a cell and the run settings into one plain dict: the environment variables to
export BEFORE the framework is imported (oneDNN switch, compile caches, cuBLAS determinism), and the
values the framework backend then applies (threads, seed, TF32, cuDNN autotune, determinism, memory
growth, channels-last, precision). Both frameworks get the same values from the same settings; the
backend records what actually took effect next to them in ``CellResult.flags``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from .records import Cell, RunSettings
from .vocab import COMPILED_MODES

# Compile-cache states of a torch compiled cell.
CACHE_COLD = "cold"  # a fresh, empty inductor/triton cache directory for this cell
CACHE_WARM = "warm"  # a persistent directory, primed by a separate child process first

# Environment variables that change speed or numerics; recorded in flags["env"] whenever set.
SPEED_ENV_VARS: tuple[str, ...] = (
    "TF_ENABLE_ONEDNN_OPTS", "TF_CUDNN_USE_AUTOTUNE", "TF_XLA_FLAGS", "TF_GPU_ALLOCATOR",
    "TF_DETERMINISTIC_OPS", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "TORCHINDUCTOR_FX_GRAPH_CACHE",
    "CUBLAS_WORKSPACE_CONFIG", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
    "PYTORCH_CUDA_ALLOC_CONF", "XLA_FLAGS",
)


def physical_cores() -> int:
    """Physical cores of this machine (hyperthreads excluded); the default intra-op thread count."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or unable to tell on this platform
        n = None
    return int(n or os.cpu_count() or 1)


def compile_cache_state(cell: Cell) -> str | None:
    """``warm``/``cold`` for a torch compiled cell; None where no compile cache is involved."""
    if cell.framework != "torch" or (cell.framework, cell.mode) not in COMPILED_MODES:
        return None
    return CACHE_WARM if cell.variant == "warm-cache" else CACHE_COLD


def cache_dirs(work_dir: str | os.PathLike[str], state: str) -> dict[str, Path]:
    base = Path(work_dir)
    return {
        "TORCHINDUCTOR_CACHE_DIR": base / f"inductor-cache-{state}",
        "TRITON_CACHE_DIR": base / f"triton-cache-{state}",
    }


def variant_env(cell: Cell, settings: RunSettings, work_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Environment variables to export before importing the cell's framework."""
    env: dict[str, str] = {}
    if cell.framework == "tensorflow":
        if cell.variant == "onednn-on":
            env["TF_ENABLE_ONEDNN_OPTS"] = "1"
        elif cell.variant == "onednn-off":
            env["TF_ENABLE_ONEDNN_OPTS"] = "0"
        if settings.deterministic:
            # Older TF reads this instead of enable_op_determinism(); harmless on newer ones.
            env["TF_DETERMINISTIC_OPS"] = "1"
    elif cell.framework == "torch":
        state = compile_cache_state(cell)
        if state is not None:
            # Cold: a directory of this cell's own, so no earlier run's kernels are reused (the default
            # /tmp/torchinductor_<user> is shared by every process of the user). Warm: a persistent one.
            env.update({k: str(v) for k, v in cache_dirs(work_dir, state).items()})
        if settings.deterministic and cell.device == "cuda":
            # Required by torch.use_deterministic_algorithms for cuBLAS on CUDA >= 10.2.
            env["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    return env


def prepare_cache_dirs(cell: Cell, work_dir: str | os.PathLike[str]) -> str | None:
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


def plan_flags(cell: Cell, settings: RunSettings, work_dir: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """Everything the backend must set for this cell, as plain values (the requested side of flags)."""
    intra = settings.intra_op_threads or physical_cores()
    deterministic = bool(settings.deterministic)
    plan: dict[str, Any] = {
        "env": variant_env(cell, settings, work_dir),
        "intra_op_threads": int(intra),
        "inter_op_threads": int(settings.inter_op_threads),
        "seed": int(settings.seed),
        "tf32": bool(settings.tf32),
        "deterministic": deterministic,
        "precision": cell.precision,
        "device": cell.device,
        "mode": cell.mode,
        "variant": cell.variant,
    }
    if cell.framework == "torch":
        # cuDNN autotuning picks possibly non-deterministic algorithms, so determinism turns it off.
        plan["cudnn_benchmark"] = bool(settings.cudnn_benchmark) and not deterministic
        plan["channels_last"] = cell.variant == "channels-last"
        plan["compile_cache"] = compile_cache_state(cell)
        plan["sync"] = "cuda-events" if cell.device == "cuda" else "loss.item()"
    else:
        # TF has no switch for cuDNN autotuning other than TF_CUDNN_USE_AUTOTUNE (default on).
        plan["cudnn_autotune"] = os.environ.get("TF_CUDNN_USE_AUTOTUNE", "default (on)")
        plan["memory_growth"] = cell.device == "cuda"
        plan["onednn_requested"] = {"onednn-on": "on", "onednn-off": "off"}.get(cell.variant, "default")
        plan["sync"] = "loss.numpy()" + (" + sync_devices() at phase ends" if cell.device == "cuda" else "")
    return plan


def speed_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The speed-relevant environment variables that are set (for the record)."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in SPEED_ENV_VARS if k in environ}
