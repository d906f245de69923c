"""The gate's verdict as Markdown (reports/gate.md) and as one summary line."""

from __future__ import annotations

from typing import Any

from bench.gate.rules import GateResult
from bench.gate.single_run import MIN_SAMPLES, Check
from bench.markdown import fmt_change, fmt_ms, md_table


def rule_text(cfg: dict[str, Any]) -> str:
    def pct(x: float) -> str:
        return f"{x * 100:g}%"

    corr = {"bh": "Benjamini-Hochberg", "holm": "Holm", "none": "no"}[cfg.get("correction", "bh")]
    missing = "fails" if cfg["missing"] == "fail" else "warns"
    return (
        "A cell regresses when a metric worsens by more than its threshold — "
        f"step time +{pct(cfg['step_time'])}, throughput −{pct(cfg['throughput'])}, "
        f"peak memory (host, device allocator, NVML) +{pct(cfg['memory'])}, "
        f"time to first step +{pct(cfg['compile_time'])} and more than {cfg['compile_time_floor_s']:g} s — "
        f"AND its noise test's p, adjusted over every cell and metric of this decision ({corr} "
        f"correction), is below {cfg['alpha']:g}. Against a baseline of several runs, each metric is "
        "tested against the spread between those runs (one-sided t prediction test on log per-run "
        "values; variance moderated towards the one pooled over cells). Against a single run: step time "
        "by a one-sided Welch t test on log process medians (at least 2 processes a side), else a "
        f"Mann-Whitney U test on the steps with the bootstrap 95% CIs apart (fewer than {MIN_SAMPLES} "
        "steps: the threshold alone); throughput by a z test on the spread of the processes' "
        "throughputs (else the per-step spread over the window); memory and first step by their "
        "thresholds alone; step time and throughput also by the day-one prior, a between-run sd of "
        f"{cfg.get('day_one_sd', 0) * 100:.1f}% (bench/gate/prior.py; the larger p counts). "
        "A cell ok in the baseline that now fails, times out, runs out of memory or "
        f"diverges fails; one missing from the run or now skipped {missing}. "
        + drift_rule_text(cfg)
    )


def drift_rule_text(cfg: dict[str, Any]) -> str:
    from bench.gate.drift import CANARY_SHARE, DRIFT_AGREE, DRIFT_MAX_SPREAD, DRIFT_MIN_CELLS

    if cfg.get("drift", "adjust") == "off":
        return "Machine drift: not looked for (drift = off)."
    return (f"Machine drift: when at least {DRIFT_MIN_CELLS} cells were compared, their median change is "
            f"beyond half the threshold, {DRIFT_AGREE:.0%} of them moved the same way and their spread "
            f"(1.4826·MAD of log changes) is at most {DRIFT_MAX_SPREAD:g}× the median, AND the run's own "
            f"measured device peak (the canary) moved the same way by at least {CANARY_SHARE:g}× the shift "
            "(on logs), each cell is judged against that run-wide shift, threshold and noise test alike; "
            "without the canary's agreement they are judged as they are. To compare two environments or "
            "revisions regardless of drift, use `bench compare`.")


def worst_memory(checks: dict[str, Check]) -> Check | None:
    mem = [c for k, c in checks.items() if k.startswith("memory") and c.change is not None]
    failed = [c for c in mem if c.failed]
    return max(failed or mem, key=lambda c: c.change or 0.0) if mem else None


def _mark(c: Check | None) -> str:
    if c is None or c.change is None:
        return "–"
    return fmt_change(c.change) + (" ✗" if c.failed else "")


def render(result: GateResult) -> str:
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
    for d in result.drifts:
        lines.append(f"> {d.text()}\n\n")
    day_one = next((v.day_one for v in result.verdicts if v.day_one), None)
    if day_one:
        lines.append(f"> one-run baseline: step time and throughput also weighed with the {day_one}; "
                     "a history of several runs replaces it\n\n")
    body = []
    for v in result.verdicts:
        st = v.checks.get("step_time")
        step = "–" if st is None or st.base is None else f"{fmt_ms(st.base)} → {fmt_ms(st.new)}"
        p = "–" if st is None or st.p is None else f"{st.p:.2g} / {st.q:.2g}" if st.q is not None \
            else f"{st.p:.2g}"
        basis = "–" if st is None or not st.basis else st.basis
        if v.ci_overlap is not None:
            basis += ", CIs " + ("overlap" if v.ci_overlap else "apart")
        status = v.base_status or "–"
        if v.new_status != v.base_status:
            status = f"{v.base_status or '–'} → {v.new_status or 'missing'}"
        verdict = v.verdict.upper()
        if v.confirmation is not None:
            verdict += f" ({v.confirmation.outcome})"
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
                basis,
                p,
                _mark(v.checks.get("throughput")),
                _mark(worst_memory(v.checks)),
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
                "step-time noise from",
                "p / q (adjusted)",
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
    drift = "".join(f" ({d.text().split(';')[0]})" for d in result.drifts if d.metric == "step_time")
    if result.failed:
        names = ", ".join(v.cell_id for v in result.failed[:5]) + (" …" if len(result.failed) > 5 else "")
        return f"gate: FAIL — {len(result.failed)} regression(s): {names}{drift}"
    return f"gate: PASS — {len(result.verdicts)} cell(s), {len(result.warned)} warning(s){drift}"
