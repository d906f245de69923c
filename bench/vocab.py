"""The one vocabulary: names used alike by the CLI, the stored results, the reports and the code.

Frameworks, their modes and variants come from the registry of framework descriptors
(``bench.frameworks``) and models from the registry of model families (``models.registry``), so a
plugin that registers a framework or a family extends the vocabulary: read them through the
functions below, on each use, never as constants taken at import.
"""

from __future__ import annotations

from bench.errors import UnknownChoice
from bench.frameworks import get_framework

DEVICES: tuple[str, ...] = ("cpu", "cuda")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")

# "unsupported": the framework's data-parallel engine raised from its own code while running the cell
# (bench.frameworks.base.Backend.unsupported): a known limit of the engine, recorded with its error's
# line; final like "skipped", but worse than ok for the gate and noted in the report.
CELL_STATUSES: tuple[str, ...] = ("ok", "skipped", "failed", "timeout", "oom", "diverged", "unsupported")
# The cell did not produce a measurement: --resume re-runs these, and `all`/`run` exit 1.
FAILED_STATUSES: tuple[str, ...] = ("failed", "timeout", "oom")
# Worse than ok for the regression gate (a diverged cell measured, but its numbers are not a result).
BAD_STATUSES: tuple[str, ...] = (*FAILED_STATUSES, "diverged", "unsupported")
PROFILES: tuple[str, ...] = ("quick", "full", "gpu")


# --------------------------------------------------------------------------- from the registries


def modes(framework: str) -> tuple[str, ...]:
    """The framework's execution modes, its eager baseline first."""
    return get_framework(framework).mode_names


def variants(framework: str) -> tuple[str, ...]:
    """The framework's named performance switches, "default" (its shipped behaviour) first."""
    return get_framework(framework).variant_names


# --------------------------------------------------------------------------- checks (one-line errors)


def check_choice(kind: str, value: str, valid: tuple[str, ...] | list[str]) -> str:
    """A name of a list that is not a cell axis (a profile); an axis value is checked by bench.axes."""
    if value not in valid:
        raise UnknownChoice(kind, value, valid)
    return value
