"""Framework backends of the worker: one module per framework, imported only inside a cell's process.

This package's ``__init__`` imports no framework. It defines ``Backend``, the interface that the
worker's measurement loop drives (build, wrap per mode, run a step, time steps, sync, counters,
memory), with host-clock implementations of the timing methods that a backend overrides where the
device needs something else (CUDA events in torch). ``load_backend`` imports the framework module.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..records import Cell, RunSettings


# (g_loss, d_loss) as Python floats.
Losses = tuple[float, float]


class Backend:
    """One cell's framework session. Subclasses implement the framework-specific hooks."""

    framework = ""

    def __init__(self, cell: Cell, settings: RunSettings, plan: dict[str, Any]) -> None:
        self.cell = cell
        self.settings = settings
        self.plan = plan
        self.flags: dict[str, Any] = {}  # effective values, filled by setup() and later phases
        self.reals: Sequence[Any] = ()
        self.noises: Sequence[Any] = ()
        self.gan: Any = None
        self.step_fn: Any = None

    # ---------------------------------------------------------------- framework hooks
    def setup(self) -> None:
        """Apply threads, seeds and numeric flags (right after the framework import)."""
        raise NotImplementedError

    def versions(self) -> dict[str, Any]:
        raise NotImplementedError

    def device_available(self) -> str | None:
        """None if the cell's device can be used, else a one-line reason (the cell is skipped)."""
        return None

    def build(self, spec: Any, batch_size: int, real: Any, noise: Any) -> None:
        """Build the GAN and move the (real, noise) batches to the device once."""
        raise NotImplementedError

    def wrap(self) -> None:
        """Set ``self.step_fn`` to gan.train_step wrapped for the cell's mode."""
        raise NotImplementedError

    def call(self, i: int) -> Any:
        """Run train step ``i`` on batch ``i % n_batches``; returns a handle on its losses."""
        return self.step_fn(self.reals[i % len(self.reals)], self.noises[i % len(self.noises)])

    def keep(self, handle: Any) -> Any:
        """A handle safe to fetch after later steps ran (CUDA graphs overwrite their outputs)."""
        return handle

    def fetch(self, handle: Any) -> Losses:
        """Materialise the losses of a handle as floats (which waits for them)."""
        raise NotImplementedError

    def fetch_many(self, handles: Sequence[Any]) -> list[Losses]:
        return [self.fetch(h) for h in handles]

    def sync(self) -> None:
        """Wait until all queued device work is done (no-op on a synchronous device)."""

    def compile_counters(self) -> dict[str, Any]:
        """Counters whose change over the timed steps reveals recompilation."""
        return {}

    def compile_report(self, before: dict[str, Any], after: dict[str, Any]) -> tuple[int | None, list[str]]:
        """(recompiles during the timed steps, warnings); None where the mode compiles nothing."""
        return None, []

    def memory_peaks(self) -> dict[str, int | None]:
        """Framework allocator peaks: device_alloc_peak_bytes, device_reserved_peak_bytes."""
        return {"device_alloc_peak_bytes": None, "device_reserved_peak_bytes": None}

    def gpu_index(self) -> int | None:
        """The CUDA device index to sample with NVML, or None on CPU."""
        return 0 if self.cell.device == "cuda" else None

    def is_oom(self, exc: BaseException) -> bool:
        return False

    # ---------------------------------------------------------------- timing (host clock by default)
    def first_step(self) -> tuple[float, Losses]:
        """Step 0 on its own: tracing/compilation included, synchronised."""
        self.sync()
        t0 = time.perf_counter()
        losses = self.fetch(self.call(0))
        self.sync()
        return time.perf_counter() - t0, losses

    def time_steps(self, start: int, n: int) -> list[tuple[float, Losses]]:
        """Steps start..start+n-1, each timed and synchronised on its own."""
        out = []
        for i in range(start, start + n):
            t0 = time.perf_counter()
            losses = self.fetch(self.call(i))
            out.append((time.perf_counter() - t0, losses))
        return out

    def time_window(self, start: int, n: int) -> tuple[float, list[Losses]]:
        """n steps with one synchronisation at the end; losses fetched after it."""
        self.sync()
        t0 = time.perf_counter()
        handles = [self.keep(self.call(i)) for i in range(start, start + n)]
        self.sync()
        if handles:
            # The last loss too: on a device that sync() cannot drain (none here) this still waits.
            self.fetch(handles[-1])
        elapsed = time.perf_counter() - t0
        return elapsed, self.fetch_many(handles)


def split_batches(pairs: Sequence[tuple[Any, Any]]) -> tuple[list[Any], list[Any]]:
    """(reals, noises) from gan.to_framework_batches' list of (real, noise) pairs: one tensor per
    batch, made once, so no slicing op runs inside a timed step."""
    if not pairs or any(not isinstance(p, (tuple, list)) or len(p) != 2 for p in pairs):
        raise TypeError("to_framework_batches must return a non-empty list of (real, noise) pairs")
    return [p[0] for p in pairs], [p[1] for p in pairs]


def load_backend(framework: str) -> type[Backend]:
    """Import the framework's backend module (and so the framework); returns its Backend class."""
    from .registry import get_framework

    return get_framework(framework).module("backend").BACKEND
