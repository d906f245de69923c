"""The one vocabulary: names used alike by the CLI, the stored results, the reports and the code."""

from __future__ import annotations

from models.spec import MODEL_NAMES

from .errors import UnknownChoice

FRAMEWORKS: tuple[str, ...] = ("tensorflow", "torch")

# Execution modes per framework, baseline (eager) first.
MODES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("eager", "function", "xla"),
    "torch": ("eager", "compile", "reduce-overhead", "max-autotune"),
}
# Modes that only make sense on a CUDA device (CUDA graphs, GPU kernel autotuning).
CUDA_ONLY_MODES: frozenset[tuple[str, str]] = frozenset(
    {("torch", "reduce-overhead"), ("torch", "max-autotune")}
)
COMPILED_MODES: frozenset[tuple[str, str]] = frozenset(
    {("tensorflow", "function"), ("tensorflow", "xla"), ("torch", "compile"),
     ("torch", "reduce-overhead"), ("torch", "max-autotune")}
)

DEVICES: tuple[str, ...] = ("cpu", "cuda")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")

# Named performance switches. "default" is always the framework's shipped behaviour.
VARIANTS: dict[str, tuple[str, ...]] = {
    "tensorflow": ("default", "onednn-on", "onednn-off"),
    "torch": ("default", "channels-last", "warm-cache"),
}

CELL_STATUSES: tuple[str, ...] = ("ok", "skipped", "failed", "timeout", "oom", "diverged")
# The cell did not produce a measurement: --resume re-runs these, and `all`/`run` exit 1.
FAILED_STATUSES: tuple[str, ...] = ("failed", "timeout", "oom")
# Worse than ok for the regression gate (a diverged cell measured, but its numbers are not a result).
BAD_STATUSES: tuple[str, ...] = (*FAILED_STATUSES, "diverged")
PROFILES: tuple[str, ...] = ("quick", "full")


def check_choice(kind: str, value: str, valid: tuple[str, ...] | list[str]) -> str:
    if value not in valid:
        raise UnknownChoice(kind, value, valid)
    return value


def check_model(name: str) -> str:
    return check_choice("model", name, MODEL_NAMES)


def check_framework(name: str) -> str:
    return check_choice("framework", name, FRAMEWORKS)


def check_mode(framework: str, mode: str) -> str:
    return check_choice(f"{framework} mode", mode, MODES[check_framework(framework)])


def check_device(name: str) -> str:
    return check_choice("device", name, DEVICES)


def check_precision(name: str) -> str:
    return check_choice("precision", name, PRECISIONS)


def check_variant(framework: str, name: str) -> str:
    return check_choice(f"{framework} variant", name, VARIANTS[check_framework(framework)])
