"""The interface the worker's measurement loop drives, one subclass per framework (no framework here).

A backend builds the model family's implementation for its framework, moves one tuple of step inputs
per batch to the device once, wraps the train step for the cell's mode, runs and times steps,
synchronises the device and reads compile counters and allocator peaks.

One timing method for every framework on every device (``TIMING_METHOD``): the host clock around each
step, which ends with a full device synchronisation, for the per-step distribution; and a window of
steps with one synchronisation at its end for the headline images/s. Backends supply ``sync`` (and
``keep`` where outputs are overwritten, as CUDA graphs do) but never their own timing loop, so two
frameworks' numbers are always measured the same way (tests/test_shared_timing.py holds them to it).
CUDA events would time only the device's queue; the host clock with a sync also charges the launch
overhead a user pays, and it is the only clock every framework has.

A train step returns the family's **named losses**: a mapping {loss name: scalar}. ``fetch``
materialises them as ``Losses`` (a dict of Python floats); the worker stores them in the family's
loss order.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.results.records import Cell, RunSettings

# An exported runtime's output against its framework's own module, fp32 (bench/frameworks/runtime.py's
# tests hold every runtime of every family to it).
RUNTIME_PARITY_BOUND = 1e-3

# {loss name: value} as Python floats.
Losses = dict[str, float]

# Stored in every cell's flags ("timing"), so a reader sees how its numbers were taken.
TIMING_METHOD = ("host clock; full device sync and loss read after every timed step; "
                 "window: one sync at its end")
# The methods that take times: shared by every backend, never overridden.
TIMING_METHODS = ("first_step", "time_steps", "time_window", "time_build")


class Backend:
    """One cell's framework session. Subclasses implement the framework-specific hooks."""

    framework = ""

    def __init__(self, cell: Cell, settings: RunSettings, plan: dict[str, Any],
                 device_index: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.cell = cell
        self.settings = settings
        self.plan = plan
        # Which device of the cell's kind this process uses: the launcher gives each rank its own
        # (bench.worker.main.WorkerSpec.device_index); 0 for a cell of one rank.
        self.device_index = device_index
        # This process's rank among the slot's ``world_size`` data-parallel ranks (bench.launchers):
        # a backend that runs several joins its framework's collective group (1: none).
        self.rank = rank
        self.world_size = world_size
        self.flags: dict[str, Any] = {}  # effective values, filled by setup() and later phases
        self.loss_names: tuple[str, ...] = ()  # the family's losses, in its order
        self.batches: list[tuple[Any, ...]] = []  # one tuple of device tensors per step's inputs
        self.model: Any = None  # what the family's implementation module built
        self.step_fn: Any = None

    # The module with this framework's generate hooks (bench/scenarios/generate.py): NATIVE_MODES,
    # network(backend, module) -> a native mode's callable, generate_call(backend, network) -> step_fn,
    # to_inputs(backend, first, per_step) -> one batch of device tensors, module_arrays(first, per_step)
    # -> the same as numpy in the module's layout. "": the framework has no generate scenario.
    generate_hooks = ""

    # ---------------------------------------------------------------- framework hooks
    def setup(self) -> None:
        """Apply threads, seeds and numeric flags (right after the framework import)."""
        raise NotImplementedError

    def versions(self) -> dict[str, Any]:
        raise NotImplementedError

    def device_available(self) -> str | None:
        """None if the cell's device can be used, else a one-line reason (the cell is skipped)."""
        return None

    def build(self, family: Any, spec: Any, batch_size: int, inputs: Sequence[Any]) -> None:
        """Build ``family``'s model for this framework and move ``inputs`` to the device once.

        ``inputs`` is the family's ``make_inputs`` result: a tuple of numpy arrays, each with a
        leading n_batches axis. Backends usually call ``build_model`` and then record flags.
        """
        raise NotImplementedError

    def wrap(self) -> None:
        """Set ``self.step_fn`` to the model's train_step wrapped for the cell's mode."""
        raise NotImplementedError

    def call(self, i: int) -> Any:
        """Run train step ``i`` on batch ``i % n_batches``; returns a handle on its losses."""
        return self.step_fn(*self.batches[i % len(self.batches)])

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

    def reset_memory_peaks(self) -> bool:
        """Reset the allocator's peak statistics (after the warm-up); False where it cannot."""
        return False

    def gpu_index(self) -> int | None:
        """The CUDA device index to sample with NVML, or None on CPU."""
        return self.device_index if self.cell.device == "cuda" else None

    def device_name(self) -> str:
        """The cell's device with this process's index, as the model builders take it: ``cpu`` or
        ``cuda:<index>`` (one CPU device, whatever the rank)."""
        return f"{self.cell.device}:{self.device_index}" if self.cell.device == "cuda" else self.cell.device

    def is_oom(self, exc: BaseException) -> bool:
        return False

    # Path fragments of the framework's data-parallel engine (its strategy's own modules): an exception
    # raised there, in a cell of several ranks, means the engine cannot run this model ("unsupported").
    unsupported_sources: tuple[str, ...] = ()

    def unsupported(self, exc: BaseException) -> bool:
        """Whether ``exc`` was raised inside the engine's own code (its innermost frame), not the model's
        or the harness's: the cell is ``unsupported`` rather than failed."""
        if self.world_size < 2 or not self.unsupported_sources:
            return False
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = tb.tb_frame.f_code.co_filename.replace("\\", "/") if tb is not None else ""
        return any(fragment in where for fragment in self.unsupported_sources)

    # ---------------------------------------------------------------- shared by the backends
    def build_model(self, family: Any, spec: Any, batch_size: int, inputs: Sequence[Any],
                    **options: Any) -> None:
        """Build the family's implementation for this framework and its per-step device inputs.

        The implementation module (``family.implementation(framework)``) has ``build(spec, *,
        batch_size, precision, seed, device, **options)``, whose model has
        ``to_framework_batches(*inputs)`` and ``train_step(*one_batch) -> {loss name: tensor}``, and
        optionally ``flags`` (a dict merged into the cell's flags).
        """
        impl = family.implementation(self.cell.framework)
        self.loss_names = tuple(family.losses)
        self.model = impl.build(spec, batch_size=batch_size, precision=self.cell.precision,
                                seed=self.settings.seed, device=self.device_name(), **options)
        # What only the model can know (e.g. which attention kernel it dispatches to) joins the flags.
        self.flags.update(getattr(self.model, "flags", None) or {})
        self.batches = split_batches(self.model.to_framework_batches(*inputs), len(inputs))

    def named(self, values: Sequence[float]) -> Losses:
        """Floats in the family's loss order, as named losses."""
        return dict(zip(self.loss_names, map(float, values), strict=True))

    def build_generate(self, family: Any, spec: Any, inputs: Sequence[Any],
                       work_dir: Any = None) -> list[tuple[Any, ...]]:
        """Build ``family``'s model, its generative module in inference mode wrapped for the cell's mode
        (``self.step_fn``: one whole generate call, returning {"image_mean": scalar}), and one batch per
        entry of ``inputs`` (models.generate.GenerateInputs, numpy), on the device.

        A mode that is not one of the hooks' ``NATIVE_MODES`` is an exported runtime: the framework's
        ``runtimes`` module (``bench/frameworks/<framework>/runtimes.py``) builds it from the module and
        the batch-1 inputs of one call, in ``work_dir``, with the cell's intra-op threads
        (``build_runtime(mode, module, example_inputs, work_dir, threads)``, whose handle has
        ``call(*arrays)``, ``export_s``, ``artefact_bytes`` and ``load_s``, recorded in the flags); its
        calls take numpy arrays."""
        if not self.generate_hooks:
            raise ValueError(f"framework {self.framework!r} has no generate scenario")
        hooks = importlib.import_module(self.generate_hooks)
        impl = family.implementation(self.cell.framework)
        self.loss_names = ("image_mean",)
        self.model = impl.build(spec, batch_size=len(inputs[0][0]), precision=self.cell.precision,
                                seed=self.settings.seed, device=self.device_name())
        self.flags.update(getattr(self.model, "flags", None) or {})
        self.generate_module = impl.generate_module(self.model)
        if self.cell.mode in hooks.NATIVE_MODES:
            self.step_fn = hooks.generate_call(self, hooks.network(self, self.generate_module))
            return [hooks.to_inputs(self, first, per_step) for first, per_step in inputs]
        arrays = [hooks.module_arrays(first, per_step) for first, per_step in inputs]
        runtime = self._runtime(arrays[0], work_dir)
        self._runtime_parity(hooks, runtime, inputs[0], arrays[0])
        self.step_fn = hooks.generate_call(self, runtime)
        return arrays

    def _runtime_parity(self, hooks: Any, runtime: Any, inputs: Any, arrays: Any) -> None:
        """The exported artefact against the framework's own module: one network call on the cell's first
        batch-1 input, both outside any timed call; the largest absolute difference goes in the flags,
        flagged above RUNTIME_PARITY_BOUND (fp32)."""
        first, per_step = hooks.to_inputs(self, *inputs)
        own = hooks.module_output(self.generate_module, first, per_step[0])
        got = np.asarray(runtime(arrays[0], *arrays[1][0]), dtype=np.float64)
        error = float(np.max(np.abs(got - own))) if got.shape == own.shape else float("inf")
        self.flags.update(runtime_parity_max_abs=error, runtime_parity_bound=RUNTIME_PARITY_BOUND,
                          runtime_parity_ok=error <= RUNTIME_PARITY_BOUND)

    def _runtime(self, arrays: tuple[Any, Any], work_dir: Any) -> Any:
        """An exported runtime's call (``build_generate``)."""
        try:
            runtimes = importlib.import_module(f"bench.frameworks.{self.framework}.runtimes")
        except ModuleNotFoundError as e:
            raise ValueError(f"{self.framework} mode {self.cell.mode!r}: no exported runtime here "
                             f"({e})") from None
        first, per_step = arrays
        handle = runtimes.build_runtime(self.cell.mode, self.generate_module, (first, *per_step[0]),
                                        Path(work_dir or "."), int(self.plan["intra_op_threads"]))
        self.flags.update(export_s=handle.export_s, artefact_bytes=handle.artefact_bytes,
                          load_s=handle.load_s)
        return handle.call

    # ---------------------------------------------------------------- timing (host clock by default)
    def time_build(self, build: Any) -> tuple[float, Any]:
        """``build()`` timed on the host clock up to a full device synchronisation: (seconds, result)."""
        self.sync()
        t0 = time.perf_counter()
        out = build()
        self.sync()
        return time.perf_counter() - t0, out

    def first_step(self) -> tuple[float, Losses]:
        """Step 0 on its own: tracing/compilation included, synchronised."""
        self.sync()
        t0 = time.perf_counter()
        losses = self.fetch(self.call(0))
        self.sync()
        return time.perf_counter() - t0, losses

    def time_steps(self, start: int, n: int) -> list[tuple[float, Losses]]:
        """Steps start..start+n-1, each timed on the host clock up to a full device synchronisation
        and the read of its losses (a few bytes; it also covers a device ``sync`` cannot drain)."""
        out = []
        for i in range(start, start + n):
            t0 = time.perf_counter()
            handle = self.keep(self.call(i))
            self.sync()
            losses = self.fetch(handle)
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


def split_batches(batches: Sequence[Any], n_inputs: int) -> list[tuple[Any, ...]]:
    """One tuple of ``n_inputs`` device tensors per batch, as ``to_framework_batches`` made them once,
    so no slicing op runs inside a timed step. Anything else is refused, never guessed at."""
    if not batches or any(not isinstance(b, (tuple, list)) or len(b) != n_inputs for b in batches):
        raise TypeError(f"to_framework_batches must return a non-empty list of {n_inputs}-tuples "
                        "(one step's inputs per batch)")
    return [tuple(b) for b in batches]
