"""Measure ONE process of a cell in this (fresh) process: ``python -m bench.worker <spec.json>``.

spec.json = {"cell": Cell.to_dict(), "settings": RunSettings.to_dict(), "result_path", "steps_path",
"work_dir", "peak_flops", "repeat", "block", "order"} (the last three: which of the cell's processes
this is and its place in the run's schedule, stored in the result and its steps). The worker
applies the cell's environment before importing its framework,
builds the model family's implementation through the framework's backend (``bench.frameworks``),
moves the family's inputs to the device once, then times: the first step on its own
(tracing/compilation included), ``warmup`` warm-up steps, ``steps`` timed steps (each synchronised)
and a throughput window (one sync at its end). It writes the CellResult and the StepRecord rows
atomically and exits 0 whenever it wrote a result, whatever the cell's status; the launcher deals
with a worker that dies without one.

A cell whose framework keeps a warm compile cache (``bench.flags.needs_priming``) first runs this
module with ``--prime`` in a child process: the same cell, first steps only, nothing written, so that
the measured process starts with a primed compile cache.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.registry import family_of

from . import flags as flagplan
from . import watchdog
from .clock import utc_now_iso
from .envinfo import speed_env_vars
from .faults import TEST_FAULTS, inject_failure, inject_slowdown
from .frameworks import frameworks, get_framework, load_backend
from .frameworks.base import TIMING_METHOD
from .lines import ERROR_TAIL_LINES, one_line
from .memory import MemorySampler, current_rss_bytes, device_used_bytes, steady_and_whole
from .records import Cell, CellResult, RunSettings, StepRecord
from .roofline import above_peak
from .stats import summarize_step_times
from .vocab import check_device, check_framework, check_mode, check_precision, check_variant


@dataclass
class WorkerSpec:
    cell: Cell
    settings: RunSettings
    result_path: Path
    steps_path: Path
    work_dir: Path
    peak_flops: float | dict[str, float] | None = None
    test_fault: str | None = None
    repeat: int = 1
    block: int | None = None
    order: int | None = None
    # Which rank of its process slot this worker is (bench.launchers), and the device (of the cell's
    # kind) it runs on; specs written before ranks existed load as the one rank on device 0.
    rank: int = 0
    world_size: int = 1
    device_index: int = 0

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WorkerSpec:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        result_path = Path(d["result_path"])
        return cls(
            cell=Cell.from_dict(d["cell"]),
            settings=RunSettings.from_dict(d.get("settings") or {}),
            result_path=result_path,
            steps_path=Path(d.get("steps_path") or result_path.with_suffix(".steps.jsonl")),
            work_dir=Path(d.get("work_dir") or result_path.parent / "work"),
            peak_flops=d.get("peak_flops"),
            test_fault=d.get("test_fault"),
            repeat=int(d.get("repeat") or 1),
            block=d.get("block"),
            order=d.get("order"),
            rank=int(d.get("rank") or 0),
            world_size=int(d.get("world_size") or 1),
            device_index=int(d.get("device_index") or 0),
        )


# --------------------------------------------------------------------------- error classification


def oom_markers() -> tuple[frozenset[str], tuple[str, ...]]:
    """(exception class names, message fragments) that mean the device or host ran out of memory:
    Python's MemoryError and what each registered framework declares (no framework import)."""
    names = {"MemoryError"}
    messages: list[str] = []
    for d in frameworks():
        names.update(d.oom_exception_names)
        messages += d.oom_messages
    return frozenset(names), tuple(dict.fromkeys(messages))


def classify_exception(exc: BaseException, is_oom: bool = False) -> tuple[str, str]:
    """(status, reason) of a cell that raised ``exc``: "oom" for out-of-memory, else "failed".

    Exception types are matched by name anywhere in the MRO, so no framework import is needed here.
    """
    type_names, messages = oom_markers()
    names = {c.__name__ for c in type(exc).__mro__}
    message = str(exc)
    oom = is_oom or bool(names & type_names) or any(m in message for m in messages)
    reason = f"{type(exc).__name__}: {one_line(message)}" if message.strip() else type(exc).__name__
    return ("oom" if oom else "failed"), reason


