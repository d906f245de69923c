"""How long a planned process will take: from the frameworks' descriptors, or from this machine's runs.

A process costs its start (interpreter, framework import, device context, model build: the
descriptor's ``process_start_s`` per device), its first step's compile beyond a plain step (the mode's
``cold_compile_s``, or ``warm_compile_s`` where an earlier process of the cell filled a shared compile
cache), and its steps (the model's analytic FLOPs at a reference rate per device and precision).
Once a machine has stored runs (the same GPU for CUDA cells, the same CPU model for CPU cells), the
figures those runs measured replace the descriptors' for the cells they hold: per framework, mode,
device and model (per precision for the steps). Stored runs are untrusted input: a run that does
not load is passed over. A generate cell (bench/scenarios/generate.py) is estimated from its
family's FLOPs per generate call and the run's minimum durations, never from stored train steps, and
its stored latencies never stand in for train steps.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cell import Cell
from bench.errors import BenchError
from bench.frameworks.registry import get_framework
from bench.plan.profiles import REFERENCE_CPU_FLOPS, reference_step_seconds
from bench.results.records import CellResult, RunSettings
from models.registry import family_of, get_spec

# Train-step FLOP/s of the built-in models on one H100 (not measured yet: small convolutional models
# reach a fraction of the dense peaks), and the launch-bound floor of a step of a few dozen kernels.
REFERENCE_CUDA_FLOPS = {"fp32": 15e12, "bf16": 40e12, "fp16": 40e12}
CUDA_MIN_STEP_S = 0.003
_UNKNOWN_STEP_S = 0.5  # a model whose FLOPs cannot be counted
_DEFAULT_START_S = 5.0  # a framework whose descriptor gives no start-up figure for the device
# How many of the newest stored runs are read for past timings (reading a run parses every process file).
PAST_TIMING_RUNS = 20

COLD, WARM = "cold", "warm"


def cache_state(cell: Cell, settings: RunSettings, repeat: int) -> str:
    """Whether a process's first step compiles with an empty cache or a filled one."""
    if cell.variant == "warm-cache":
        return WARM
    return WARM if settings.compile_cache == "shared" and repeat > 1 else COLD


@dataclass
class PastTimings:
    """What this machine's stored runs measured (lists of seconds, one per ok process)."""

    runs: list[str] = field(default_factory=list)
    compile_s: dict[tuple[str, str, str, str, str, str], list[float]] = field(
        default_factory=lambda: defaultdict(list))  # (fw, mode, variant, device, model, cold/warm)
    start_s: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    step_s: dict[tuple[str, str, str, str, str, int], list[float]] = field(
        default_factory=lambda: defaultdict(list))  # (fw, mode, device, model, precision, batch)

    def add(self, r: CellResult) -> None:
        c, median = r.cell, r.step_time_median_s
        if r.status != "ok" or not median or r.time_to_first_step_s is None or c.scenario != "train":
            return
        self.step_s[(c.framework, c.mode, c.device, c.model, c.precision, c.batch_size)].append(median)
        stored_cache = r.flags.get("compile_cache")
        state = WARM if stored_cache == "warm" or (stored_cache == "shared" and r.repeat > 1) else COLD
        if get_framework(c.framework).compiles(c.mode):
            self.compile_s[(c.framework, c.mode, c.variant, c.device, c.model, state)].append(
                max(0.0, r.time_to_first_step_s - median))
        stepping = r.time_to_first_step_s + sum(r.warmup_step_times_s) + r.n_steps * median
        stepping += (r.window_time_s or 0.0) + float(r.flags.get("cache_priming_s") or 0.0)
        if r.wall_s is not None and r.wall_s > stepping:
            self.start_s[(c.framework, c.device)].append(r.wall_s - stepping)

    def describe(self) -> str:
        if not self.runs:
            return "from the frameworks' descriptors (no stored run of this machine)"
        return (f"from {len(self.runs)} stored run(s) of this machine where they hold the cell, else from "
                "the frameworks' descriptors")


def _median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


def load_past_timings(runs_root: Path, identity: Mapping[str, str | None],
                      devices: Iterable[str] = ("cpu", "cuda"),
                      runs: Iterable[Path] | None = None) -> PastTimings:
    """The past timings of the machine named by ``identity`` (device -> GPU name for "cuda", CPU model for
    "cpu") on ``devices``: processes of stored runs whose environment records the same device."""
    from bench.results.find import list_runs
    from bench.results.load import read_environment, read_process_results

    wanted = {d: identity.get(d) for d in devices if identity.get(d)}
    past = PastTimings()
    if not wanted:
        return past
    for run_dir in list(runs if runs is not None else list_runs(runs_root))[-PAST_TIMING_RUNS:]:
        try:
            env = read_environment(run_dir)
            gpus = {str(g.get("name")) for g in (env.get("gpu") or {}).get("gpus") or []}
            cpu = (env.get("cpu") or {}).get("model")
            same = {"cuda": "cuda" in wanted and wanted["cuda"] in gpus,
                    "cpu": "cpu" in wanted and cpu == wanted["cpu"]}
            if not any(same.values()):
                continue
            results = read_process_results(Path(run_dir))
        except (BenchError, OSError, ValueError, TypeError, AttributeError):
            continue  # a run that does not load gives no timings
        used = False
        for r in results.values():
            if same.get(r.cell.device):
                past.add(r)
                used = True
        if used:
            past.runs.append(Path(run_dir).name)
    return past


