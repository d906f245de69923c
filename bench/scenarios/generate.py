"""The ``generate`` scenario: the model's generative path in inference mode, as it is served.

Which module generates, from which noise, is the family's (``models.generate.GenerateHooks``): a
network that maps noise to images in one call, or a sampler of S denoising steps
(``RunSettings.denoising_steps``) whose every step is one network call. Every input, initial and
per-step noise included, is drawn with numpy from the seed, so both frameworks generate the same
images (tests/test_generate_equivalence.py).
The framework's backend wraps the module for the cell's mode (``Backend.build_generate``).

One process measures, in this order, every time on the backend's shared timing methods:

- cold start: the build (model, weights, the module wrapped for the mode) and the first call at batch
  1 (tracing or compilation included); ``cold_start_s`` is their sum;
- latency at batch 1: a warm-up, then timed calls, each until both its count (``warmup`` / ``steps``)
  and its duration (``generate_warmup_min_s`` / ``generate_min_s``) are reached; the step_time_*
  fields (median = p50, p90, mean, CV) and ``latency_p99_s``; for a sampler also per denoising step;
- throughput at batch N (the cell's batch): after ``N_WARMUP_CALLS`` calls at N (the first traces or
  compiles; at least the warm-up's duration), windows (one sync at each end) until the timed duration is
  reached: images/s. A window holds ``window_steps`` calls, fewer where that many would take longer
  than the duration (a sampler's call at batch N takes minutes on a CPU).

Each call's value is the mean of its images (``image_mean``): reading it waits for the images, and it
is the same in both frameworks. Peak memory is the process's, as in ``train``.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from bench.results.records import CellResult, StepRecord
from bench.scenarios.base import Scenario, enter_steady_state, start_backend
from bench.stats import percentile, summarize_step_times
from bench.worker.memory import MemorySampler, steady_and_whole
from models.family import ModelFamily
from models.registry import family_of

VALUE = "image_mean"
MAX_CALLS = 100_000  # a bound on one phase's calls, whatever its duration says
N_WARMUP_CALLS = 2  # at batch N: the first call (trace/compile) and one warm one


class Generate(Scenario):
    name = "generate"
    description = ("one generate call in inference mode (one network call from noise, or a sampler's S "
                   "denoising steps): latency at batch 1, throughput at the cell's batch, cold start")
    phases = ("first", "warmup", "timed", "window")
    # What it is built for (bench.scenarios.skip_reason skips the others): no autocast or mixed policy
    # is applied to the generative path yet.
    precisions = ("fp32",)
    metrics = ("cold_start_s", "build_s", "time_to_first_step_s", "step_time_median_s", "step_time_p90_s",
               "latency_p99_s", "step_time_cv", "step_latency_median_s", "throughput_img_s", "peak_rss_bytes")

    def flops(self, family: ModelFamily, model: Any, batch: int, steps: int = 1) -> float | None:
        return float(self.hooks(family).call_flops(model, batch, steps))

    def run(self, spec: Any, backend: Any, result: CellResult, records: list[StepRecord], *,
            device_baseline: int | None = None, prime_only: bool = False) -> None:
        _Run(self, spec, backend, result, records).run(device_baseline, prime_only)


class _Run:
    def __init__(self, scenario: Generate, spec: Any, backend: Any, result: CellResult,
                 records: list[StepRecord]) -> None:
        self.scenario, self.spec, self.backend = scenario, spec, backend
        self.result, self.records = result, records
        self.family = family_of(spec.cell.model)
        self.hooks = scenario.hooks(self.family)  # ValueError if the family has no generate scenario
        self.step = 0

    def _add(self, phase: str, t: float | None, values: dict[str, float]) -> None:
        self.records.append(StepRecord(cell_id=self.spec.cell.cell_id, step=self.step, phase=phase,
                                       step_time_s=t, losses={VALUE: float(values[VALUE])},
                                       repeat=self.spec.repeat))
        self.step += 1

    def _calls(self, phase: str, count: int, min_s: float) -> list[float]:
        """Timed calls (backend.time_steps) until both ``count`` calls and ``min_s`` seconds are reached."""
        times: list[float] = []
        n = max(1, count)
        while n > 0 and len(times) < MAX_CALLS:
            for t, values in self.backend.time_steps(self.step, n):
                times.append(t)
                self._add(phase, t, values)
            spent = sum(times)
            if len(times) >= count and spent >= min_s:
                break
            by_time = math.ceil((min_s - spent) / max(spent / len(times), 1e-9))
            n = min(MAX_CALLS - len(times), max(1, count - len(times), by_time))
        return times

    def _windows(self, calls: int, min_s: float) -> tuple[int, float]:
        """Windows of ``calls`` calls (backend.time_window) until ``min_s`` seconds: (calls, seconds)."""
        total_calls, total_s = 0, 0.0
        while total_calls < MAX_CALLS:
            elapsed, values = self.backend.time_window(self.step, calls)
            for v in values:
                self._add("window", None, v)
            total_calls += calls
            total_s += elapsed
            if total_s >= min_s:
                break
        return total_calls, total_s

    def run(self, device_baseline: int | None, prime_only: bool) -> None:
        spec, backend, result, hooks = self.spec, self.backend, self.result, self.hooks
        cell, s = spec.cell, spec.settings
        if not start_backend(backend, result):
            return
        model = self.family.specs[cell.model]
        batch = cell.batch_size or model.batch_size
        steps = s.denoising_steps if hooks.denoising else 1
        result.flags.update({
            "batch_size": batch, "generate": hooks.what, "latency_batch": 1, "throughput_batch": batch,
            "warmup_min_calls": s.warmup, "warmup_min_s": s.generate_warmup_min_s,
            "timed_min_calls": s.steps, "timed_min_s": s.generate_min_s,
            "throughput_warmup_calls": N_WARMUP_CALLS, "window_min_s": s.generate_min_s,
            "cold_start": "build (model, weights, module wrapped for the mode) + first call at batch 1"})
        if hooks.denoising:
            result.flags["denoising_steps"] = steps
            result.denoising_steps = steps
        inputs = [hooks.make_inputs(model, 1, s.seed, steps), hooks.make_inputs(model, batch, s.seed, steps)]
        sampler = MemorySampler(s.memory_sample_interval_s, backend.gpu_index(), device_baseline).start()
        result.flags["memory_method"] = sampler.method
        whole: dict[str, int | None] | None = None
        try:
            build_s, batches = backend.time_build(lambda: backend.build_generate(self.family, model, inputs,
                                                                                  spec.work_dir))
            result.build_s = build_s
            sampler.decide_source()
            backend.batches = [batches[0]]
            t_first, values = backend.first_step()
            result.time_to_first_step_s = t_first
            result.cold_start_s = build_s + t_first
            sampler.note_children()
            self._add("first", t_first, values)
            if prime_only:
                result.status = "ok"
                return
            result.warmup_step_times_s = self._calls("warmup", s.warmup, s.generate_warmup_min_s)
            backend.batches = [batches[1]]  # batch N: its own trace/compile, then its warm-up
            warm_n = self._calls("warmup", N_WARMUP_CALLS, s.generate_warmup_min_s)
            result.warmup_step_times_s += warm_n
            window = max(1, s.window_steps)
            if s.generate_min_s > 0:  # no more calls in a window than the duration needs
                window = max(1, min(window, math.ceil(s.generate_min_s / max(warm_n[-1], 1e-9))))
            result.flags["window_calls"] = window
            whole, before = enter_steady_state(backend, sampler)
            backend.batches = [batches[0]]
            timed = self._calls("timed", s.steps, s.generate_min_s)
            backend.batches = [batches[1]]
            calls, seconds = self._windows(window, s.generate_min_s)
            sampler.measuring = False
            result.window_steps, result.window_time_s = calls, seconds
            result.throughput_img_s = calls * batch / seconds
            result.throughput_batch = batch
            result.flags["throughput_source"] = "window"
            result.recompiles, warnings = backend.compile_report(before, backend.compile_counters())
            result.compile_warnings.extend(warnings)
            result.__dict__.update(summarize_step_times(timed))
            result.latency_p99_s = percentile(timed, 99)
            result.step_latency_median_s = result.step_time_median_s / steps
            flops = self.scenario.flops(self.family, model, 1, steps)
            if flops is not None and result.step_time_median_s:
                result.flops_per_step = flops
                result.achieved_flops = flops / result.step_time_median_s
            result.status = "ok"
        finally:
            sampler.measuring = False
            mem = sampler.stop()
            result.__dict__.update(mem.result_fields())
            with contextlib.suppress(Exception):
                result.__dict__.update(steady_and_whole(whole, backend.memory_peaks()))
            result.flags["memory_peak_scope"] = "whole process (build, compile, every call)"
            result.flags.update(backend.flags)
            if self.records:
                result.final_losses = dict(self.records[-1].losses)


SCENARIO = Generate()
