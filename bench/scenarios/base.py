"""What every scenario is, and the one measurement loop the step-like scenarios share.

A scenario (``bench/scenarios/<name>.py``, whose ``SCENARIO`` is a ``Scenario``) decides what one
process of a cell measures once the worker has its framework's backend: the phases it runs, the
metrics it records, how many FLOPs one timed call does (from the model family's hooks for it) and what
the report shows. It never times anything itself: times come from the backend's shared methods
(``bench.frameworks.base.TIMING_METHODS``: host clock, full device sync), summarised by
``bench.stats``, so every scenario on every framework is measured the same way.

``StepScenario`` is the common case: build, wrap a call, then time the first call, the warm-up, the
timed calls and a throughput window, through ``Measurement``. A scenario of that shape supplies only
its hooks (what to build and wrap, the names of the values each call returns, its FLOPs, its verdict);
one with other phases implements ``run`` and still calls the backend's timing methods.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from bench.host.roofline import above_peak
from bench.results.records import SCALING_RULES, CellResult, StepRecord, per_rank_batch
from bench.scenarios import get_scenario
from bench.stats import summarize_step_times
from bench.worker.faults import inject_failure, inject_slowdown
from bench.worker.memory import MemorySampler, steady_and_whole
from models.family import ModelFamily
from models.registry import family_of

# The CellResult fields the shared loop fills (times, throughput, compiles, memory): report columns.
LOOP_METRICS = ("time_to_first_step_s", "warmup_step_times_s", "step_time_median_s", "n_steps",
                  "window_time_s", "throughput_img_s", "recompiles", "peak_rss_bytes")


def peak_for_precision(peak: float | dict[str, float] | None, precision: str) -> float | None:
    """The roofline peak that applies to a cell: one number, or the cell's precision's entry of a
    {precision: FLOP/s} mapping (roofline's peak_flops_by_precision)."""
    if isinstance(peak, dict):
        value = peak.get(precision)
        return float(value) if value else None
    return float(peak) if peak else None


class Scenario(ABC):
    """One scenario: what the worker runs in a cell of it, and what its records mean."""

    name: ClassVar[str] = ""
    # One sentence for the report: what a cell of this scenario measures.
    description: ClassVar[str] = ""
    # The StepRecord phases it writes, in order.
    phases: ClassVar[tuple[str, ...]] = ()
    # The CellResult fields it fills: the columns the report shows for its cells.
    metrics: ClassVar[tuple[str, ...]] = ()
    # The precisions it runs (bench.scenarios.skip_reason skips a cell of another); None: every one.
    precisions: ClassVar[tuple[str, ...] | None] = None

    def hooks(self, family: ModelFamily) -> Any:
        """The family's hooks for this scenario; ValueError (a failed cell) if it has none."""
        try:
            return family.scenarios[self.name]
        except KeyError:
            raise ValueError(f"model family {family.name!r} has no {self.name} scenario") from None

    @abstractmethod
    def flops(self, family: ModelFamily, model: Any, batch: int) -> float | None:
        """FLOPs of one timed call of ``model`` at ``batch`` (None: no FLOPs-based figures)."""

    @abstractmethod
    def run(self, spec: Any, backend: Any, result: CellResult, records: list[StepRecord], *,
            device_baseline: int | None = None, prime_only: bool = False) -> None:
        """Measure one process of ``spec.cell`` (``spec``: the worker's WorkerSpec) with ``backend``,
        filling ``result`` and appending ``records``. Raises on failure: the worker classifies it."""


class StepScenario(Scenario):
    """A scenario that times one call repeatedly: the hooks below, driven by ``Measurement``."""

    phases = ("first", "warmup", "timed", "window")
    metrics = (*LOOP_METRICS, "flops_per_step", "achieved_flops", "fraction_of_peak")

    def run(self, spec: Any, backend: Any, result: CellResult, records: list[StepRecord], *,
            device_baseline: int | None = None, prime_only: bool = False) -> None:
        measurement = Measurement(spec, result, records, scenario=self)
        measurement.device_baseline = device_baseline
        measurement.run(backend, prime_only=prime_only)

    def make_inputs(self, family: ModelFamily, model: Any, batch: int, spec: Any) -> tuple[Any, ...]:
        """The calls' inputs as numpy arrays with a leading n_batches axis (the family's, by default)."""
        s = spec.settings
        return family.make_inputs(model, batch, s.n_batches, s.seed, s.data)

    def build(self, backend: Any, family: ModelFamily, model: Any, batch: int, inputs: Any) -> None:
        """Build the model and move ``inputs`` to the device (before the memory source is chosen)."""
        backend.build(family, model, batch, inputs)

    @abstractmethod
    def wrap(self, backend: Any, family: ModelFamily) -> None:
        """Set ``backend.step_fn`` to the call to time, wrapped for the cell's mode."""

    @abstractmethod
    def value_names(self, family: ModelFamily) -> tuple[str, ...]:
        """Names of the scalars each call returns, in the order they are stored."""

    def conclude(self, result: CellResult, records: list[StepRecord]) -> None:
        """After a complete measurement: the scenario's verdict on its values (e.g. divergence)."""


class Measurement:
    """Drives a framework backend through a step scenario's phases, filling a CellResult and rows.

    ``scenario``: the cell's scenario (by default the one its ``Cell.scenario`` names)."""

    def __init__(self, spec: Any, result: CellResult, records: list[StepRecord],
                 scenario: StepScenario | None = None) -> None:
        self.spec = spec
        self.result = result
        self.records = records
        self.step = 0
        self.family = family_of(spec.cell.model)  # ValueError for an unknown model: a failed cell
        if scenario is None:
            scenario = get_scenario(spec.cell.scenario)
            if not isinstance(scenario, StepScenario):
                raise TypeError(f"scenario {scenario.name!r} is not a step scenario")
        self.scenario = scenario
        self.scenario.hooks(self.family)  # ValueError if the family does not support it
        self.names = scenario.value_names(self.family)
        self.device_baseline: int | None = None  # NVML device used bytes before the framework import

    def _add(self, phase: str, step_time: float | None, values: Mapping[str, float]) -> None:
        # Stored in the scenario's order, whatever order the backend returned them in.
        named = {name: float(values[name]) for name in self.names}
        self.records.append(StepRecord(cell_id=self.spec.cell.cell_id, step=self.step, phase=phase,
                                       step_time_s=step_time, losses=named, repeat=self.spec.repeat))
        self.step += 1

    def run(self, backend: Any, prime_only: bool = False) -> None:
        cell, settings, result, family = self.spec.cell, self.spec.settings, self.result, self.family
        scenario = self.scenario
        if not start_backend(backend, result):
            return

        model = family.specs[cell.model]
        # This rank's batch (the global batch's share under strong scaling; ValueError: a failed cell).
        world = self.spec.world_size
        batch = per_rank_batch(cell.batch_size or model.batch_size, world, settings.scaling)
        result.flags["batch_size"] = batch
        if world > 1:
            result.flags.update(global_batch=batch * world, global_batch_rule=SCALING_RULES[settings.scaling])
        # A bad --data file raises models.family.DataError: a failed cell, reason "DataError: ...".
        inputs = scenario.make_inputs(family, model, batch, self.spec)

        # On CPU no sampler thread runs (a thread waking every 50 ms would preempt the framework's
        # compute threads): the peak RSS is the kernel's high-water mark. NVML is sampled on CUDA only.
        sampler = MemorySampler(settings.memory_sample_interval_s, backend.gpu_index(),
                                self.device_baseline).start()
        result.flags["memory_method"] = sampler.method
        whole: dict[str, int | None] | None = None  # allocator peaks before the reset after warm-up
        try:
            scenario.build(backend, family, model, batch, inputs)
            sampler.decide_source()  # the CUDA context exists now: one NVML source for the process
            scenario.wrap(backend, family)
            if self.spec.test_fault in ("raise", "oom"):
                inject_failure(backend, self.spec.test_fault)

            t_first, values = backend.first_step()
            result.time_to_first_step_s = t_first
            sampler.note_children()  # compile workers are alive now, gone from RUSAGE_CHILDREN's view
            self._add("first", t_first, values)
            if prime_only:
                backend.time_steps(self.step, 1)  # a second call: anything compiled lazily is cached too
                result.status = "ok"
                return

            for t, values in backend.time_steps(self.step, settings.warmup):
                result.warmup_step_times_s.append(t)
                self._add("warmup", t, values)

            inject_slowdown(backend, result, [t_first, *result.warmup_step_times_s])
            whole, before = enter_steady_state(backend, sampler)
            # A data-parallel backend that times its all-reduces (its ``comm_timer``): from here on.
            comm = getattr(backend, "comm_timer", None)
            comm_since = comm.mark() if comm is not None else 0
            timed = backend.time_steps(self.step, settings.steps)
            for t, values in timed:
                self._add("timed", t, values)
            if settings.window_steps > 0:
                window_time, window_values = backend.time_window(self.step, settings.window_steps)
                for values in window_values:
                    self._add("window", None, values)
                result.window_steps = settings.window_steps
                result.window_time_s = window_time
                result.throughput_img_s = settings.window_steps * batch / window_time
                result.flags["throughput_source"] = "window"
            sampler.measuring = False
            if comm is not None:
                result.flags.update(comm.figures(comm_since, settings.steps + settings.window_steps))
            after = backend.compile_counters()
            result.recompiles, warnings = backend.compile_report(before, after)
            result.compile_warnings.extend(warnings)

            if timed:
                result.__dict__.update(summarize_step_times([t for t, _ in timed]))
                median = result.step_time_median_s
                if result.throughput_img_s is None and median:
                    result.throughput_img_s = batch / median
                    result.flags["throughput_source"] = "median step"
                self._flops_figures(scenario.flops(family, model, batch), median)
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
            if self.records and not result.final_losses:  # the last values, even of a failed cell
                result.final_losses = dict(self.records[-1].losses)
        scenario.conclude(result, self.records)

    def _flops_figures(self, flops: float | None, median: float | None) -> None:
        result = self.result
        if flops is None:
            return
        result.flops_per_step = float(flops)
        if median:
            result.achieved_flops = result.flops_per_step / median
            peak = peak_for_precision(self.spec.peak_flops, self.spec.cell.precision)
            if peak:
                result.peak_flops = peak
                result.fraction_of_peak = result.achieved_flops / peak
                # Above the measured peak: a bug to explain (FLOP count, skipped work or a low
                # peak), flagged for the report rather than printed as a fraction.
                if warning := above_peak(result.achieved_flops, peak):
                    result.flags["above_peak"] = True
                    result.compile_warnings.append(warning)


def start_backend(backend: Any, result: Any) -> bool:
    """Set the backend up and record its versions and flags; False (the cell skipped, with the reason)
    when its device is not available."""
    reason = backend.device_available()
    if reason:
        result.status, result.reason = "skipped", reason
        return False
    backend.setup()
    result.versions = backend.versions()
    result.flags.update(backend.flags)
    return True


def enter_steady_state(backend: Any, sampler: MemorySampler) -> tuple[dict[str, int | None] | None, Any]:
    """After the warm-up: the allocator's peaks so far (None where they cannot be reset: then the
    whole-process peaks are the only ones) with the peaks reset, since cuDNN's benchmark trials and
    autotuning inflate them; the sampler measuring; and the compile counters before the timed steps."""
    peaks_now = backend.memory_peaks()
    whole = peaks_now if backend.reset_memory_peaks() else None
    sampler.mark_steady()
    before = backend.compile_counters()
    sampler.measuring = True
    return whole, before
