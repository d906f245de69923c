"""The gate's verdict as Markdown (reports/gate.md) and as one summary line."""

from __future__ import annotations

from typing import Any

from ..markdown import fmt_change, fmt_ms, md_table
from .rules import MIN_SAMPLES, Check, GateResult


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
        f"overlap (with fewer than {MIN_SAMPLES} samples on a side, the threshold alone; with at least 2 "
        "processes a side, the medians of the process medians and a one-sided Welch t test on their logs, "
        f"p < {cfg['alpha']:g}, instead); for throughput "
        f"(one window of W steps per run), the drop also exceeds {z:.2f} σ, σ = √(CV_base² + CV_new²)/√W "
        "from the per-step spread (with at least 2 processes a side, σ = √(CV_base²/R_base + CV_new²/R_new) "
        "from the spread of the processes' throughputs). Memory (maxima over processes) and time to first "
        "step are single numbers per run: threshold "
        "alone. A cell ok in the "
        "baseline that now fails, times out, runs out of memory or diverges fails; one missing from the "
        f"run or now skipped {'fails' if cfg['missing'] == 'fail' else 'warns'}."
    )


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
    body = []
    for v in result.verdicts:
        st = v.checks.get("step_time")
        step = "–" if st is None or st.base is None else f"{fmt_ms(st.base)} → {fmt_ms(st.new)}"
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
                "p (U test; Welch over processes)",
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
