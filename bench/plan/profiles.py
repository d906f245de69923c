"""Run profiles: how many processes and steps each cell gets, and which optional cells are in the matrix.

Every profile measures each cell in ``repeats`` (3) fresh processes: the replication across processes
carries the confidence intervals, so a process needs only a few steps. ``quick`` (default without CUDA)
is sized so that the whole default matrix, every built-in model, fits in 15 minutes on a 2-core
machine: a CPU step FLOPs budget picks each model's CPU batch, and a process takes few steps. A model
whose train step is cheap on that machine (under ``SHORT_STEP_S``, estimated from the family's
analytic FLOPs at its CPU batch) gets more steps than an expensive one. ``full`` (default with CUDA)
takes enough steps for tight within-process intervals too. ``gpu`` (default with CUDA) is sized for a
person waiting at one GPU: CUDA cells only, at most 30 minutes on one H100 by its estimate
(bench.plan.estimates; ``bench all --dry-run --assume-cuda NAME`` prints it from any machine). Every number
is overridable on the command line. The optional variants of each profile are the frameworks'
business (their descriptors' ``extra_variants``, ``cpu_reduced_precision_modes`` for bf16 on CPU,
``cuda_reduced_precision_modes`` and ``one_model_modes`` on CUDA); a profile names the
precisions it runs on CUDA and on CPU (the reduced ones only where the CPU runs them natively).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bench.clock import physical_cores as _physical_cores
from bench.errors import BenchError
from bench.results.records import RunSettings
from bench.vocab import PROFILES, check_choice
from models.registry import family_of, get_spec, model_names


@dataclass(frozen=True)
class StepCounts:
    warmup: int
    steps: int
    window_steps: int


@dataclass(frozen=True)
class Profile:
    name: str
    counts_default: StepCounts  # a model without cheaper counts (and make_settings without a model)
    # Models whose reference CPU step takes at most SHORT_STEP_S: more steps fit the same budget.
    counts_short_step: StepCounts | None
    time_limit_s: float  # per process
    cuda_precisions: tuple[str, ...]  # precisions run on CUDA
    # Precisions run on CPU: fp32 everywhere; the others only on a CPU that runs them natively
    # (bench.plan.matrix.native_cpu_precisions) and only in the modes a framework's descriptor names.
    cpu_precisions: tuple[str, ...] = ("fp32",)
    repeats: int = 3  # fresh processes per cell
    # RunSettings.compile_cache: "shared" lets processes 2..R of a compiled cell reuse the first one's
    # compile cache (their first step is then a warm compile; the first process's stays cold).
    compile_cache: str = "cold"
    # False: only the families that declare ``in_quick_profile`` are in the default matrix (a model
    # named with --models always runs).
    all_models: bool = True
    # The devices of the default matrix (--devices overrides); None: every device.
    default_devices: tuple[str, ...] | None = None
    # The whole run's wall-clock budget, its start to its reports (bench.plan.adaptive adds pairs only
    # inside it; --time-budget overrides); None: no budget.
    time_budget_s: float | None = None
    # Pairs the adaptive phase may add to each inconclusive headline comparison (--extra-pairs).
    adaptive_pairs: int = 5
    # Data-parallel worker counts the default matrix adds (when --workers is not given) to each
    # framework's baseline mode, default variant, fp32: the scaling cells (issue 21). Never in quick.
    scale_out_workers: tuple[int, ...] = ()
    # The scenarios of the default matrix (--scenarios overrides; bench.scenarios), and those of them
    # limited to the models whose family names them (``ModelFamily.default_run_scenarios``); a limited
    # scenario joins the profile's default models only, not a `--models` list (bench.plan.matrix).
    scenarios: tuple[str, ...] = ("train",)
    limited_scenarios: tuple[str, ...] = ()
    # The generate scenario's settings (RunSettings.generate_*, denoising_steps).
    denoising_steps: int = 4
    generate_warmup_min_s: float = 0.5
    generate_min_s: float = 2.0

    def default_models(self) -> tuple[str, ...]:
        return tuple(m for m in model_names() if self.all_models or family_of(m).in_quick_profile)
    # On CPU, a model whose train step at its default batch would exceed this many FLOPs runs at
    # the default batch halved until it fits (None: always the default batch). The cell id and
    # the report carry the batch, so such a cell is never mistaken for a default-batch one.
    cpu_step_flops_budget: float | None = None

    def batch_size(self, model: str, device: str, default_batch: int) -> int:
        if device != "cpu" or self.cpu_step_flops_budget is None:
            return default_batch
        try:
            spec = get_spec(model)
            flops = family_of(model).train_step_flops
        except Exception:  # an unknown model keeps its default; the matrix names the problem
            return default_batch
        batch = default_batch
        while batch > 1 and flops(spec, batch) > self.cpu_step_flops_budget:
            batch //= 2
        return batch

    def step_counts(self, model: str | None) -> StepCounts:
        """The model's step counts: the short-step ones where its step at its CPU batch is cheap."""
        if model is not None and self.counts_short_step is not None:
            try:
                batch = self.batch_size(model, "cpu", get_spec(model).batch_size)
            except Exception:  # an unknown model: the matrix names the problem
                batch = None
            step_s = reference_step_seconds(model, batch)
            if step_s is not None and step_s <= SHORT_STEP_S:
                return self.counts_short_step
        return self.counts_default