def error_tail(exc: BaseException, lines: int = ERROR_TAIL_LINES) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------- helpers


def peak_for_precision(peak: float | dict[str, float] | None, precision: str) -> float | None:
    """The roofline peak that applies to a cell: one number, or the cell's precision's entry of a
    {precision: FLOP/s} mapping (roofline's peak_flops_by_precision)."""
    if isinstance(peak, dict):
        value = peak.get(precision)
        return float(value) if value else None
    return float(peak) if peak else None


def first_nonfinite(records: list[StepRecord]) -> StepRecord | None:
    for r in records:
        if not all(math.isfinite(v) for v in r.losses.values()):
            return r
    return None


def validate_cell(cell: Cell) -> None:
    check_framework(cell.framework)
    check_mode(cell.framework, cell.mode)
    check_device(cell.device)
    check_precision(cell.precision)
    check_variant(cell.framework, cell.variant)


def skip_reason_before_import(cell: Cell) -> str | None:
    if get_framework(cell.framework).needs_cuda(cell.mode) and cell.device != "cuda":
        return f"{cell.framework} mode {cell.mode!r} needs a CUDA device"
    return None


# --------------------------------------------------------------------------- the measurement


class Measurement:
    """Drives a framework backend through the cell's phases, filling a CellResult and step rows."""

    def __init__(self, spec: WorkerSpec, result: CellResult, records: list[StepRecord]) -> None:
        self.spec = spec
        self.result = result
        self.records = records
        self.step = 0
        self.family = family_of(spec.cell.model)  # ValueError for an unknown model: a failed cell
        self.device_baseline: int | None = None  # NVML device used bytes before the framework import

    def _add(self, phase: str, step_time: float | None, losses: Mapping[str, float]) -> None:
        # Stored in the family's loss order, whatever order the backend returned them in.
        named = {name: float(losses[name]) for name in self.family.losses}
        self.records.append(StepRecord(cell_id=self.spec.cell.cell_id, step=self.step, phase=phase,
                                       step_time_s=step_time, losses=named, repeat=self.spec.repeat))
        self.step += 1

    def run(self, backend: Any, prime_only: bool = False) -> None:
        cell, settings, result, family = self.spec.cell, self.spec.settings, self.result, self.family
        reason = backend.device_available()
        if reason:
            result.status, result.reason = "skipped", reason
            return
        backend.setup()
        result.versions = backend.versions()
        result.flags.update(backend.flags)

        model = family.specs[cell.model]
        batch = cell.batch_size or model.batch_size
        result.flags["batch_size"] = batch
        # A bad --data file raises models.family.DataError: a failed cell, reason "DataError: ...".
        inputs = family.make_inputs(model, batch, settings.n_batches, settings.seed, settings.data)
        if self.spec.test_fault == "nan-data":
            inputs = (inputs[0] * float("nan"), *inputs[1:])

        # On CPU no sampler thread runs (a thread waking every 50 ms would preempt the framework's
        # compute threads): the peak RSS is the kernel's high-water mark. NVML is sampled on CUDA only.
        sampler = MemorySampler(settings.memory_sample_interval_s, backend.gpu_index(),
                                self.device_baseline).start()
        result.flags["memory_method"] = sampler.method
        whole: dict[str, int | None] | None = None  # allocator peaks before the reset after warm-up
        try:
            backend.build(family, model, batch, inputs)
            sampler.decide_source()  # the CUDA context exists now: one NVML source for the process
            backend.wrap()
            if self.spec.test_fault in ("raise", "oom"):
                inject_failure(backend, self.spec.test_fault)

            t_first, losses = backend.first_step()
            result.time_to_first_step_s = t_first
            sampler.note_children()  # compile workers are alive now, gone from RUSAGE_CHILDREN's view
            self._add("first", t_first, losses)
            if prime_only:
                backend.time_steps(self.step, 1)  # a second call: anything compiled lazily is cached too
                result.status = "ok"
                return

            for t, losses in backend.time_steps(self.step, settings.warmup):
                result.warmup_step_times_s.append(t)
                self._add("warmup", t, losses)

            inject_slowdown(backend, result, [t_first, *result.warmup_step_times_s])
            # Steady-state peaks: cuDNN's benchmark trials and autotuning inflate the whole-process ones.
            peaks_now = backend.memory_peaks()
            if backend.reset_memory_peaks():
                whole = peaks_now
            sampler.mark_steady()
            before = backend.compile_counters()
            sampler.measuring = True
            timed = backend.time_steps(self.step, settings.steps)
            for t, losses in timed:
                self._add("timed", t, losses)
            if settings.window_steps > 0:
                window_time, window_losses = backend.time_window(self.step, settings.window_steps)
                for losses in window_losses:
                    self._add("window", None, losses)
                result.window_steps = settings.window_steps
                result.window_time_s = window_time
                result.throughput_img_s = settings.window_steps * batch / window_time
                result.flags["throughput_source"] = "window"
            sampler.measuring = False
            after = backend.compile_counters()
            result.recompiles, warnings = backend.compile_report(before, after)
            result.compile_warnings.extend(warnings)

            if timed:
                result.__dict__.update(summarize_step_times([t for t, _ in timed]))
                median = result.step_time_median_s
                if result.throughput_img_s is None and median:
                    result.throughput_img_s = batch / median
                    result.flags["throughput_source"] = "median step"
                result.flops_per_step = float(family.train_step_flops(model, batch))
                if median:
                    result.achieved_flops = result.flops_per_step / median
                    peak = peak_for_precision(self.spec.peak_flops, cell.precision)
                    if peak:
                        result.peak_flops = peak
                        result.fraction_of_peak = result.achieved_flops / peak
                        # Above the measured peak: a bug to explain (FLOP count, skipped work or a low
                        # peak), flagged for the report rather than printed as a fraction.
                        if warning := above_peak(result.achieved_flops, peak):
                            result.flags["above_peak"] = True
                            result.compile_warnings.append(warning)
            result.status = "ok"
        finally:
            sampler.measuring = False
            mem = sampler.stop()
            result.__dict__.update(mem.result_fields())
            if mem.nvml_source:
                result.flags["nvml_memory_source"] = mem.nvml_source
            # A broken device must not hide the original error.
            with contextlib.suppress(Exception):
                result.__dict__.update(steady_and_whole(whole, backend.memory_peaks()))
            result.flags["memory_peak_scope"] = ("whole process (build, compile, all steps); steady: after "
                                                 "the warm-up, allocator peaks reset" if whole is not None
                                                 else "whole process (build, compile, all steps)")
            result.flags.update(backend.flags)

        bad = first_nonfinite(self.records)
        if bad is not None:
            result.status = "diverged"
            result.reason = (f"non-finite loss at step {bad.step} ({bad.phase}): "
                             + ", ".join(f"{k}_loss={v}" for k, v in bad.losses.items()))


