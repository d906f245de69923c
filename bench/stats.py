"""Step-time statistics: one process's synchronised per-step times, and the small-sample intervals
that the reports put on a cell's median and on every ratio of two cells.

    median_ci            distribution-free (order-statistic) CI of a median, with its exact coverage
    summarize_step_times the step_time_* fields of one process (bench.results.records.CellResult)
    median_ratio_ci      the ratio of two cells' median step times (the medians the reports print) with
                         its 95% CI from the paired processes (widened for a ratio of medians, and for
                         a pick among candidates); ``RatioCI.decision`` reads it with a ±5% margin
    ratio_ci             a geometric-mean ratio with its CI, paired by schedule block (older form)
    bootstrap_median_ci  percentile bootstrap (kept for the gate and scripts; it under-covers for few
                         samples, so the reports do not use it)

A median of n samples lies in [x(k), x(n-k+1)] (order statistics, 1-based) with probability
1 - 2·P(B <= k-1), B ~ Binomial(n, 1/2), whatever the distribution (continuous): ``median_ci`` takes
the narrowest such interval that covers at least 95%, and when even [min, max] cannot (n < 6) it
returns [min, max] with the coverage it has (75% for n = 3, 93.75% for n = 5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
# ratio_ci's verdicts (A and B are the arguments; ratio = B / A of step times, > 1: A is faster).
A_FASTER, B_FASTER, NO_CLEAR_WINNER, NO_CI = "A faster", "B faster", "no clear winner", "no CI"
# RatioCI.decision's: within the indifference zone, or an interval that straddles one of its edges.
TIE, INCONCLUSIVE = "tie", "inconclusive"
# The indifference zone of a decision: a ratio within ±5% of 1 is a tie.
MARGIN = 0.05
# The weight, in degrees of freedom, of a run's pooled between-process spread in a paired ratio's
# interval (SpreadPrior): as the gate's history prior (bench.gate.history.PRIOR_DF).
SPREAD_PRIOR_DF = 4.0


@dataclass(frozen=True)
class SpreadPrior:
    """A run's between-process spread of log process medians, pooled over its cells of one scenario
    (bench.analysis.spread): ``var`` the pooled variance, ``df`` its degrees of freedom, ``cells`` how
    many cells it pools. A paired ratio's per-pair variance is moderated towards 2 × ``var`` (the
    variance of a difference of two processes' logs, pairing not credited) with ``SPREAD_PRIOR_DF``
    degrees of freedom (Smyth 2004, as the gate's history prior), so that a few lucky pairs cannot
    make a narrow interval."""

    var: float
    df: float
    cells: int = 0

    @property
    def sd(self) -> float:
        return math.sqrt(self.var)


def pooled_log_spread(samples: Sequence[Sequence[float]]) -> SpreadPrior | None:
    """The pooled within-sample variance of the logs of ``samples`` (each a cell's process medians;
    a sample of fewer than 2 positive values adds nothing); None when nothing pools."""
    ss = df = 0.0
    cells = 0
    for values in samples:
        logs = np.log([v for v in (num(x) for x in values) if v is not None and v > 0])
        if len(logs) >= 2:
            ss += float(logs.var(ddof=1)) * (len(logs) - 1)
            df += len(logs) - 1
            cells += 1
    return SpreadPrior(ss / df, df, cells) if df > 0 else None
# A median of n normal samples has sqrt(pi/2) times the standard error of their mean (its asymptotic
# efficiency 2/pi): the t interval of the mean log ratio, widened by it, is an interval for the log of
# a ratio of medians.
MEDIAN_WIDENING = math.sqrt(math.pi / 2)


def num(v: Any) -> float | None:
    """A finite float, or None for None/NaN/inf/booleans/non-numbers (stored cells mix all of these)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# --------------------------------------------------------------------------- one median


def order_statistic_coverage(n: int, k: int) -> float:
    """Probability that [x(k), x(n-k+1)] (1-based order statistics of n samples) holds the median."""
    from scipy.stats import binom

    if n < 1 or not 1 <= k <= (n + 1) // 2:
        raise ValueError(f"no interval [x({k}), x({n - k + 1})] for {n} samples")
    return float(max(0.0, 1.0 - 2.0 * binom.cdf(k - 1, n, 0.5)))


def median_ci_rank(n: int, confidence: float = CONFIDENCE) -> int:
    """The largest k (narrowest interval) whose [x(k), x(n-k+1)] covers the median with at least
    ``confidence``; 1 ([min, max]) when none does."""
    k = 1
    while k + 1 <= (n + 1) // 2 and order_statistic_coverage(n, k + 1) >= confidence:
        k += 1
    return k


def median_ci_coverage(n: int, confidence: float = CONFIDENCE) -> float | None:
    """The coverage of ``median_ci`` for n samples (None under 2: no interval)."""
    if n < 2:
        return None
    return order_statistic_coverage(n, median_ci_rank(n, confidence))


def median_ci(samples: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float] | None:
    """(low, high, coverage): the order-statistic CI of the median (module docstring); None under 2
    samples."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = int(x.size)
    if n < 2:
        return None
    k = median_ci_rank(n, confidence)
    return float(x[k - 1]), float(x[n - k]), order_statistic_coverage(n, k)


def bootstrap_median_ci(
    samples: Sequence[float], confidence: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the median (deterministic for a given seed)."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    medians = np.median(x[idx], axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(medians, [alpha, 1.0 - alpha])
    return float(low), float(high)


def cv(samples: Sequence[float]) -> float | None:
    """Coefficient of variation (sample std / mean); None under 2 samples or a mean <= 0."""
    x = np.asarray(samples, dtype=float)
    if x.size < 2 or float(x.mean()) <= 0:
        return None
    return float(x.std(ddof=1) / x.mean())


def step_time_drift(samples: Sequence[float]) -> float | None:
    """Relative fall of the median from the first half of the timed steps to the second half:
    positive when steps were still getting faster (warm-up not over), None under 4 samples."""
    x = np.asarray(samples, dtype=float)
    if x.size < 4:
        return None
    half = x.size // 2
    return float((np.median(x[:half]) - np.median(x[-half:])) / np.median(x))


def summarize_step_times(samples: Sequence[float]) -> dict[str, float | int]:
    """The step_time_* fields of bench.results.records.CellResult, from one process's per-step seconds.

    ``step_time_ci_low_s/high_s`` are the order-statistic CI of the median (``median_ci``) and
    ``step_time_ci_coverage`` its exact coverage (at least 95% from 6 steps on; [min, max] below).
    """
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    p10, q1, median, q3, p90 = np.quantile(x, [0.10, 0.25, 0.50, 0.75, 0.90])
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    ci = median_ci(x)
    low, high, coverage = (float(x[0]), float(x[0]), None) if ci is None else ci
    return {
        "n_steps": int(x.size),
        "step_time_median_s": float(median),
        "step_time_mean_s": mean,
        "step_time_std_s": std,
        "step_time_min_s": float(x.min()),
        "step_time_p10_s": float(p10),
        "step_time_p90_s": float(p90),
        "step_time_iqr_s": float(q3 - q1),
        "step_time_cv": std / mean if mean > 0 else 0.0,
        "step_time_ci_low_s": low,
        "step_time_ci_high_s": high,
        "step_time_ci_coverage": coverage,
        "step_time_drift": step_time_drift(x),
    }


# --------------------------------------------------------------------------- ratios


@dataclass(frozen=True)
class RatioCI:
    """B's step time over A's (> 1: A is faster), from the processes of two cells.

    ``method``: "paired" (t interval on the per-block log ratios; "paired+prior" with their variance
    moderated by the run's pooled spread, ``SpreadPrior``), "unpaired" (Welch t interval on
    the difference of mean log times), or "single" (too few processes for an interval: the ratio of
    the two, low/high None). ``n``: pairs (paired) or the smaller number of processes.
    ``candidates``: how many comparisons a pick was chosen among (the interval is Bonferroni-widened
    for them, so ``confidence`` holds for the pick whichever it was).
    """

    ratio: float
    low: float | None
    high: float | None
    n: int
    method: str
    confidence: float = CONFIDENCE
    candidates: int = 1
    df: float | None = None  # the t quantile's degrees of freedom, where a t interval was computed

    @property
    def has_ci(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def verdict(self) -> str:
        """A_FASTER / B_FASTER when the interval excludes 1, NO_CLEAR_WINNER when it holds 1, NO_CI."""
        if self.low is None or self.high is None:
            return NO_CI
        if self.low > 1.0:
            return A_FASTER
        if self.high < 1.0:
            return B_FASTER
        return NO_CLEAR_WINNER

    def decision(self, margin: float = MARGIN) -> str:
        """With an indifference zone of ±``margin`` around 1: A_FASTER / B_FASTER when the interval
        lies entirely beyond it, TIE when it lies inside it, INCONCLUSIVE otherwise (or without an
        interval)."""
        if self.low is None or self.high is None:
            return INCONCLUSIVE
        if self.low > 1.0 + margin:
            return A_FASTER
        if self.high < 1.0 - margin:
            return B_FASTER
        if self.low >= 1.0 - margin and self.high <= 1.0 + margin:
            return TIE
        return INCONCLUSIVE

    def inverted(self) -> RatioCI:
        """A's over B's: the same interval seen from the other side."""
        low = None if self.high is None else 1.0 / self.high
        high = None if self.low is None else 1.0 / self.low
        return RatioCI(1.0 / self.ratio, low, high, self.n, self.method, self.confidence, self.candidates,
                       self.df)


def _values(x: Mapping[Any, float] | Sequence[float]) -> list[float]:
    vals = list(x.values()) if isinstance(x, Mapping) else list(x)
    return [v for v in (num(v) for v in vals) if v is not None and v > 0]


def ratio_ci(
    a: Mapping[Any, float] | Sequence[float],
    b: Mapping[Any, float] | Sequence[float],
    paired_by_block: bool = True,
    confidence: float = CONFIDENCE,
) -> RatioCI | None:
    """The ratio B/A of two cells' step times (their processes' medians) with its CI; None when a
    side has no time.

    ``a`` and ``b`` map each process's schedule block to its median (or are plain sequences: never
    paired). Paired (``paired_by_block`` and at least 2 common blocks): a t interval on the per-block
    log ratios, whose mean is the point estimate. Otherwise, with at least 2 processes a side: Welch's
    t interval on mean log B - mean log A (point: ratio of geometric means). Otherwise "single": the
    ratio of the geometric means, no interval.
    """
    from scipy.stats import t as student

    va, vb = _values(a), _values(b)
    if not va or not vb:
        return None
    alpha = 1.0 - confidence
    if paired_by_block and isinstance(a, Mapping) and isinstance(b, Mapping):
        common = [k for k in a if k in b and num(a[k]) and num(b[k]) and a[k] > 0 and b[k] > 0]
        if len(common) >= 2:
            d = np.log([b[k] / a[k] for k in common])
            mean, n = float(d.mean()), len(d)
            half = float(student.ppf(1 - alpha / 2, n - 1) * d.std(ddof=1) / math.sqrt(n))
            return RatioCI(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, "paired",
                           confidence)
    la, lb = np.log(va), np.log(vb)
    diff = float(lb.mean() - la.mean())
    n = min(len(la), len(lb))
    if n < 2:
        return RatioCI(math.exp(diff), None, None, n, "single", confidence)
    sa, sb = float(la.var(ddof=1)) / len(la), float(lb.var(ddof=1)) / len(lb)
    se = math.sqrt(sa + sb)
    if se == 0:
        return RatioCI(math.exp(diff), math.exp(diff), math.exp(diff), n, "unpaired", confidence)
    df = se**4 / ((sa**2 / (len(la) - 1) if sa else 0.0) + (sb**2 / (len(lb) - 1) if sb else 0.0))
    half = float(student.ppf(1 - alpha / 2, df)) * se
    return RatioCI(math.exp(diff), math.exp(diff - half), math.exp(diff + half), n, "unpaired", confidence)


def median_ratio_ci(
    a: Mapping[Any, float] | Sequence[float],
    b: Mapping[Any, float] | Sequence[float],
    confidence: float = CONFIDENCE,
    candidates: int = 1,
    prior: SpreadPrior | None = None,
) -> RatioCI | None:
    """median(B) / median(A) of two cells' process medians, with its CI; None when a side has none.

    The point is the ratio of the two medians a report prints beside it. The interval comes from the
    processes: with at least 2 common keys (``a`` and ``b`` map each process's schedule block to its
    median; the processes of a headline comparison are adjacent in ABBA order in each block), a t
    interval on the mean of the per-pair log ratios; otherwise, with 2 processes a side, Welch's t
    interval on the difference of mean logs. Its half-width is widened by ``MEDIAN_WIDENING`` (the
    point is a ratio of medians, not of means), its level by Bonferroni for ``candidates``
    comparisons, and it is centred on the log of the point. With a ``prior`` (the run's pooled
    between-process spread), the paired variance is moderated: s² = (d0·2·prior.var + (n − 1)·s²) /
    (d0 + n − 1) with d0 = ``SPREAD_PRIOR_DF`` and d0 + n − 1 degrees of freedom (method
    "paired+prior").
    """
    from scipy.stats import t as student

    va, vb = _values(a), _values(b)
    if not va or not vb:
        return None
    point = float(np.median(vb) / np.median(va))
    k = max(1, int(candidates))
    alpha = (1.0 - confidence) / k
    centre = math.log(point)
    common: list[Any] = []
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        common = [key for key in a if key in b and (num(a[key]) or 0) > 0 and (num(b[key]) or 0) > 0]
    if len(common) >= 2:
        d = np.log([float(b[key]) / float(a[key]) for key in common])
        n = len(d)
        var, df, method = float(d.var(ddof=1)), float(n - 1), "paired"
        if prior is not None and prior.var > 0:
            d0 = min(SPREAD_PRIOR_DF, prior.df)
            var, df, method = (d0 * 2 * prior.var + (n - 1) * var) / (d0 + n - 1), d0 + n - 1, "paired+prior"
        half = float(student.ppf(1 - alpha / 2, df) * math.sqrt(var / n)) * MEDIAN_WIDENING
        return RatioCI(point, math.exp(centre - half), math.exp(centre + half), n, method, confidence, k, df)
    la, lb = np.log(va), np.log(vb)
    n = min(len(la), len(lb))
    if n < 2:
        return RatioCI(point, None, None, n, "single", confidence, k)
    sa, sb = float(la.var(ddof=1)) / len(la), float(lb.var(ddof=1)) / len(lb)
    se = math.sqrt(sa + sb)
    if se == 0:
        return RatioCI(point, point, point, n, "unpaired", confidence, k)
    df = se**4 / ((sa**2 / (len(la) - 1) if sa else 0.0) + (sb**2 / (len(lb) - 1) if sb else 0.0))
    half = float(student.ppf(1 - alpha / 2, df)) * se * MEDIAN_WIDENING
    return RatioCI(point, math.exp(centre - half), math.exp(centre + half), n, "unpaired", confidence, k)


CORRECTIONS = ("bh", "holm", "none")


def adjust_p(pvalues: Sequence[float], method: str = "bh") -> list[float]:
    """p-values adjusted for testing them together: Benjamini-Hochberg (false discovery rate, scipy's
    ``false_discovery_control``), Holm (family-wise error, step-down) or none."""
    ps = [min(max(float(p), 0.0), 1.0) for p in pvalues]
    if not ps or method == "none":
        return ps
    if method == "bh":
        from scipy.stats import false_discovery_control

        return [float(x) for x in np.atleast_1d(false_discovery_control(ps, method="bh"))]
    if method != "holm":
        raise ValueError(f"unknown correction {method!r}; one of {', '.join(CORRECTIONS)}")
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of one process's samples (numpy's linear interpolation), e.g. a
    latency's p99 beside ``summarize_step_times``' median and p90."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    return float(np.percentile(x, q))
