#!/usr/bin/env python
"""Calibrate the regression gate on REAL stored runs: false alarms and detection.

    python scripts/gate_calibration.py --unchanged RUN_A RUN_B [RUN_C ...] --slowed RUN_S [...] [--out FILE]

--unchanged: two or more run directories of the same code on the same machine (e.g. `bench all`
             twice). Every ordered pair (baseline, run) is gated; any cell flagged is a false alarm.
--slowed:    runs with a deliberate slowdown (e.g. `bench all --threads 1`, or an injected per-step
             sleep); each is gated against every unchanged run; a flagged cell is a detection.

Reports, per metric and per step-time rule (threshold alone / U test / CI / both = the gate's rule /
either), the fraction of compared cells flagged, over a sweep of step-time thresholds, plus the
per-cell median ratios and U-test p-values of the slowed comparison. Reads stored results only.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baseline import baseline_from_run, cell_summaries
from bench.errors import BenchError
from bench.gate import compare_cell, load_config, step_time_check
from bench.markdown import md_table
from bench.store import load_run

RULES = ("threshold alone", "U test", "CIs apart", "U test AND CIs apart (gate)", "U test OR CIs apart")
SWEEP = (0.05, 0.10, 0.20)


def _flag(rule: str, change: float, t: float, p: float | None, overlap: bool | None, alpha: float) -> bool:
    if change <= t:
        return False
    if p is None:  # too few samples: the gate falls back to the threshold
        return True
    sig, apart = p < alpha, not overlap
    return {
        "threshold alone": True,
        "U test": sig,
        "CIs apart": apart,
        "U test AND CIs apart (gate)": sig and apart,
        "U test OR CIs apart": sig or apart,
    }[rule]


def pairs_stats(base_run, new_run, cfg):
    """Per cell ok in both: (cell_id, step-time change, p, overlap, full gate verdict)."""
    base = baseline_from_run(base_run)
    base["cells"] = cell_summaries(base_run)
    new = cell_summaries(new_run)
    out = []
    for cid in sorted(set(base["cells"]) & set(new)):
        b, n = base["cells"][cid], new[cid]
        if b["status"] != "ok" or n["status"] != "ok":
            continue
        check, p, overlap = step_time_check(b, n, cfg)
        if check.change is None:
            continue
        out.append((cid, check.change, p, overlap, compare_cell(cid, b, n, cfg)))
    return out


def rates(comparisons, cfg) -> tuple[list[list[str]], list[list[str]]]:
    n = len(comparisons)
    rule_rows = []
    for rule in RULES:
        row = [rule]
        for t in SWEEP:
            k = sum(_flag(rule, c, t, p, o, cfg["alpha"]) for _, c, p, o, _ in comparisons)
            row.append(f"{k}/{n} ({100 * k / n:.0f}%)" if n else "–")
        rule_rows.append(row)
    metric_rows = []
    for metric in ("step_time", "throughput", "memory", "compile_time"):
        k = sum(1 for *_, v in comparisons if v.checks.get(metric) and v.checks[metric].failed)
        metric_rows.append([metric, f"{k}/{n} ({100 * k / n:.0f}%)" if n else "–"])
    k = sum(1 for *_, v in comparisons if v.verdict == "fail")
    metric_rows.append(["any (gate verdict)", f"{k}/{n} ({100 * k / n:.0f}%)" if n else "–"])
    return rule_rows, metric_rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unchanged", nargs="+", required=True, metavar="RUN")
    ap.add_argument("--slowed", nargs="*", default=[], metavar="RUN")
    ap.add_argument("--out", metavar="FILE", help="also write the Markdown here")
    args = ap.parse_args(argv)
    if len(args.unchanged) < 2:
        print("error: --unchanged needs at least two runs", file=sys.stderr)
        return 2
    try:
        cfg = load_config()
        unchanged = [load_run(p) for p in args.unchanged]
        slowed = [load_run(p) for p in args.slowed]
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    aa = [c for a, b in itertools.permutations(unchanged, 2) for c in pairs_stats(a, b, cfg)]
    ab = [c for a in unchanged for s in slowed for c in pairs_stats(a, s, cfg)]
    heads = ["step-time rule", *[f"threshold {t:.0%}" for t in SWEEP]]
    out = [
        "# Gate calibration\n\n",
        f"Unchanged runs: {', '.join(f'`{r.run_id}`' for r in unchanged)}; slowed runs: "
        f"{', '.join(f'`{r.run_id}`' for r in slowed) or 'none'}. Gate settings: "
        + ", ".join(f"{k}={v}" for k, v in cfg.items())
        + ".\n\n",
    ]

    def rate_section(title: str, kind: str, comparisons: list) -> list[str]:
        rule_rows, metric_rows = rates(comparisons, cfg)
        return [f"## {title} ({kind}: {len(comparisons)} cell comparisons)\n\n",
                "Cells flagged on step time:\n\n", md_table(heads, rule_rows),
                "\nWith the configured thresholds, per metric:\n\n",
                md_table(["metric", "flagged"], metric_rows)]

    out += [*rate_section("False alarms", "A/A", aa), "\n"]
    if aa:
        changes = sorted(abs(c) for _, c, *_ in aa)
        out.append(
            f"A/A step-time changes of the median: median |Δ| {100 * changes[len(changes) // 2]:.1f}%, "
            f"max |Δ| {100 * changes[-1]:.1f}%.\n\n"
        )
    if slowed:
        out += [
            *rate_section("Detection", "A/B", ab),
            "\n### Per cell\n\n",
            md_table(
                ["cell", "Δ median step time", "U-test p", "CIs", "gate verdict"],
                [
                    [
                        cid,
                        f"{100 * c:+.1f}%",
                        "–" if p is None else f"{p:.2g}",
                        "–" if o is None else ("overlap" if o else "apart"),
                        v.verdict,
                    ]
                    for cid, c, p, o, v in ab
                ],
            ),
        ]
    text = "".join(out)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
