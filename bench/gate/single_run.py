"""One run against one run: the checks of a single-run baseline, where the only noise to weigh a
change against is the spread between the processes (or the steps) of the two runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.stats import bootstrap_median_ci
from bench.stats import cv as stats_cv
from bench.stats import num as _num

MIN_SAMPLES = 5
MEMORY_FIELDS = (
    ("peak_rss_bytes", "host"),
    ("device_alloc_peak_bytes", "device alloc"),
    ("nvml_peak_bytes", "NVML"),
)


@dataclass
class Check:
    metric: str
    base: float | None
    new: float | None
    change: float | None  # relative, (new - base) / base; None when either is missing
    failed: bool = False
    note: str = ""
    noise: float | None = None  # estimated relative noise (sigma), where the metric has a noise model
    p: float | None = None  # one-sided p of its noise test (None: the threshold alone decides)
    q: float | None = None  # p adjusted over every test of the gate decision (bench.stats.adjust_p)
    exceeded: bool = False  # worse by more than its threshold
    also_required: bool = True  # any further condition of its rule (the CIs apart, for the U test)
    basis: str = ""  # what the noise was taken from: "history of k runs", "processes", "steps", ...
    df: float | None = None  # degrees of freedom of the noise estimate (None: normal)
    shift: float | None = None  # the run-wide machine drift this check was judged against (drift.py)


def _rel(base: float | None, new: float | None) -> float | None:
    if base is None or new is None or base <= 0:
        return None
    return (new - base) / base


def step_time_check(
    base: dict[str, Any], new: dict[str, Any], cfg: dict[str, Any]
) -> tuple[Check, float | None, bool | None]:
    """One run against one run: median change, one-sided p (new slower) and whether the 95% CIs
    overlap. ``failed`` is the verdict of this test alone; bench.gate.rules.decide adjusts it."""
    bs = [float(x) for x in base.get("samples_s") or []]
    ns = [float(x) for x in new.get("samples_s") or []]
    bp, np_ = _process_medians(base), _process_medians(new)
    replicated = len(bp) >= 2 and len(np_) >= 2
    if replicated:  # the median of the process medians, as the reports give it
        b_med, n_med = float(np.median(bp)), float(np.median(np_))
    else:
        b_med = float(np.median(bs)) if bs else _num(base.get("step_time_median_s"))
        n_med = float(np.median(ns)) if ns else _num(new.get("step_time_median_s"))
    change = _rel(b_med, n_med)
    check = Check("step_time", b_med, n_med, change)
    if change is None:
        check.note = "no step time to compare"
        return check, None, None
    check.exceeded = change > cfg["step_time"]
    if replicated:
        check.p = _welch_slower(bp, np_)
        check.noise = between_process_noise(bp, np_)
        check.basis = "processes"
        check.failed = check.exceeded and check.p < cfg["alpha"]
        if check.exceeded and not check.failed:
            check.note = "above threshold but within between-process noise"
        return check, check.p, None
    if len(bs) >= MIN_SAMPLES and len(ns) >= MIN_SAMPLES:
        from scipy.stats import mannwhitneyu

        check.p = float(mannwhitneyu(ns, bs, alternative="greater").pvalue)
        b_lo, b_hi = bootstrap_median_ci(bs)
        n_lo, n_hi = bootstrap_median_ci(ns)
        overlap = not (n_lo > b_hi or n_hi < b_lo)
        check.also_required = not overlap
        check.basis = "steps"
        check.failed = check.exceeded and check.p < cfg["alpha"] and not overlap
        if check.exceeded and not check.failed:
            check.note = "above threshold but within noise"
        return check, check.p, overlap
    check.failed = check.exceeded
    check.basis = "threshold"
    check.note = f"fewer than {MIN_SAMPLES} samples: threshold alone"
    return check, None, None


def _process_medians(summary: dict[str, Any]) -> list[float]:
    vals = [_num(x) for x in summary.get("process_medians_s") or []]
    return [v for v in vals if v is not None and v > 0]


def run_step_time(summary: dict[str, Any]) -> float | None:
    """A run's step time for a cell: the median of its process medians (else its stored median)."""
    pm = _process_medians(summary)
    return float(np.median(pm)) if pm else _num(summary.get("step_time_median_s"))


def _welch_slower(base: list[float], new: list[float]) -> float:
    """One-sided p of Welch's t test on log process medians: new slower than base."""
    from scipy.stats import ttest_ind

    lb, ln = np.log(base), np.log(new)
    if float(np.var(lb)) == 0 and float(np.var(ln)) == 0:
        return 0.0 if ln.mean() > lb.mean() else 1.0
    return float(ttest_ind(ln, lb, equal_var=False, alternative="greater").pvalue)


