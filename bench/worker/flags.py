"""What each cell must set, decided without importing a framework (so it is testable anywhere).

``plan_flags`` turns a cell and the run settings into one plain dict: the environment variables to
export BEFORE the framework is imported (the variant's switches, compile caches, determinism), and the
values the framework backend then applies (threads, seed, TF32, determinism, precision, and what the
framework's own ``flags`` module adds: cuDNN autotune, memory growth, channels-last...). Every
framework gets the same common values from the same settings; the backend records what actually took
effect next to them in ``CellResult.flags``.

The framework-specific part lives in ``bench/frameworks/<name>/flags.py`` (no framework import):
``env(cell, settings, work_dir)`` (variables beyond the variant's own ``Variant.env``),
``plan(cell, settings)`` (its entries of the plan) and, where the framework has a persistent compile
cache, ``prepare_compile_cache(cell, work_dir)`` and ``needs_priming(cell)``. A framework with nothing
of its own to set needs no ``flags`` module.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.clock import physical_cores
from bench.frameworks import get_framework
from bench.results.records import Cell, RunSettings


def framework_flags(framework: str) -> ModuleType | None:
    """The framework package's ``flags`` module (imports no framework), None where it has none."""
    return get_framework(framework).optional_module("flags")


def _hook(framework: str, name: str) -> Any:
    return getattr(framework_flags(framework), name, None)


def variant_env(cell: Cell, settings: RunSettings, work_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Environment variables to export before importing the cell's framework."""
    env = dict(get_framework(cell.framework).variant(cell.variant).env)
    if (extra := _hook(cell.framework, "env")) is not None:
        env.update(extra(cell, settings, Path(work_dir)))
    return env


# The TF32 labels of CUDA cells: fp32 means IEEE fp32 on both sides unless the run or the variant asks.
TF32_OFF_LABEL = "TF32 off (both)"
TF32_ON_LABEL = "TF32 on (matmul and conv, both)"
TF32_VARIANT = "tf32"


def tf32_enabled(cell: Cell, settings: RunSettings) -> bool:
    """Whether the cell allows TF32: ``--tf32`` for the whole run, or the cell's ``tf32`` variant."""
    return bool(settings.tf32) or cell.variant == TF32_VARIANT


def tf32_label(cell: Cell, settings: RunSettings) -> str | None:
    """What a CUDA cell's fp32 means (None on CPU, where TF32 does not exist)."""
    if cell.device != "cuda":
        return None
    return TF32_ON_LABEL if tf32_enabled(cell, settings) else TF32_OFF_LABEL


def plan_flags(cell: Cell, settings: RunSettings, work_dir: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """Everything the backend must set for this cell, as plain values (the requested side of flags)."""
    # The run's threads are a CPU slot's budget: its ranks share the host's cores, each with its share
    # (at least one), set explicitly and recorded, never the engine's own default (an engine may
    # export OMP_NUM_THREADS=1). ``--threads 1`` gives N ranks x 1 thread against 1 rank x 1 thread.
    # Across machines each has its own cores: a rank shares them with its machine's N / M ranks only.
    ranks = max(1, int(getattr(cell, "workers", 1)) // max(1, int(getattr(settings, "nodes", 1) or 1)))

    def share(threads: int) -> int:
        return max(1, threads // ranks) if cell.device == "cpu" else threads

    intra = share(settings.intra_op_threads or physical_cores())
    plan: dict[str, Any] = {
        "env": variant_env(cell, settings, work_dir),
        "intra_op_threads": int(intra),
        "inter_op_threads": int(share(settings.inter_op_threads or physical_cores())),
        "seed": int(settings.seed),
        "tf32": tf32_enabled(cell, settings),
        "tf32_label": tf32_label(cell, settings),
        "deterministic": bool(settings.deterministic),
        "precision": cell.precision,
        "device": cell.device,
        "mode": cell.mode,
        "variant": cell.variant,
    }
    if ranks > 1:
        plan["env"]["OMP_NUM_THREADS"] = str(int(intra))
    if (extra := _hook(cell.framework, "plan")) is not None:
        plan.update(extra(cell, settings))
    return plan


def prepare_compile_cache(cell: Cell, work_dir: str | os.PathLike[str],
                          settings: RunSettings | None = None) -> str | None:
    """Create the cell's compile-cache directories where its framework keeps one; returns the cache
    state ("cold"/"warm"/"shared"), None where no compile cache is involved."""
    prepare = _hook(cell.framework, "prepare_compile_cache")
    return prepare(cell, Path(work_dir), settings) if prepare is not None else None


def needs_priming(cell: Cell) -> bool:
    """Whether the worker first runs the cell's first steps in a child process (a warm compile cache)."""
    check = _hook(cell.framework, "needs_priming")
    return bool(check(cell)) if check is not None else False

