"""The gate's rules: per-cell checks of a run against a baseline (see bench.gate for the rule)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BenchError
from ..machine import machine_description, machine_fingerprint
from ..stats import bootstrap_median_ci
from ..stats import cv as stats_cv
from ..stats import num as _num
from ..vocab import BAD_STATUSES

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


@dataclass
class CellVerdict:
    cell_id: str
    base_status: str | None
    new_status: str | None
    new_reason: str | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    verdict: str = "pass"  # pass | fail | warn | new
    reasons: list[str] = field(default_factory=list)
    p_value: float | None = None
    ci_overlap: bool | None = None


@dataclass
class GateResult:
    verdicts: list[CellVerdict]
    config: dict[str, Any]
    baseline_label: str
    run_label: str
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CellVerdict]:
        return [v for v in self.verdicts if v.verdict == "fail"]

    @property
    def warned(self) -> list[CellVerdict]:
        return [v for v in self.verdicts if v.verdict == "warn"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0




def _rel(base: float | None, new: float | None) -> float | None:
    if base is None or new is None or base <= 0:
        return None
    return (new - base) / base


def step_time_check(
    base: dict[str, Any], new: dict[str, Any], cfg: dict[str, Any]
) -> tuple[Check, float | None, bool | None]:
    """Median change, one-sided Mann-Whitney U p (new slower) and whether the 95% CIs overlap."""
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
    exceeded = change > cfg["step_time"]
    if replicated:
        p = _welch_slower(bp, np_)
        check.noise = between_process_noise(bp, np_)
        check.failed = exceeded and p < cfg["alpha"]
        if exceeded and not check.failed:
            check.note = "above threshold but within between-process noise"
        return check, p, None
    if len(bs) >= MIN_SAMPLES and len(ns) >= MIN_SAMPLES:
        from scipy.stats import mannwhitneyu

        p = float(mannwhitneyu(ns, bs, alternative="greater").pvalue)
        b_lo, b_hi = bootstrap_median_ci(bs)
        n_lo, n_hi = bootstrap_median_ci(ns)
        overlap = not (n_lo > b_hi or n_hi < b_lo)
        beyond_noise = p < cfg["alpha"] and not overlap
        check.failed = exceeded and beyond_noise
        if exceeded and not beyond_noise:
            check.note = "above threshold but within noise"
        return check, p, overlap
    check.failed = exceeded
    check.note = f"fewer than {MIN_SAMPLES} samples: threshold alone"
    return check, None, None


def _process_medians(summary: dict[str, Any]) -> list[float]:
    vals = [_num(x) for x in summary.get("process_medians_s") or []]
    return [v for v in vals if v is not None and v > 0]


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
    """Throughput drop beyond its threshold AND beyond the noise of a window mean.

    Throughput is one window per run (one sync at its end), so it has no samples of its own. Its
    noise is estimated from the per-step spread: a mean over W steps varies by about CV/sqrt(W), so
    the relative difference of two windows has sigma = sqrt(cv_base² + cv_new²) / sqrt(W); the drop
    must exceed z(1 - alpha) sigma (2.33 sigma for alpha = 0.01). This treats steps as independent,
    which understates correlated slow phases; the threshold covers that run-to-run drift.
    """
    b, n = _num(base.get("throughput_img_s")), _num(new.get("throughput_img_s"))
    check = Check("throughput", b, n, _rel(b, n))
    if check.change is None or -check.change <= cfg["throughput"]:
        return check
    from scipy.stats import norm

    between = between_process_noise(
        [x for x in (_num(v) for v in base.get("process_throughputs") or []) if x],
        [x for x in (_num(v) for v in new.get("process_throughputs") or []) if x])
    if between is not None:  # several processes a side: their spread is the noise
        check.noise = between
        check.failed = -check.change > float(norm.ppf(1.0 - cfg["alpha"])) * between
        if not check.failed:
            check.note = "above threshold but within between-process noise"
        return check
    cv_b, cv_n = _cv(base), _cv(new)
    if cv_b is None or cv_n is None:
        check.failed = True
        check.note = "no step-time spread: threshold alone"
        return check
    window = max(1, int(_num(new.get("window_steps")) or _num(base.get("window_steps")) or 1))
    check.noise = math.sqrt(cv_b**2 + cv_n**2) / math.sqrt(window)
    check.failed = -check.change > float(norm.ppf(1.0 - cfg["alpha"])) * check.noise
    if not check.failed:
        check.note = "above threshold but within noise"
    return check


def thr_noise_pct(check: Check) -> str:
    return "?" if check.noise is None else f"{check.noise * 100:.1f}%"


def compare_cell(
    cid: str, base: dict[str, Any] | None, new: dict[str, Any] | None, cfg: dict[str, Any]
) -> CellVerdict:
    v = CellVerdict(cid, base and base.get("status"), new and new.get("status"), new and new.get("reason"))
    if base is None:
        v.verdict = "new"
        v.reasons.append("not in the baseline")
        return v
    missing_verdict = "fail" if cfg["missing"] == "fail" else "warn"
    if new is None:
        if base["status"] == "ok":
            v.verdict = missing_verdict
            v.reasons.append("missing from the run")
        else:
            v.reasons.append(f"missing from the run (baseline: {base['status']})")
        return v
    if base["status"] != "ok":
        v.reasons.append(f"baseline {base['status']}, now {new['status']}: nothing to compare")
        return v
    if new["status"] in BAD_STATUSES:
        v.verdict = "fail"
        why = f": {new.get('reason')}" if new.get("reason") else ""
        v.reasons.append(f"was ok, now {new['status']}{why}")
        return v
    if new["status"] != "ok":
        v.verdict = missing_verdict
        why = f": {new.get('reason')}" if new.get("reason") else ""
        v.reasons.append(f"was ok, now {new['status']}{why}")
        return v

    step, v.p_value, v.ci_overlap = step_time_check(base, new, cfg)
    v.checks["step_time"] = step
    if step.failed:
        v.reasons.append(
            f"step time +{step.change * 100:.1f}% (p={v.p_value:.2g}, CIs apart)"
            if v.p_value is not None and v.ci_overlap is not None
            else f"step time +{step.change * 100:.1f}% (p={v.p_value:.2g}, between processes)"
            if v.p_value is not None
            else f"step time +{step.change * 100:.1f}% ({step.note})"
        )

    v.checks["throughput"] = thr = throughput_check(base, new, cfg)
    if thr.failed:
        v.reasons.append(f"throughput {thr.change * 100:.1f}% (noise ±{thr_noise_pct(thr)})")

    worst: Check | None = None
    for key, label in MEMORY_FIELDS:
        b, n = _num(base.get(key)), _num(new.get(key))
        c = Check(f"memory:{label}", b, n, _rel(b, n))
        if c.change is not None and c.change > cfg["memory"]:
            c.failed = True
            v.reasons.append(f"peak {label} memory +{c.change * 100:.1f}%")
        if c.change is not None and (worst is None or c.change > (worst.change or -math.inf)):
            worst = c
    v.checks["memory"] = worst or Check("memory", None, None, None)

    b, n = _num(base.get("time_to_first_step_s")), _num(new.get("time_to_first_step_s"))
    comp = Check("compile_time", b, n, _rel(b, n))
    if (
        comp.change is not None
        and comp.change > cfg["compile_time"]
        and (n - b) > cfg["compile_time_floor_s"]
    ):
        comp.failed = True
        v.reasons.append(f"time to first step +{comp.change * 100:.0f}% ({b:.2f} s → {n:.2f} s)")
    v.checks["compile_time"] = comp

    if any(c.failed for c in v.checks.values()):
        v.verdict = "fail"
    return v


def compare(
    baseline: dict[str, Any],
    run_cells: dict[str, dict[str, Any]],
    run_env: dict[str, Any],
    *,
    cfg: dict[str, Any],
    force: bool = False,
    baseline_label: str = "baseline",
    run_label: str = "run",
) -> GateResult:
    """Compare the run's cell summaries (bench.baseline.cell_summaries) with the baseline's."""
    warnings: list[str] = []
    base_fp = str(baseline.get("fingerprint") or "unknown")
    run_fp = machine_fingerprint(run_env)
    if "unknown" in (base_fp, run_fp):
        which = " and ".join(n for n, fp in (("baseline", base_fp), ("run", run_fp)) if fp == "unknown")
        warnings.append(
            f"machine fingerprint unknown for the {which}: cannot check that both ran on the same hardware"
        )
    elif base_fp != run_fp:
        if not force:
            raise BenchError(
                f"{baseline_label} was recorded on machine {base_fp} "
                f"({baseline.get('machine_description', 'unknown hardware')}) "
                f"but {run_label} ran on {run_fp} "
                f"({machine_description(run_env)}); timings from different hardware are not comparable — "
                f"pass --force to compare anyway"
            )
        warnings.append(f"compared across different machines ({base_fp} vs {run_fp}) because of --force")
    base_cells: dict[str, dict[str, Any]] = baseline.get("cells", {})
    common = set(base_cells) & set(run_cells)
    if not common:
        raise BenchError(
            f"no cell of {run_label} is in {baseline_label}: nothing to compare "
            f"(different models, batch sizes or profile?)"
        )
    verdicts = [
        compare_cell(cid, base_cells.get(cid), run_cells.get(cid), cfg)
        for cid in sorted(set(base_cells) | set(run_cells))
    ]
    return GateResult(
        verdicts=verdicts, config=cfg, baseline_label=baseline_label, run_label=run_label, warnings=warnings
    )