def between_process_noise(base: Sequence[float], new: Sequence[float]) -> float | None:
    """Relative noise (sigma) of the difference of two cells' means over processes, from the spread
    of each side's processes: sqrt(cv_base²/R_base + cv_new²/R_new); None under 2 processes a side."""
    cb, cn = stats_cv(base), stats_cv(new)
    if cb is None or cn is None:
        return None
    return math.sqrt(cb**2 / len(base) + cn**2 / len(new))


def _cv(summary: dict[str, Any]) -> float | None:
    s = [float(x) for x in summary.get("samples_s") or []]
    if len(s) >= 2:
        mean = float(np.mean(s))
        return float(np.std(s, ddof=1)) / mean if mean > 0 else None
    return _num(summary.get("step_time_cv"))


def throughput_check(base: dict[str, Any], new: dict[str, Any], cfg: dict[str, Any]) -> Check:
    """One run against one run: throughput drop beyond its threshold AND beyond the noise of a
    window mean (one-sided z test, p = P(Z > drop / sigma)).

    Throughput is one window per run (one sync at its end), so it has no samples of its own. Its
    noise is estimated from the per-step spread: a mean over W steps varies by about CV/sqrt(W), so
    the relative difference of two windows has sigma = sqrt(cv_base² + cv_new²) / sqrt(W). This treats
    steps as independent, which understates correlated slow phases; the threshold covers that drift.
    With several processes a side, sigma comes from the spread of their throughputs instead.
    """
    from scipy.stats import norm

    b, n = _num(base.get("throughput_img_s")), _num(new.get("throughput_img_s"))
    check = Check("throughput", b, n, _rel(b, n))
    if check.change is None:
        return check
    check.exceeded = -check.change > cfg["throughput"]
    between = between_process_noise(
        [x for x in (_num(v) for v in base.get("process_throughputs") or []) if x],
        [x for x in (_num(v) for v in new.get("process_throughputs") or []) if x])
    if between is not None:  # several processes a side: their spread is the noise
        check.noise, check.basis = between, "processes"
    else:
        cv_b, cv_n = _cv(base), _cv(new)
        if cv_b is None or cv_n is None:
            check.failed = check.exceeded
            check.basis = "threshold"
            check.note = "no step-time spread: threshold alone" if check.exceeded else ""
            return check
        window = max(1, int(_num(new.get("window_steps")) or _num(base.get("window_steps")) or 1))
        check.noise = math.sqrt(cv_b**2 + cv_n**2) / math.sqrt(window)
        check.basis = "steps"
    if check.noise > 0:
        check.p = float(norm.sf(-check.change / check.noise))
    else:
        check.p = 0.0 if check.change < 0 else 1.0
    check.failed = check.exceeded and check.p < cfg["alpha"]
    if check.exceeded and not check.failed:
        check.note = "above threshold but within " + (
            "between-process noise" if check.basis == "processes" else "noise")
    return check


def thr_noise_pct(check: Check) -> str:
    return "?" if check.noise is None else f"{check.noise * 100:.1f}%"


def single_run_checks(base: dict[str, Any], new: dict[str, Any],
                      cfg: dict[str, Any]) -> tuple[dict[str, Check], float | None, bool | None]:
    """Every metric of one cell against a single-run baseline: the checks, the step-time test's p
    and whether the step-time CIs overlap (None where no CIs were compared)."""
    step, p_value, ci_overlap = step_time_check(base, new, cfg)
    checks = {"step_time": step, "throughput": throughput_check(base, new, cfg)}
    for key, label in MEMORY_FIELDS:
        b, n = _num(base.get(key)), _num(new.get(key))
        c = Check(f"memory:{label}", b, n, _rel(b, n), basis="threshold")
        c.exceeded = c.failed = c.change is not None and c.change > cfg["memory"]
        if c.change is not None:
            checks[c.metric] = c
    b, n = _num(base.get("time_to_first_step_s")), _num(new.get("time_to_first_step_s"))
    comp = Check("compile_time", b, n, _rel(b, n), basis="threshold")
    comp.exceeded = comp.failed = bool(comp.change is not None and comp.change > cfg["compile_time"]
                                       and (n - b) > cfg["compile_time_floor_s"])
    checks["compile_time"] = comp
    return checks, p_value, ci_overlap
