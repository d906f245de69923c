"""The gate's noise model across runs: is a run's value outside what the history's runs explain?

A baseline with history holds, per cell, one value per stored run (the median of that run's process
medians for step time; the median throughput; the peak memory; the median time to first step). Runs
of unchanged code differ by more than their processes suggest (the machine's state drifts between
runs), so the test is over runs, as Bencher's t-test threshold and Conbench's z-score are:

    on logs, t = (log new − mean(log history)) / (s · √(1 + 1/k)),  one-sided, k − 1 + d0 d.o.f.,

a prediction interval for one more run. With 3 to 5 stored runs a cell's own s is too uncertain to
be useful (the t quantile with 2 d.o.f. is 7 at p = 0.01), so s² is moderated towards the variance
pooled over every cell of the history for that metric, as limma does for gene-wise variances (Smyth
2004): s² = (d0·s_pool² + (k − 1)·s_cell²) / (d0 + k − 1), with PRIOR_DF = d0 = 4 prior degrees of
freedom (at most the pool's own). The p-values of all cells and metrics of one gate decision are
then adjusted together (bench.stats.adjust_p: Benjamini–Hochberg by default, or Holm).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

PRIOR_DF = 4.0


@dataclass(frozen=True)
class Pool:
    """The between-run variance of log values pooled over cells, with its degrees of freedom."""

    variance: float = 0.0
    df: int = 0


def _logs(values: Iterable[float | None]) -> np.ndarray:
    return np.log([float(v) for v in values if v is not None and math.isfinite(float(v)) and float(v) > 0])


def pool_of(histories: Iterable[Sequence[float | None]]) -> Pool:
    """Pooled variance of log values over the cells with at least two stored runs."""
    ss, df = 0.0, 0
    for h in histories:
        logs = _logs(h)
        if len(logs) >= 2:
            ss += float(np.sum((logs - logs.mean()) ** 2))
            df += len(logs) - 1
    return Pool(ss / df, df) if df else Pool()


@dataclass(frozen=True)
class HistoryTest:
    center: float  # geometric mean of the history's runs: what "base" means for this cell
    change: float  # relative, new / center − 1
    p: float | None  # one-sided: new worse than the history explains; None when no spread is known
    noise: float | None  # relative sd of one more run, as predicted
    df: float
    n_runs: int


def prediction_test(history: Sequence[float | None], new: float, pool: Pool,
                    higher_is_worse: bool = True, prior_df: float = PRIOR_DF) -> HistoryTest | None:
    """Test one new run's value against the cell's history (see the module doc); None without a
    usable history value or new value. ``prior_df``: the weight of the pooled variance, in degrees
    of freedom (bench.gate.prior passes the calibration's own for a one-run baseline)."""
    logs = _logs(history)
    if not len(logs) or new is None or not math.isfinite(new) or new <= 0:
        return None
    k = len(logs)
    mean = float(logs.mean())
    center = math.exp(mean)
    change = new / center - 1.0
    d_cell = k - 1
    d0 = min(prior_df, float(pool.df))
    if d0 + d_cell == 0:
        return HistoryTest(center, change, None, None, 0.0, k)
    s_cell2 = float(np.var(logs, ddof=1)) if k >= 2 else 0.0
    s2 = (d0 * pool.variance + d_cell * s_cell2) / (d0 + d_cell)
    sign = 1.0 if higher_is_worse else -1.0
    diff = sign * (math.log(new) - mean)
    if s2 <= 0:  # a deterministic metric (e.g. memory) that never moved: any worsening is real
        return HistoryTest(center, change, 0.0 if diff > 1e-12 else 1.0, 0.0, d0 + d_cell, k)
    from scipy.stats import t as student_t

    scale = math.sqrt(s2 * (1.0 + 1.0 / k))
    p = float(student_t.sf(diff / scale, d0 + d_cell))
    return HistoryTest(center, change, p, math.expm1(scale), d0 + d_cell, k)
