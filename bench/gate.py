"""The regression gate: compare a run against a baseline, cell by cell (``python -m bench gate``).

Rule (also printed with every verdict, see RULE_TEXT):
- step time regresses when its median grows by more than its threshold AND the slowdown is beyond
  noise: a one-sided Mann-Whitney U test on the per-step samples (new slower than baseline) gives
  p < alpha (0.01) AND the bootstrap 95% confidence intervals of the two medians do not overlap.
  Both tests must agree: the gate is meant to stay quiet on unchanged code, and on run-to-run drift
  a large-sample U test alone becomes "significant" for differences nobody cares about. With fewer
  than MIN_SAMPLES samples on a side no test can reach p < 0.01, so the threshold alone decides and
  the table says so.
- throughput (one window of W steps per run) regresses when it drops by more than its threshold AND
  by more than z(1 - alpha) sigma, sigma = sqrt(cv_base² + cv_new²) / sqrt(W) estimated from the
  per-step spread of both runs (see throughput_check): on a noisy machine a single window swings
  by tens of percent between identical runs.
- peak memory (host RSS, device allocator, NVML) and time to first step are single numbers per run
  with no noise model: the threshold alone decides (time to first step must also grow by more than
  compile_time_floor_s, since first steps of eager cells are fractions of a second).
- a cell ok in the baseline that now failed, timed out, ran out of memory or diverged fails.
- a cell ok in the baseline that is missing from the run, or now skipped, warns (``--missing fail``
  makes it fail); cells new in the run are listed.
Exit code: 0 pass, 1 regression, 2 usage or data error (BenchError).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .baseline import machine_description, machine_fingerprint
from .errors import BenchError
from .stats import bootstrap_median_ci
from .stats import num as _num

DEFAULTS: dict[str, Any] = {
    "step_time": 0.10,
    "throughput": 0.10,
    "memory": 0.10,
    "compile_time": 0.50,
    "compile_time_floor_s": 0.5,
    "alpha": 0.01,
    "missing": "warn",
}
THRESHOLD_KEYS = ("step_time", "throughput", "memory", "compile_time", "compile_time_floor_s", "alpha")
MIN_SAMPLES = 5
BAD_STATUSES = ("failed", "timeout", "oom", "diverged")
MEMORY_FIELDS = (
    ("peak_rss_bytes", "host"),
    ("device_alloc_peak_bytes", "device alloc"),
    ("nvml_peak_bytes", "NVML"),
)


# --------------------------------------------------------------------------- configuration


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml from ``start`` (default: cwd) upwards."""
    d = (start or Path.cwd()).resolve()
    for p in (d, *d.parents):
        if (p / "pyproject.toml").is_file():
            return p / "pyproject.toml"
    return None


