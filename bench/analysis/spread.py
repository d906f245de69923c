"""A run's own between-process spread, pooled per scenario: the prior that keeps a paired ratio from
trusting a few lucky pairs (bench.stats.SpreadPrior, bench.stats.median_ratio_ci).

The same pooling serves the report (rows of bench.analysis.tables.comparison_frame) and the run's
adaptive phase (its stored process results, bench.plan.adaptive), so both decide a comparison alike:
every cell of the run and scenario with at least two ok processes adds its processes' log medians'
variance, weighted by its degrees of freedom. A scenario is pooled apart because its metric is
another one (a training step; a batch-1 generation call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.stats import SpreadPrior, pooled_log_spread

__all__ = ["prior_key", "prior_of_results", "priors_of_rows"]


def _scenario(value: Any) -> str:
    return value if isinstance(value, str) and value else "train"  # runs stored before the axis trained


def prior_key(row: Mapping[str, Any]) -> tuple[str, str]:
    """The (run id, scenario) whose pooled spread a row's ratios use."""
    return str(row.get("run_id")), _scenario(row.get("scenario"))


def priors_of_rows(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], SpreadPrior]:
    """(run id, scenario) -> the pooled spread of that run's ok cells of the scenario."""
    samples: dict[tuple[str, str], list[list[float]]] = {}
    for r in rows:
        medians = r.get("process_medians")
        if r.get("status") == "ok" and isinstance(medians, Mapping):
            samples.setdefault(prior_key(r), []).append(list(medians.values()))
    return {k: p for k, v in samples.items() if (p := pooled_log_spread(v)) is not None}


def prior_of_results(results: Mapping[tuple[str, int], Any], scenario: str) -> SpreadPrior | None:
    """The pooled spread of one run's stored process results (bench.results.records.CellResult by
    (cell id, repeat)) of ``scenario``: its ok processes' medians, cell by cell."""
    samples: dict[str, list[float]] = {}
    for (cell_id, _), r in results.items():
        if r.status == "ok" and r.step_time_median_s and _scenario(r.cell.scenario) == scenario:
            samples.setdefault(cell_id, []).append(float(r.step_time_median_s))
    return pooled_log_spread(list(samples.values()))
