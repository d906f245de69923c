"""Gate calibration across days and on day one (the sections ``gate_calibration.py evaluate`` adds).

cross_day  the run of 2026-12-07 (reports/calibration/cross-day/20261207T050018Z: the same code and machine
           fingerprint as the committed November run, twelve days later) gated against the November
           run reports/runs/20261125T043336Z and its repeat reports/calibration/quick-r3-rerun, as a
           history of two and as each one alone, with the drift rule (bench/gate/drift.py) and without;
           then the same 12-07 run with a 20% slowdown injected into some cells (its stored step times
           scaled in a copy in memory): which cells the gate catches.
day_one    every one-run-baseline decision among the calibration's runs (gate-history): each unchanged
           run against each other unchanged run (A/A), and each slowed run against each unchanged run,
           with the day-one prior (bench/gate/prior.py) and without it.
Both read stored runs only and return (Markdown text, figures) for the report and the tests.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CROSS_DAY_RUN = ROOT / "reports" / "calibration" / "cross-day" / "20261207T050018Z"
NOVEMBER_RUNS = (ROOT / "reports" / "runs" / "20261125T043336Z",
                 ROOT / "reports" / "calibration" / "quick-r3-rerun")
INJECTED = 0.20
INJECT_EVERY = 5  # every fifth compared cell (in cell-id order) gets the injected slowdown


def slowed(summaries: dict[str, dict[str, Any]], cells: set[str],
           fraction: float) -> dict[str, dict[str, Any]]:
    """A copy of a run's cell summaries (bench.gate.baseline.baseline_cells) with these cells' step times
    scaled by 1 + fraction (and their throughput divided by it): a synthetic slowdown."""
    out = copy.deepcopy(summaries)
    f = 1.0 + fraction
    for cid in cells:
        s = out[cid]
        for key in ("samples_s", "process_medians_s"):
            s[key] = [x * f for x in s.get(key) or []]
        for key in ("step_time_median_s", "step_time_ci_low_s", "step_time_ci_high_s"):
            if isinstance(s.get(key), (int, float)):
                s[key] *= f
        if isinstance(s.get("throughput_img_s"), (int, float)):
            s["throughput_img_s"] /= f
        s["process_throughputs"] = [x / f for x in s.get("process_throughputs") or []]
    return out


def _load(paths):
    from bench.gate.baseline import baseline_cells, run_entry
    from bench.results.load import load_run

    runs = [load_run(p) for p in paths]
    return runs, [run_entry(r) for r in runs], [baseline_cells(r) for r in runs]


def _gate(entries: list[dict], run, cells: dict, cfg: dict):
    from bench.gate import compare
    from bench.gate.baseline import baseline_of_entries, run_canary

    baseline = baseline_of_entries(copy.deepcopy(entries), name="calibration")
    return compare(baseline, copy.deepcopy(cells), run.env, cfg=cfg, run_meta=run.meta,
                   run_canary=run_canary(run))


def _measured(res) -> list[str]:
    return [v.cell_id for v in res.verdicts if v.base_status == "ok" and v.new_status == "ok"
            and "step_time" in v.checks]


def cross_day(cfg: dict) -> tuple[str, dict[str, Any]]:
    """The cross-day decisions (module doc): Markdown and figures (false alarms with and without the
    drift rule, injected cells caught, other cells flagged)."""
    (_, _, dec), (e_nov, e_rerun, _), (_, _, dec_cells) = _load([*NOVEMBER_RUNS, CROSS_DAY_RUN])
    histories = {"November run and its repeat (history of 2)": [e_nov, e_rerun],
                 "November run alone": [e_nov], "its repeat alone": [e_rerun]}
    rows, fig = [], {"decisions": 0, "false_alarms_drift": 0, "false_alarms_no_drift": 0,
                     "injected": 0, "caught": 0, "others_flagged": 0}
    for label, entries in histories.items():
        plain = _gate(entries, dec, dec_cells, {**cfg, "drift": "off"})
        res = _gate(entries, dec, dec_cells, cfg)
        measured = _measured(res)
        inject = set(measured[::INJECT_EVERY])
        slow = _gate(entries, dec, slowed(dec_cells, inject, INJECTED), cfg)
        caught = {v.cell_id for v in slow.failed} & inject
        others = {v.cell_id for v in slow.failed} - inject
        fig["decisions"] += 1
        fig["false_alarms_drift"] += len(res.failed)
        fig["false_alarms_no_drift"] += len(plain.failed)
        fig["injected"] += len(inject)
        fig["caught"] += len(caught)
        fig["others_flagged"] += len(others)
        drift = "; ".join(d.text().split(";")[0] for d in res.drifts) or "none found"
        rows.append([label, f"{len(plain.failed)} of {len(plain.verdicts)}", f"{len(res.failed)}", drift,
                     f"{len(caught)} of {len(inject)}", str(len(others))])
    from bench.markdown import md_table

    text = (
        "## Across days: the run of 2026-12-07 against the November runs\n\n"
        f"`{CROSS_DAY_RUN.relative_to(ROOT)}` is the same code (commit 59536ae) on a machine with the same "
        "fingerprint, twelve days after the committed run; every measured cell is 19–50% slower and its "
        "matmul peak 25% lower. Gated with the gate's defaults, without and with the drift rule; then "
        f"with a {INJECTED:.0%} slowdown injected into every {INJECT_EVERY}th measured cell (step times "
        "scaled in a copy in memory).\n\n"
        + md_table(["baseline", "cells failed, no drift rule", "cells failed, drift rule", "drift found",
                    f"{INJECTED:.0%} injected: caught", "other cells flagged"], rows, "lrrlrr"))
    return text, fig


def day_one(directory: Path, cfg: dict) -> tuple[str, dict[str, Any]]:
    """Every one-run-baseline decision among the calibration's runs, with and without the prior."""
    from bench.markdown import md_table

    kinds: dict[str, list[Path]] = {}
    for d in sorted(p for p in directory.iterdir() if p.is_dir()):
        kinds.setdefault(d.name.partition("-")[2], []).append(d)
    unchanged = kinds.get("unchanged", [])
    paths = [p for k in ("unchanged", "slow20", "slow10") for p in kinds.get(k, [])]
    runs, entries, cells = _load(paths)
    by_path = {p: (r, e, c) for p, r, e, c in zip(paths, runs, entries, cells, strict=True)}
    fig: dict[str, Any] = {}
    rows = []
    for kind in ("unchanged", "slow20", "slow10"):
        for label, sd in (("day-one prior", cfg["day_one_sd"]), ("within-run noise alone", 0.0)):
            n_dec = n_fail = n_cells = n_flag = 0
            for d in kinds.get(kind, []):
                for b in unchanged:
                    if b == d:
                        continue
                    res = _gate([by_path[b][1]], by_path[d][0], by_path[d][2], {**cfg, "day_one_sd": sd})
                    compared = [v for v in res.verdicts if v.base_status == "ok" and v.new_status == "ok"]
                    n_dec, n_fail = n_dec + 1, n_fail + bool(res.failed)
                    n_cells, n_flag = n_cells + len(compared), n_flag + len(res.failed)
            fig[kind, label] = (n_fail, n_dec, n_flag, n_cells)
            rows.append([kind, label, f"{n_fail}/{n_dec}", f"{n_flag}/{n_cells} ({_pct(n_flag, n_cells)})"])
    text = (
        "## Day one: one-run baselines, with the day-one prior and without\n\n"
        "Every run of the calibration gated against every OTHER unchanged run alone (a one-run baseline, "
        "what a user has on day one). The prior is a between-run sd of "
        f"{cfg['day_one_sd'] * 100:.1f}% (bench/gate/prior.py, pooled over the unchanged runs here).\n\n"
        + md_table(["runs gated", "noise", "decisions failed", "cells flagged"], rows, "llrr"))
    return text, fig


def _pct(k: int, n: int) -> str:
    return f"{100 * k / max(n, 1):.0f}%"


def pooled_between_run_sd(directory: Path) -> dict[str, float]:
    """The between-run sd (log) of step time and throughput pooled over cells of the unchanged runs:
    the figure bench/gate/prior.py writes down."""
    from bench.gate.rules import cell_histories, history_pools

    _, entries, _ = _load(sorted(p for p in directory.iterdir() if p.name.endswith("-unchanged")))
    pools = history_pools(cell_histories({"runs": entries}))
    return {m: math.sqrt(pools[m].variance) for m in ("step_time", "throughput")}
