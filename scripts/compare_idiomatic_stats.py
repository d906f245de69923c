"""The statistics and tables of scripts/compare_idiomatic.py (pure functions, no framework, no process).

Per comparison: each side's per-process medians and their median, harness vs plain as the ratio of
those medians and as the median of the per-round paired differences with its order-statistic interval
(bench.stats.median_ci: 95% or the nearest coverage below it that n rounds allow).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.stats: no framework import

from bench.stats import median_ci

SIDES = ("project", "idiomatic")


def _pct(a: float, b: float) -> float:
    return (a / b - 1.0) * 100.0


def summarize(records: list[dict], tolerance_pct: float) -> dict:
    """Per side: process medians (round order; None: that process failed), their median and CV.
    Project vs idiomatic in %: the ratio of the medians of process medians, and the per-round paired
    differences with their range."""
    by_side: dict[str, dict[int, float]] = {s: {} for s in SIDES}
    rounds: dict[str, set[int]] = {s: set() for s in SIDES}
    losses: dict[str, list[dict]] = {s: [] for s in SIDES}
    for r in records:
        rounds[r["side"]].add(r["round"])
        if r.get("median_s"):
            by_side[r["side"]][r["round"]] = float(r["median_s"])
        if r.get("losses_first"):
            losses[r["side"]].append(r["losses_first"])
    sides = {}
    for s in SIDES:
        meds = [by_side[s][k] for k in sorted(by_side[s])]
        sides[s] = {"process_medians_s": [by_side[s].get(k) for k in sorted(rounds[s])], "n_ok": len(meds),
                    "median_of_medians_s": statistics.median(meds) if meds else None,
                    "between_process_cv": (statistics.stdev(meds) / statistics.mean(meds)
                                           if len(meds) > 1 else None),
                    "losses_first_median": {k: statistics.median(x[k] for x in losses[s])
                                            for k in (losses[s][0] if losses[s] else {})}}
    paired = [_pct(by_side["project"][k], by_side["idiomatic"][k])
              for k in sorted(by_side["project"]) if k in by_side["idiomatic"]]
    p, i = sides["project"]["median_of_medians_s"], sides["idiomatic"]["median_of_medians_s"]
    diff = _pct(p, i) if p and i else None
    lo, hi, coverage = paired_interval(paired)
    med = statistics.median(paired) if paired else None
    return {"sides": sides, "difference_pct": diff, "paired_differences_pct": paired,
            "paired_median_pct": med, "interval_pct": [lo, hi], "interval_coverage": coverage,
            # The same as harness/plain ratios (1 + difference / 100).
            "ratio": None if diff is None else 1 + diff / 100,
            "paired_ratio_median": None if med is None else 1 + med / 100,
            "ratio_interval": [None if x is None else 1 + x / 100 for x in (lo, hi)],
            "tolerance_pct": tolerance_pct, "verdict": verdict(diff, lo, hi, tolerance_pct)}


def paired_interval(paired: list[float]) -> tuple[float | None, float | None, float | None]:
    """(low, high, coverage): the order-statistic interval of the median paired difference."""
    if not paired:
        return None, None, None
    if len(paired) == 1:
        return paired[0], paired[0], 0.0
    ci = median_ci(paired)
    assert ci is not None
    return ci


def verdict(diff: float | None, lo: float | None, hi: float | None, tol: float) -> str:
    if diff is None:
        return "no result"
    point = "within" if abs(diff) <= tol else "outside"
    if lo is None or hi is None or lo == hi:
        return f"{point} ±{tol:g}% (no interval)"
    if -tol <= lo and hi <= tol:
        return f"{point} ±{tol:g}%; the whole interval is within"
    if lo > tol or hi < -tol:
        return f"{point} ±{tol:g}%; the whole interval is outside"
    return f"{point} ±{tol:g}%; the interval straddles the band"


def format_table(summary: dict, title: str, ms_digits: int = 1) -> str:
    """One comparison's processes, both sides' medians and CVs, the paired differences and the verdict
    (milliseconds with ``ms_digits`` decimals: 3 for batch-1 serving latencies of a few ms)."""
    def ms(x: float | None, missing: str = "-") -> str:
        return missing if x is None else f"{x * 1e3:.{ms_digits}f}"

    lines = [title, f"{'side':<10} {'per-process medians (ms, round order)':<44} {'median (ms)':>11} "
                    f"{'CV':>6}  first-step losses"]
    for s in SIDES:
        d = summary["sides"][s]
        cv = "-" if d["between_process_cv"] is None else f"{d['between_process_cv'] * 100:.1f}%"
        loss = " ".join(f"{k} {v:.3f}" for k, v in d["losses_first_median"].items())
        lines.append(f"{s:<10} {' '.join(ms(x, 'failed') for x in d['process_medians_s']):<44} "
                     f"{ms(d['median_of_medians_s']):>11} {cv:>6}  {loss}")
    diff, (lo, hi) = summary["difference_pct"], summary["interval_pct"]
    if diff is None:
        lines.append("project vs idiomatic: no result (a side has no successful process)")
    else:
        rng = "-" if lo is None else f"{lo:+.1f}% .. {hi:+.1f}%"
        cov = summary["interval_coverage"]
        lines.append(f"project vs idiomatic: {diff:+.1f}% (median of medians); per-round paired differences "
                     f"{' '.join(f'{x:+.1f}%' for x in summary['paired_differences_pct'])}: median "
                     f"{summary['paired_median_pct']:+.1f}%, interval {rng}"
                     + (f" ({cov * 100:.2f}% interval of the median paired difference)" if cov else ""))
        lines.append(f"verdict: {summary['verdict']}")
    return "\n".join(lines)


def format_matrix(rows: list[tuple[str, str, str, int, dict]]) -> str:
    """One line per (model, framework, mode, batch, summary): harness/plain with its paired interval."""
    lines = [f"{'model':<12} {'framework':<10} {'mode':<9} {'batch':>5} {'harness ms':>10} {'plain ms':>9} "
             f"{'ratio':>6} {'paired ratio [interval, coverage]':<34} {'n':>5}  verdict"]
    for model, framework, mode, batch, s in rows:
        p, i = (s["sides"][x]["median_of_medians_s"] for x in SIDES)
        n = f"{s['sides']['project']['n_ok']}+{s['sides']['idiomatic']['n_ok']}"
        if s["ratio"] is None:
            lines.append(f"{model:<12} {framework:<10} {mode:<9} {batch:>5} {'-':>10} {'-':>9} "
                         f"{'-':>6} {'-':<34} {n:>5}  {s['verdict']}")
            continue
        lo, hi = s["ratio_interval"]
        cov = s["interval_coverage"]
        paired = (f"{s['paired_ratio_median']:.3f} [{lo:.3f}, {hi:.3f}"
                  + (f", {cov * 100:.1f}%]" if cov else "]"))
        lines.append(f"{model:<12} {framework:<10} {mode:<9} {batch:>5} {p * 1e3:>10.1f} "
                     f"{i * 1e3:>9.1f} {s['ratio']:>6.3f} {paired:<34} {n:>5}  {s['verdict']}")
    return "\n".join(lines)