PROFILE_DEFS: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        # Some compiled modes on CPU keep speeding up for a few steps after their first: warm-up 3.
        # Few timed steps: the three processes per cell carry the interval (median of process medians).
        counts_default=StepCounts(warmup=3, steps=5, window_steps=3),
        counts_short_step=StepCounts(warmup=3, steps=10, window_steps=10),
        time_limit_s=600.0,
        cuda_precisions=("fp32",),
        # bf16 CPU cells are in full: quick's 15 minutes go to the tuned candidates and more pairs.
        cpu_precisions=("fp32",),
        # About 0.3 s a step on the reference 2-core CPU; each built-in model's CPU batch is its default
        # halved until a step fits (1/4 to 1/16 of it; the cheapest model keeps its default; the batches
        # are pinned in tests/test_orch_matrix.py).
        cpu_step_flops_budget=40e9,
        # A cold Inductor compile takes 20-60 s a process on 2 cores: three cold ones per compiled cell
        # would not fit 15 minutes. The cold compile is measured once (repeat 1), the warm one twice.
        compile_cache="shared",
        all_models=False,
        time_budget_s=15 * 60.0,
        # Generation for one model, in every runtime installed (the frameworks' descriptors name the
        # modes: each one's shipped way to generate and its deployed runtimes; the rest is in full).
        scenarios=("train", "generate"),
        limited_scenarios=("generate",),
        # A batch-1 call takes ~1-3 ms here: 1 s of timed calls is hundreds, and the processes' spread
        # (~16% between processes) dwarfs what a longer window would refine; the second saved on each
        # of ~30 generate processes goes to the headline's adaptive pairs.
        generate_min_s=1.0,
    ),
    "full": Profile(
        name="full",
        counts_default=StepCounts(warmup=10, steps=50, window_steps=100),
        counts_short_step=None,
        time_limit_s=1800.0,
        cuda_precisions=("fp32", "bf16", "fp16"),
        cpu_precisions=("fp32", "bf16"),
        scale_out_workers=(2,),
        # Every model's generate cells too, in every mode (quick: one model, fewer modes).
        scenarios=("train", "generate"),
        denoising_steps=50,
        generate_warmup_min_s=2.0,
        generate_min_s=10.0,
    ),
    # A person at a GPU box: every model and framework mode on CUDA (the frameworks' descriptors thin
    # the expensive ones: reduced precision only in some modes, max-autotune on one model), fp32 and
    # bf16, 3 processes a cell sharing one compile cache (the cold compile from the first process).
    # A GPU step takes milliseconds: start-up and compiles are the time, not the steps.
    "gpu": Profile(
        name="gpu",
        counts_default=StepCounts(warmup=10, steps=30, window_steps=50),
        counts_short_step=None,
        time_limit_s=900.0,
        cuda_precisions=("fp32", "bf16"),
        compile_cache="shared",
        default_devices=("cuda",),
        denoising_steps=50,
        time_budget_s=30 * 60.0,
    ),
}
assert set(PROFILE_DEFS) == set(PROFILES)
# The wall-clock budget of the gpu profile on one H100 (tests/test_gpu_profile.py holds it to this).
GPU_PROFILE_BUDGET_S = 30 * 60

# The reference 2-core CPU (AMD EPYC, AVX-512), for plans and ETAs only. Its train-step rate, over the
# modes of the committed quick run of 2026-11-25 (achieved FLOP/s 50-200 G, median over modes
# ≈ 140 G at the default batches; smaller CPU batches run less efficiently).
REFERENCE_CPU_FLOPS = 100e9
SHORT_STEP_S = 0.1  # a model whose reference step is at most this gets the short-step counts
_UNKNOWN_STEP_S = 0.5  # a model whose FLOPs cannot be counted


def get_profile(name: str) -> Profile:
    return PROFILE_DEFS[check_choice("profile", name, PROFILES)]


def default_profile_name(cuda_available: bool) -> str:
    return "gpu" if cuda_available else "quick"


