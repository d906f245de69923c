"""Run options of data-parallel cells (workers > 1) that are run settings but not a profile's
(``bench.plan.profiles.OVERRIDABLE``): ``--scaling weak|strong``, set on every model's settings after
the profile's, and the checks that refuse a plan its ranks cannot run, before anything starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from bench.errors import BenchError
from bench.results.records import Cell, RunSettings, per_rank_batch

# RunSettings fields given on the command line outside the profiles' overridable ones.
RUN_OPTIONS = ("scaling",)


def split_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the profile's overrides, the run options) of a request's explicit settings."""
    profile = {k: v for k, v in overrides.items() if k not in RUN_OPTIONS}
    return profile, {k: v for k, v in overrides.items() if k in RUN_OPTIONS}


def with_options(settings: RunSettings, options: Mapping[str, Any]) -> RunSettings:
    return replace(settings, **options) if options else settings


def check_batch_split(cells: Iterable[Cell], by_model: Mapping[str, RunSettings]) -> None:
    """Refuse (one line) a strong-scaling cell whose global batch its ranks cannot share equally."""
    for cell in cells:
        settings = by_model.get(cell.model)
        if settings is None or cell.workers < 2:
            continue
        try:
            per_rank_batch(cell.batch_size, cell.workers, settings.scaling)
        except ValueError:
            n = cell.workers
            raise BenchError(f"--scaling strong: {cell.model}'s batch {cell.batch_size} does not split "
                             f"across {n} ranks; give a --batch-size that {n} divides") from None