def prime_compile_cache(spec_path: str, spec: WorkerSpec) -> dict[str, Any]:
    """Run the cell's first steps in a child process to fill the persistent compile cache."""
    timeout = max(60.0, 0.5 * spec.settings.time_limit_s)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.worker", spec_path, "--prime"],
                              env=dict(os.environ), timeout=timeout, check=False)
        rc: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    return {"cache_priming_s": time.perf_counter() - t0, "cache_primed": rc == 0, "cache_priming_rc": rc}


def write_outputs(spec: WorkerSpec, result: CellResult, records: list[StepRecord]) -> None:
    from .store import atomic_write_json, write_steps

    write_steps(spec.steps_path, records)
    atomic_write_json(spec.result_path, result.to_dict())


def run(spec_path: str, prime_only: bool = False) -> int:
    # From the process's start, so wall_s includes interpreter and framework start-up.
    t_start = watchdog.process_start_time()
    spec = WorkerSpec.load(spec_path)
    cell, settings = spec.cell, spec.settings
    result = CellResult(cell=cell, status="failed", repeat=spec.repeat, block=spec.block, order=spec.order,
                        settings=settings.to_dict(), started_at=utc_now_iso())
    result.flags["timing"] = TIMING_METHOD
    records: list[StepRecord] = []
    backend: Any = None
    try:
        validate_cell(cell)
        if spec.test_fault is not None and spec.test_fault not in TEST_FAULTS:
            raise ValueError(f"unknown test_fault {spec.test_fault!r}")
        reason = skip_reason_before_import(cell)
        if reason:
            result.status, result.reason = "skipped", reason
        else:
            plan = flagplan.plan_flags(cell, settings, spec.work_dir)
            os.environ.update(plan["env"])  # before the framework import: variant switches, caches
            result.flags["compile_cache"] = flagplan.prepare_compile_cache(cell, spec.work_dir, settings) \
                if not prime_only else plan.get("compile_cache")
            if flagplan.needs_priming(cell) and not prime_only:
                priming = prime_compile_cache(spec_path, spec)
                result.flags.update(priming)
                if not priming["cache_primed"]:
                    rc = priming["cache_priming_rc"]
                    result.compile_warnings.append(
                        f"compile-cache priming failed (rc={rc}): the cache may be cold")
            result.flags["env"] = speed_env_vars()  # the same set the run's environment records
            # Before any CUDA context, on the rank's own device.
            baseline = device_used_bytes(spec.device_index) if cell.device == "cuda" else None
            try:
                backend_cls = load_backend(cell.framework)  # imports the framework
                result.rss_after_import_bytes = current_rss_bytes()
            except ImportError as e:
                missing = getattr(e, "name", None) or ""
                if missing.split(".")[0] in get_framework(cell.framework).import_names:
                    result.status, result.reason = "skipped", f"{cell.framework} not installed ({e})"
                    backend_cls = None
                else:
                    raise
            if backend_cls is not None:
                backend = backend_cls(cell, settings, plan, device_index=spec.device_index)
                measurement = Measurement(spec, result, records)
                measurement.device_baseline = baseline
                measurement.run(backend, prime_only=prime_only)
    except BaseException as exc:  # every failure, Ctrl-C included, becomes a recorded cell
        is_oom = False
        if backend is not None:
            with contextlib.suppress(Exception):
                is_oom = backend.is_oom(exc)
        result.status, result.reason = classify_exception(exc, is_oom)
        result.error_tail = error_tail(exc)
        traceback.print_exc(file=sys.stderr)
    if prime_only:
        return 0 if result.status == "ok" else 1
    if records and not result.final_losses:
        result.final_losses = dict(records[-1].losses)
    result.finished_at = utc_now_iso()
    result.wall_s = time.time() - t_start
    write_outputs(spec, result, records)
    print(json.dumps({"cell_id": cell.cell_id, "status": result.status, "reason": result.reason,
                      "throughput_img_s": result.throughput_img_s}), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="path to the cell's spec.json")
    parser.add_argument("--prime", action="store_true",
                        help="only run the first steps to fill the compile cache; write nothing")
    args = parser.parse_args(argv)
    # Never outlive the parent (a SIGKILLed CLI) nor the cell's own time limit (bench.watchdog); here,
    # not in run(), so that calling run() in-process never arms a watchdog on the caller.
    watchdog.guard_cell(WorkerSpec.load(args.spec).settings.time_limit_s)
    return run(args.spec, prime_only=args.prime)


if __name__ == "__main__":
    sys.exit(main())