def reference_step_seconds(model: str, batch_size: int | None) -> float | None:
    """Estimated seconds of one train step on the reference CPU (None when FLOPs are not known)."""
    try:
        spec = get_spec(model)
        flops = family_of(model).train_step_flops(spec, batch_size or spec.batch_size)
    except Exception:  # a family that cannot count its FLOPs only loses the estimate
        return None
    return float(flops) / REFERENCE_CPU_FLOPS


# Settings the command line can override (argparse dest → RunSettings field).
OVERRIDABLE = ("steps", "warmup", "window_steps", "seed", "intra_op_threads", "inter_op_threads",
               "tf32", "deterministic", "time_limit_s", "data", "n_batches", "cudnn_benchmark", "repeats",
               "denoising_steps")


def make_settings(profile: str, model: str | None, overrides: dict[str, Any] | None = None,
                  physical_cores: int | None = None) -> RunSettings:
    """RunSettings for one model under a profile, with explicit overrides (None values ignored).

    ``intra_op_threads`` 0 is resolved to the machine's physical cores here, so that the stored
    settings say what was actually used.
    """
    prof = get_profile(profile)
    counts = prof.step_counts(model)
    s = RunSettings(profile=prof.name, steps=counts.steps, warmup=counts.warmup,
                    window_steps=counts.window_steps, time_limit_s=prof.time_limit_s, repeats=prof.repeats,
                    compile_cache=prof.compile_cache, denoising_steps=prof.denoising_steps,
                    generate_warmup_min_s=prof.generate_warmup_min_s, generate_min_s=prof.generate_min_s)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(given) - set(OVERRIDABLE)
    if unknown:
        raise BenchError(f"not a run setting: {', '.join(sorted(unknown))}")
    s = replace(s, **given)
    _check(s)
    if s.intra_op_threads == 0:
        s = replace(s, intra_op_threads=physical_cores or _physical_cores())
    if s.inter_op_threads == 0:
        s = replace(s, inter_op_threads=physical_cores or _physical_cores())
    return s


def _check(s: RunSettings) -> None:
    if s.steps < 1:
        raise BenchError(f"--steps must be at least 1 (got {s.steps})")
    if s.repeats < 1:
        raise BenchError(f"--repeats must be at least 1 (got {s.repeats})")
    for name in ("warmup", "window_steps", "intra_op_threads", "seed"):
        if getattr(s, name) < 0:
            raise BenchError(f"--{name.replace('_', '-')} must not be negative (got {getattr(s, name)})")
    if s.inter_op_threads < 0:
        raise BenchError(f"inter-op threads must not be negative (got {s.inter_op_threads})")
    if s.n_batches < 1:
        raise BenchError(f"n_batches must be at least 1 (got {s.n_batches})")
    if not s.time_limit_s > 0:
        raise BenchError(f"--time-limit must be positive (got {s.time_limit_s})")


def describe_defaults() -> str:
    """The profiles' defaults per model, as `--help` shows them (steps, warm-up, window, time limit)."""
    from models.registry import model_names

    lines = ["profile defaults per model (first + warm-up / timed / window steps per process; processes "
             "per cell; time limit per process):"]
    for prof in PROFILE_DEFS.values():
        by_counts: dict[StepCounts, list[str]] = {}
        for model in model_names():
            by_counts.setdefault(prof.step_counts(model), []).append(model)
        parts = [f"{'every model' if len(by_counts) == 1 else ', '.join(models)} "
                 f"1 + {c.warmup} / {c.steps} / {c.window_steps}" for c, models in by_counts.items()]
        cuda = f"; on CUDA also {'/'.join(prof.cuda_precisions[1:])}" if len(prof.cuda_precisions) > 1 else ""
        cpu = (f"; on a CPU with native {'/'.join(prof.cpu_precisions[1:])} also that (some modes)"
               if len(prof.cpu_precisions) > 1 else "")
        lines.append(f"  {prof.name:<6} {'; '.join(parts)}; {prof.repeats} processes per cell; "
                     f"time limit {prof.time_limit_s:g} s{cuda}{cpu}")
    lines.append("  --steps, --warmup, --window-steps, --repeats, --batch-size and --time-limit override "
                 "them")
    profiles = PROFILE_DEFS.values()
    gen = "; ".join(f"{p.name} {p.generate_warmup_min_s:g} s / {p.generate_min_s:g} s, S = "
                    f"{p.denoising_steps}" for p in profiles)
    where = ", ".join(p.name for p in profiles if "generate" in p.scenarios)
    lines.append(f"  generate cells (in {where} and with --scenarios generate): warm-up and timed calls "
                 f"also last at least {gen} (--denoising-steps)")
    return "\n".join(lines)
