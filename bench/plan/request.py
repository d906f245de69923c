"""A run as asked for: the typed request ``all`` and ``run`` build from their arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.plan.matrix import Filters
from bench.plan.shard import ShardSpec

__all__ = ["RunRequest"]


@dataclass(frozen=True)
class RunRequest:
    """A run as asked for: every value already parsed (names are checked by ``orchestrate.run``)."""

    filters: Filters = field(default_factory=Filters)
    profile: str | None = None  # None: gpu with CUDA, quick without (a resumed run keeps its own)
    overrides: Mapping[str, Any] = field(default_factory=dict)  # RunSettings fields given explicitly
    pythons: Mapping[str, str] = field(default_factory=dict)  # framework -> interpreter
    out: Path | None = None  # run directory; None: a new one under reports/runs (or the latest)
    resume: bool = False
    report: bool = True  # regenerate the reports afterwards
    argv: Sequence[str] = ()  # the command line, stored in run.json
    schedule_seed: int | None = None  # None: the run's seed (settings.seed)
    assume_cuda: str | None = None  # dry run only: plan as if this GPU were present (bench.plan.plan_text)
    peaks_dir: Path | None = None  # where device peaks are pinned (None: reports/machines, or none with out)
    reprobe_peak: bool = False  # measure the pinned peak again and replace it
    extra_pairs: int | None = None  # the adaptive phase's cap per comparison (None: the profile's; 0: off)
    time_budget_s: float | None = None  # the run's wall-clock budget (None: the profile's)
    shard: ShardSpec | None = None  # --shard K/M: run only this slice of the plan (bench.plan.shard)
