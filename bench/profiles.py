"""Run profiles: how many steps each model gets, and which optional cells are in the default matrix.

``quick`` (default without CUDA) is sized so that every CPU cell of both models finishes in well
under 15 minutes on a 2-core machine (a dcgan-mnist step at batch 256 ≈ 1.4 s, a dcgan-64 step at
batch 128 ≈ 4 s, process start + TF import ≈ 8 s, a cold torch.compile ≈ 40 s): few steps, so its
numbers carry wide confidence intervals, which the reports show. ``full`` (default with CUDA) takes
enough steps for tight intervals. Every number is overridable on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .errors import BenchError
from .records import Cell, RunSettings
from .vocab import COMPILED_MODES, PROFILES, check_choice


@dataclass(frozen=True)
class StepPlan:
    warmup: int
    steps: int
    window_steps: int


@dataclass(frozen=True)
class Profile:
    name: str
    plans: dict[str, StepPlan]  # per model; "*" for models not listed
    time_limit_s: float
    # Optional parts of the default matrix.
    tf_opposite_onednn_modes: tuple[str, ...]  # TF modes that also run with oneDNN flipped
    cuda_precisions: tuple[str, ...]  # precisions run on CUDA (CPU: fp32 only by default)
    torch_extra_variants: tuple[str, ...]  # torch variants beyond "default"

    def plan(self, model: str) -> StepPlan:
        return self.plans.get(model, self.plans["*"])


PROFILE_DEFS: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        plans={
            # Compiled torch on CPU keeps speeding up for a few steps after its first: warm-up >= 3.
            "dcgan-mnist": StepPlan(warmup=3, steps=10, window_steps=8),
            "dcgan-64": StepPlan(warmup=3, steps=6, window_steps=4),
            "*": StepPlan(warmup=3, steps=6, window_steps=4),
        },
        time_limit_s=600.0,
        tf_opposite_onednn_modes=("function",),
        cuda_precisions=("fp32",),
        torch_extra_variants=(),
    ),
    "full": Profile(
        name="full",
        plans={"*": StepPlan(warmup=10, steps=50, window_steps=100)},
        time_limit_s=1800.0,
        tf_opposite_onednn_modes=("eager", "function", "xla"),
        cuda_precisions=("fp32", "bf16", "fp16"),
        torch_extra_variants=("channels-last", "warm-cache"),
    ),
}
assert set(PROFILE_DEFS) == set(PROFILES)

# Rough per-step seconds on the reference 2-core CPU at the model's default batch (for ETAs only).
_CPU_STEP_S = {"dcgan-mnist": 1.4, "dcgan-64": 4.0}
_START_S = 8.0
_COMPILE_S = {"torch": 40.0, "tensorflow": 10.0}


def get_profile(name: str) -> Profile:
    return PROFILE_DEFS[check_choice("profile", name, PROFILES)]


def default_profile_name(cuda_available: bool) -> str:
    return "full" if cuda_available else "quick"


# Settings the command line can override (argparse dest → RunSettings field).
OVERRIDABLE = ("steps", "warmup", "window_steps", "seed", "intra_op_threads", "inter_op_threads",
               "tf32", "deterministic", "time_limit_s", "data", "n_batches", "cudnn_benchmark")


def make_settings(profile: str, model: str | None, overrides: dict[str, Any] | None = None,
                  physical_cores: int | None = None) -> RunSettings:
    """RunSettings for one model under a profile, with explicit overrides (None values ignored).

    ``intra_op_threads`` 0 is resolved to the machine's physical cores here, so that the stored
    settings say what was actually used.
    """
    prof = get_profile(profile)
    plan = prof.plan(model or "*")
    s = RunSettings(profile=prof.name, steps=plan.steps, warmup=plan.warmup,
                    window_steps=plan.window_steps, time_limit_s=prof.time_limit_s)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(given) - set(OVERRIDABLE)
    if unknown:
        raise BenchError(f"not a run setting: {', '.join(sorted(unknown))}")
    s = replace(s, **given)
    _check(s)
    if s.intra_op_threads == 0:
        if physical_cores is None:
            from .envinfo import physical_cores as _pc

            physical_cores = _pc()
        s = replace(s, intra_op_threads=physical_cores)
    return s


def _check(s: RunSettings) -> None:
    if s.steps < 1:
        raise BenchError(f"--steps must be at least 1 (got {s.steps})")
    for name in ("warmup", "window_steps", "intra_op_threads", "seed"):
        if getattr(s, name) < 0:
            raise BenchError(f"--{name.replace('_', '-')} must not be negative (got {getattr(s, name)})")
    if s.inter_op_threads < 1:
        raise BenchError(f"inter-op threads must be at least 1 (got {s.inter_op_threads})")
    if s.n_batches < 1:
        raise BenchError(f"n_batches must be at least 1 (got {s.n_batches})")
    if not s.time_limit_s > 0:
        raise BenchError(f"--time-limit must be positive (got {s.time_limit_s})")


def estimate_cell_seconds(cell: Cell, settings: RunSettings, default_batch: int) -> float:
    """A rough wall-clock estimate of one cell (for the first ETA, before any cell has finished)."""
    per_step = _CPU_STEP_S.get(cell.model, 2.0) * (cell.batch_size or default_batch) / default_batch
    if cell.device == "cuda":
        per_step /= 50.0
    n = 1 + settings.warmup + settings.steps + settings.window_steps
    compile_s = _COMPILE_S.get(cell.framework, 0.0) if (cell.framework, cell.mode) in COMPILED_MODES else 0.0
    return _START_S + n * per_step + compile_s
