"""The gate's rules: per-cell checks of a run against a baseline (see bench.gate for the rule)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.errors import BenchError
from bench.gate.drift import Drift, apply_drift, beyond_shift, canary_change
from bench.gate.history import Pool, pool_of, prediction_test
from bench.gate.identity import refusals
from bench.gate.prior import DAY_ONE_DF, DAY_ONE_SD, PRIOR_METRICS, day_one_pools, prior_text
from bench.gate.single_run import MEMORY_FIELDS, Check, run_step_time, single_run_checks, thr_noise_pct
from bench.stats import adjust_p
from bench.stats import num as _num
from bench.vocab import BAD_STATUSES


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
    history_runs: int = 0  # baseline runs this cell's checks were weighed against
    confirmation: Any = None  # bench.gate.confirm.Confirmation, when --confirm re-ran the cell
    day_one: str | None = None  # set when a one-run baseline was weighed with the day-one prior


@dataclass
class GateResult:
    verdicts: list[CellVerdict]
    config: dict[str, Any]
    baseline_label: str
    run_label: str
    warnings: list[str] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)  # run-wide shifts the cells were judged against

    @property
    def failed(self) -> list[CellVerdict]:
        return [v for v in self.verdicts if v.verdict == "fail"]

    @property
    def warned(self) -> list[CellVerdict]:
        return [v for v in self.verdicts if v.verdict == "warn"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


# What each metric reads from a cell summary, and whether a higher value is worse.
HISTORY_METRICS: dict[str, tuple[Any, bool]] = {
    "step_time": (run_step_time, True),
    "throughput": (lambda s: _num(s.get("throughput_img_s")), False),
    **{f"memory:{label}": ((lambda s, k=key: _num(s.get(k))), True) for key, label in MEMORY_FIELDS},
    "compile_time": (lambda s: _num(s.get("time_to_first_step_s")), True),
}


def _threshold_key(metric: str) -> str:
    return "memory" if metric.startswith("memory:") else metric


def history_check(metric: str, history: Sequence[dict[str, Any]], new: dict[str, Any], pool: Pool,
                  cfg: dict[str, Any]) -> Check | None:
    """The metric of one run against the cell's history of runs (bench.gate.history); None when the
    history holds no spread to weigh it against."""
    value_of, higher_is_worse = HISTORY_METRICS[metric]
    n = value_of(new)
    test = prediction_test([value_of(h) for h in history], n, pool, higher_is_worse) if n else None
    if test is None or test.p is None:
        return None
    c = Check(metric, test.center, n, test.change, noise=test.noise, p=test.p, df=test.df,
              basis=f"history of {test.n_runs} run{'s' if test.n_runs != 1 else ''}")
    worsening = test.change if higher_is_worse else -test.change
    c.exceeded = worsening > cfg[_threshold_key(metric)]
    if metric == "compile_time":
        c.exceeded = c.exceeded and (n - test.center) > cfg["compile_time_floor_s"]
    c.failed = c.exceeded and c.p < cfg["alpha"]
    return c


def compare_cell(
    cid: str, base: dict[str, Any] | None, new: dict[str, Any] | None, cfg: dict[str, Any],
    history: Sequence[dict[str, Any]] | None = None, pools: dict[str, Pool] | None = None,
    *, decide_now: bool = True,
) -> CellVerdict:
    """One cell of the run against the baseline: its status, then each metric, against the cell's
    history of runs where the baseline holds one (``history``, ``pools``), else against ``base``.
    ``decide_now``: the cell is its own family of tests (bench.gate.rules.compare decides a whole
    run's cells together)."""
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
    if new["status"] in BAD_STATUSES or new["status"] != "ok":
        v.verdict = "fail" if new["status"] in BAD_STATUSES else missing_verdict
        why = f": {new.get('reason')}" if new.get("reason") else ""
        v.reasons.append(f"was ok, now {new['status']}{why}")
        return v

    v.checks, v.p_value, v.ci_overlap = single_run_checks(base, new, cfg)
    ok_history = [h for h in history or () if h.get("status") == "ok"]
    if len(ok_history) <= 1 and not pools:
        apply_day_one_prior(v, base, new, cfg)
    if ok_history and pools:
        for metric in HISTORY_METRICS:
            c = history_check(metric, ok_history, new, pools.get(metric, Pool()), cfg)
            if c is not None:
                v.checks[metric] = c
                v.history_runs = max(v.history_runs, len(ok_history))
        if "step_time" in v.checks and v.checks["step_time"].basis.startswith("history"):
            v.p_value, v.ci_overlap = v.checks["step_time"].p, None
    if decide_now:
        decide([v], cfg)
    return v


def apply_day_one_prior(v: CellVerdict, base: dict[str, Any], new: dict[str, Any],
                        cfg: dict[str, Any]) -> None:
    """A one-run baseline: step time and throughput must also be beyond the between-run spread
    the calibration measured (bench.gate.prior); each check's p becomes the larger of the two."""
    sd = float(cfg.get("day_one_sd", DAY_ONE_SD))
    for metric, pool in day_one_pools(sd).items():
        c = v.checks.get(metric)
        value_of, higher_is_worse = HISTORY_METRICS[metric]
        b, n = value_of(base), value_of(new)
        test = prediction_test([b], n, pool, higher_is_worse, prior_df=DAY_ONE_DF) if b and n else None
        if c is None or test is None or test.p is None:
            continue
        c.p = test.p if c.p is None else max(c.p, test.p)
        c.noise = test.noise if c.noise is None else max(c.noise, test.noise or 0.0)
        c.df = test.df
        c.basis = f"{c.basis} + day-one prior" if c.basis and c.basis != "threshold" else "day-one prior"
        c.failed = c.exceeded and c.p < cfg["alpha"] and c.also_required
        if metric == "step_time":
            v.p_value = c.p
    if any(m in v.checks for m in PRIOR_METRICS) and sd > 0:
        v.day_one = prior_text(sd)


def decide(verdicts: Sequence[CellVerdict], cfg: dict[str, Any]) -> None:
    """Adjust the p-values of every noise-tested check of these cells together (``correction``:
    Benjamini-Hochberg or Holm) and set each check's and cell's verdict: a check fails when it is
    worse than its threshold AND its adjusted p < alpha (AND its other condition holds)."""
    tested = [c for v in verdicts for c in v.checks.values() if c.p is not None]
    for c, q in zip(tested, adjust_p([c.p for c in tested], cfg.get("correction", "bh")), strict=True):
        c.q = q
        c.failed = c.exceeded and q < cfg["alpha"] and c.also_required
        c.note = ""
        if c.exceeded and not c.failed:
            c.note = "above threshold but within " + (
                "between-run noise" if c.basis.startswith("history") else
                "between-process noise" if c.basis == "processes" else "noise")
            if q >= cfg["alpha"] > c.p:
                c.note += f" after the {cfg.get('correction', 'bh')} correction (p={c.p:.2g}, q={q:.2g})"
    for v in verdicts:
        if not v.checks:
            continue
        v.reasons = [r for r in v.reasons if r.startswith(("was ok", "missing", "baseline", "not in"))]
        v.reasons += [_reason(c) for c in v.checks.values() if c.failed]
        if any(c.failed for c in v.checks.values()):
            v.verdict = "fail"
        elif v.verdict == "fail":
            v.verdict = "pass"


def _reason(c: Check) -> str:
    stat = f"q={c.q:.2g}, {c.basis}" if c.q is not None else "threshold alone"
    beyond = beyond_shift(c)
    if beyond is not None:
        stat = f"{beyond * 100:+.1f}% beyond the run-wide shift of {c.shift * 100:+.0f}%, " + stat
    if c.metric == "step_time":
        if c.basis == "steps":
            stat = f"p={c.p:.2g}, q={c.q:.2g}, CIs apart"
        return f"step time +{c.change * 100:.1f}% ({stat})"
    if c.metric == "throughput":
        return f"throughput {c.change * 100:.1f}% (noise ±{thr_noise_pct(c)}, {stat})"
    if c.metric == "compile_time":
        return f"time to first step +{c.change * 100:.0f}% ({c.base:.2f} s → {c.new:.2f} s, {stat})"
    return f"peak {c.metric.split(':', 1)[1]} memory +{c.change * 100:.1f}% ({stat})"


def cell_histories(baseline: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """cell_id -> its summaries in the baseline's runs, oldest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in baseline.get("runs") or []:
        for cid, summary in (r.get("cells") or {}).items():
            out.setdefault(cid, []).append(summary)
    return out


def history_pools(histories: dict[str, list[dict[str, Any]]]) -> dict[str, Pool]:
    """Per metric, the between-run variance of its log values pooled over cells."""
    return {m: pool_of([[value_of(h) for h in hs if h.get("status") == "ok"] for hs in histories.values()])
            for m, (value_of, _) in HISTORY_METRICS.items()}


def compare(
    baseline: dict[str, Any],
    run_cells: dict[str, dict[str, Any]],
    run_env: dict[str, Any],
    *,
    cfg: dict[str, Any],
    force: bool = False,
    baseline_label: str = "baseline",
    run_label: str = "run",
    run_meta: dict[str, Any] | None = None,
    run_canary: dict[str, Any] | None = None,
) -> GateResult:
    """Compare the run's cell summaries (bench.gate.baseline.baseline_cells) with the baseline's: refused
    (BenchError naming each difference) when machine or settings differ, unless ``force``."""
    refuse, warnings = refusals(baseline, run_env, run_meta or {}, run_cells)
    if refuse and not force:
        raise BenchError(
            f"{run_label} cannot be gated against {baseline_label}: "
            + "; ".join(refuse)
            + " — timings measured on other hardware or with other settings are not comparable; "
            "pass --force to compare anyway")
    warnings += [f"compared despite {r} (--force)" for r in refuse]
    base_cells: dict[str, dict[str, Any]] = baseline.get("cells", {})
    common = set(base_cells) & set(run_cells)
    if not common:
        raise BenchError(
            f"no cell of {run_label} is in {baseline_label}: nothing to compare "
            f"(different models, batch sizes or profile?)"
        )
    histories = cell_histories(baseline)
    n_runs = len(baseline.get("runs") or [])
    pools = history_pools(histories) if n_runs >= 2 else None
    verdicts = [
        compare_cell(cid, base_cells.get(cid), run_cells.get(cid), cfg,
                     histories.get(cid), pools, decide_now=False)
        for cid in sorted(set(base_cells) | set(run_cells))
    ]
    drifts = apply_drift(verdicts, cfg, canary_change(baseline, run_canary))
    decide(verdicts, cfg)
    return GateResult(verdicts=verdicts, config=cfg, baseline_label=baseline_label, run_label=run_label,
                      warnings=warnings, drifts=drifts)