def load_config(pyproject: Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Gate settings: DEFAULTS < [tool.framebench.gate] of pyproject.toml < command-line overrides."""
    cfg = dict(DEFAULTS)
    path = pyproject if pyproject is not None else find_pyproject()
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as e:
            raise BenchError(f"cannot read {path}: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise BenchError(f"corrupt {path}: {e}") from None
        section = data.get("tool", {}).get("framebench", {}).get("gate", {})
        if not isinstance(section, dict):
            raise BenchError(f"{path}: [tool.framebench.gate] is not a table")
        for k, v in section.items():
            if k not in DEFAULTS:
                raise BenchError(
                    f"{path}: unknown key {k!r} in [tool.framebench.gate]; valid keys: {', '.join(DEFAULTS)}"
                )
            cfg[k] = _check(k, v, str(path))
    for k, v in (overrides or {}).items():
        if v is not None:
            cfg[k] = _check(k, v, "command line")
    return cfg


def _check(key: str, value: Any, where: str) -> Any:
    if key == "missing":
        if value not in ("warn", "fail"):
            raise BenchError(f"{where}: gate setting 'missing' must be 'warn' or 'fail', not {value!r}")
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise BenchError(f"{where}: gate setting {key!r} must be a number >= 0, not {value!r}")
    if key == "alpha" and not 0 < value < 1:
        raise BenchError(f"{where}: gate setting 'alpha' must be between 0 and 1, not {value!r}")
    return float(value)


def parse_fraction(text: str) -> float:
    """'0.1', '10%' -> 0.1 (for argparse)."""
    s = text.strip()
    try:
        return float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
    except ValueError:
        raise BenchError(f"not a fraction or percentage: {text!r}") from None


def rule_text(cfg: dict[str, Any]) -> str:
    from scipy.stats import norm

    def pct(x: float) -> str:
        return f"{x * 100:g}%"

    z = float(norm.ppf(1.0 - cfg["alpha"]))

    return (
        "A cell regresses when a metric worsens by more than its threshold — "
        f"step time +{pct(cfg['step_time'])}, throughput −{pct(cfg['throughput'])}, "
        f"peak memory (host, device allocator, NVML) +{pct(cfg['memory'])}, "
        f"time to first step +{pct(cfg['compile_time'])} and more than {cfg['compile_time_floor_s']:g} s — "
        "and, for step time, the change is also beyond noise: a one-sided Mann-Whitney U test on the "
        f"per-step samples gives p < {cfg['alpha']:g} AND the bootstrap 95% CIs of the two medians do not "
        f"overlap (with fewer than {MIN_SAMPLES} samples on a side, the threshold alone); for throughput "
        f"(one window of W steps per run), the drop also exceeds {z:.2f} σ, σ = √(CV_base² + CV_new²)/√W "
        "from the per-step spread. Memory and time to first step are single numbers per run: threshold "
        "alone. A cell ok in the "
        "baseline that now fails, times out, runs out of memory or diverges fails; one missing from the "
        f"run or now skipped {'fails' if cfg['missing'] == 'fail' else 'warns'}."
    )


# --------------------------------------------------------------------------- comparison


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
    b_med = float(np.median(bs)) if bs else _num(base.get("step_time_median_s"))
    n_med = float(np.median(ns)) if ns else _num(new.get("step_time_median_s"))
    change = _rel(b_med, n_med)
    check = Check("step_time", b_med, n_med, change)
    if change is None:
        check.note = "no step time to compare"
        return check, None, None
    exceeded = change > cfg["step_time"]
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
    cv_b, cv_n = _cv(base), _cv(new)
    if cv_b is None or cv_n is None:
        check.failed = True
        check.note = "no step-time spread: threshold alone"
        return check
    from scipy.stats import norm

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


# --------------------------------------------------------------------------- output


def _pct(change: float | None) -> str:
    return "–" if change is None else f"{change * 100:+.1f}%"


def _ms(x: float | None) -> str:
    from .report import fmt_ms

    return fmt_ms(x)


def _mark(c: Check | None) -> str:
    if c is None or c.change is None:
        return "–"
    return _pct(c.change) + (" ✗" if c.failed else "")


def render(result: GateResult) -> str:
    from .report import md_table

    cfg = result.config
    nf, nw = len(result.failed), len(result.warned)
    compared = [v for v in result.verdicts if v.verdict != "new"]
    head = "FAIL" if nf else "PASS"
    lines = [
        f"# Performance gate: {head}\n\n",
        f"{result.run_label} vs {result.baseline_label}.\n\n",
        f"**{nf} regression(s)**, {nw} warning(s), {sum(v.verdict == 'pass' for v in compared)} passed, "
        f"of {len(compared)} baseline cell(s)"
        + (
            f"; {len(result.verdicts) - len(compared)} new cell(s)"
            if len(compared) < len(result.verdicts)
            else ""
        )
        + ".\n\n",
    ]
    for w in result.warnings:
        lines.append(f"> warning: {w}\n\n")
    body = []
    for v in result.verdicts:
        st = v.checks.get("step_time")
        step = "–" if st is None or st.base is None else f"{_ms(st.base)} → {_ms(st.new)}"
        p = "–" if v.p_value is None else f"{v.p_value:.2g}"
        ci = "–" if v.ci_overlap is None else ("overlap" if v.ci_overlap else "apart")
        status = v.base_status or "–"
        if v.new_status != v.base_status:
            status = f"{v.base_status or '–'} → {v.new_status or 'missing'}"
        verdict = v.verdict.upper()
        if v.reasons:
            verdict += ": " + "; ".join(v.reasons)
        else:
            notes = [f"{name.replace('_', ' ')} {c.note}" for name, c in v.checks.items() if c.note]
            if notes:
                verdict += f" ({'; '.join(notes)})"
        body.append(
            [
                v.cell_id,
                status,
                step,
                _mark(st),
                p,
                ci,
                _mark(v.checks.get("throughput")),
                _mark(v.checks.get("memory")),
                _mark(v.checks.get("compile_time")),
                verdict,
            ]
        )
    lines.append(
        md_table(
            [
                "cell",
                "status",
                "step time ms (base → new)",
                "Δ step time",
                "U-test p",
                "95% CIs",
                "Δ throughput",
                "Δ peak memory",
                "Δ first step",
                "verdict",
            ],
            body,
            "llrrrlrrrl",
        )
    )
    lines.append(f"\nRule: {rule_text(cfg)}\n")
    return "".join(lines)


def summary_line(result: GateResult) -> str:
    if result.failed:
        names = ", ".join(v.cell_id for v in result.failed[:5]) + (" …" if len(result.failed) > 5 else "")
        return f"gate: FAIL — {len(result.failed)} regression(s): {names}"
    return f"gate: PASS — {len(result.verdicts)} cell(s), {len(result.warned)} warning(s)"


def run_gate(
    baseline_path: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
    pyproject: Path | None = None,
) -> GateResult:
    """Load the baseline (file or run directory) and the run, and compare them."""
    from .baseline import baseline_from_path, cell_summaries
    from .store import load_run

    cfg = load_config(pyproject, overrides)
    baseline = baseline_from_path(baseline_path)
    run = load_run(run_dir)
    label_b = (
        f"baseline `{baseline.get('name')}` (run `{baseline.get('run_id')}`, machine "
        f"`{baseline.get('fingerprint')}`)"
    )
    label_r = f"run `{run.run_id}` (machine `{machine_fingerprint(run.env)}`)"
    return compare(
        baseline,
        cell_summaries(run),
        run.env,
        cfg=cfg,
        force=force,
        baseline_label=label_b,
        run_label=label_r,
    )


def default_baseline_for(run_dir: Path, baselines_dir: Path) -> Path:
    from .store import load_run

    fp = machine_fingerprint(load_run(run_dir).env)
    return baselines_dir / f"{fp}.json"