def step_seconds(cell: Cell, past: PastTimings | None = None) -> float:
    key = (cell.framework, cell.mode, cell.device, cell.model, cell.precision, cell.batch_size)
    known = _median(past.step_s.get(key)) if past else None
    if known is not None:
        return known
    if cell.device == "cuda":
        ref_cpu = reference_step_seconds(cell.model, cell.batch_size)
        if ref_cpu is None:
            return _UNKNOWN_STEP_S / 10
        flops = ref_cpu * REFERENCE_CPU_FLOPS
        return max(CUDA_MIN_STEP_S, flops / REFERENCE_CUDA_FLOPS.get(cell.precision, 15e12))
    return reference_step_seconds(cell.model, cell.batch_size) or _UNKNOWN_STEP_S


def compile_seconds(cell: Cell, state: str, past: PastTimings | None = None) -> float:
    """The first step's compile: this machine's figure for the cell's variant, else for the default
    variant plus the variant's ``extra_compile_s`` (cold), else the descriptor's. A mode without a
    persistent cache (the descriptor's warm figure equal to its cold one) compiles as much warm as cold."""
    desc = get_framework(cell.framework)
    if not desc.compiles(cell.mode):
        return 0.0
    mode = desc.mode(cell.mode)
    no_cache = mode.warm_compile_s.get(cell.device) == mode.cold_compile_s.get(cell.device)
    states = (state, COLD) if state == WARM and no_cache else (state,)
    extra = 0.0
    if cell.variant in desc.variant_names and state == COLD:
        extra = float(desc.variant(cell.variant).extra_compile_s.get(cell.device, 0.0))
    for variant, add in ((cell.variant, 0.0), ("default", extra)):
        for st in states:
            key = (cell.framework, cell.mode, variant, cell.device, cell.model, st)
            known = _median(past.compile_s.get(key)) if past else None
            if known is not None:
                return known + add
    table = mode.warm_compile_s if state == WARM else mode.cold_compile_s
    return float(table.get(cell.device, mode.cold_compile_s.get(cell.device, 25.0))) + extra


def start_seconds(cell: Cell, past: PastTimings | None = None) -> float:
    known = _median(past.start_s.get((cell.framework, cell.device))) if past else None
    if known is not None:
        return known
    return float(get_framework(cell.framework).process_start_s.get(cell.device, _DEFAULT_START_S))


def process_seconds(cell: Cell, settings: RunSettings, repeat: int = 1,
                    past: PastTimings | None = None) -> float:
    """One process of ``cell`` (its ``repeat``-th): start, compile, every step."""
    if cell.scenario == "generate":
        return generate_process_seconds(cell, settings, repeat, past)
    n_steps = 1 + settings.warmup + settings.steps + settings.window_steps
    state = cache_state(cell, settings, repeat)
    total = start_seconds(cell, past) + n_steps * step_seconds(cell, past)
    total += compile_seconds(cell, state, past)
    if cell.variant == "warm-cache":  # a child process primes the cache first: a cold compile
        total += start_seconds(cell, past) + compile_seconds(cell, COLD, past)
    return total


def generate_process_seconds(cell: Cell, settings: RunSettings, repeat: int = 1,
                             past: PastTimings | None = None) -> float:
    """A generate process: start, two compiles (batch 1 and N), the first call, the batch-1 warm-up and
    timed calls (each until its count and its duration), two calls at batch N and the windows."""
    spec = get_spec(cell.model)
    hooks = family_of(cell.model).scenarios.get("generate")
    steps = settings.denoising_steps if getattr(hooks, "denoising", False) else 1

    def call_s(batch: int) -> float:
        try:
            flops = float(hooks.call_flops(spec, batch, steps))  # type: ignore[union-attr]
        except Exception:  # a family without generate hooks: the cell is skipped anyway
            return _UNKNOWN_STEP_S
        if cell.device == "cuda":
            return max(CUDA_MIN_STEP_S * steps, flops / REFERENCE_CUDA_FLOPS.get(cell.precision, 15e12))
        return flops / REFERENCE_CPU_FLOPS

    t1, tn = call_s(1), call_s(cell.batch_size or spec.batch_size)
    s = settings
    calls = (t1 + max(s.generate_warmup_min_s, s.warmup * t1) + max(s.generate_min_s, s.steps * t1)
             + 2 * tn + max(s.generate_min_s, tn))
    return start_seconds(cell, past) + 2 * compile_seconds(cell, cache_state(cell, s, repeat), past) + calls


def estimate_cell_seconds(cell: Cell, settings: RunSettings, past: PastTimings | None = None) -> float:
    """The mean estimate of one process of the cell (its ``settings.repeats`` processes together take
    ``repeats`` times this: the first may compile cold, the others warm)."""
    n = max(1, settings.repeats)
    return sum(process_seconds(cell, settings, k, past) for k in range(1, n + 1)) / n


def this_machine_identity(assumed_gpu: str | None = None, probes: Mapping[str, Any] | None = None
                          ) -> dict[str, str | None]:
    """device -> the name past timings are matched by: the CPU model, and the GPU (assumed, or probed)."""
    from bench.host.machine import cpu_model

    gpu = assumed_gpu
    for p in (probes or {}).values():
        devices = p.get("devices") if isinstance(p, Mapping) else None
        if gpu is None and isinstance(devices, list) and devices and p.get("cuda") is True:
            gpu = str(devices[0])
    try:
        cpu: str | None = cpu_model()
    except Exception:  # an unreadable /proc/cpuinfo only loses the CPU's past timings
        cpu = None
    return {"cpu": cpu, "cuda": gpu}
