"""reports/README.md: headline, per-model links, runs, conditions, environment and notes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from bench.analysis.headline import (
    RULE,
    CompileCost,
    GenerationHeadline,
    Headline,
    Pick,
    Ranking,
    generation_headlines,
    headlines,
)
from bench.analysis.parity import Parity
from bench.analysis.spread import prior_key
from bench.analysis.tables import NOISY_CV, Note, notes, records
from bench.labels import (
    AXIS_HEADERS,
    HEADLINE_AXES,
    SHIPPED_DEFAULTS,
    axis_value,
    cell_label,
    framework_label,
    shown_axes,
)
from bench.markdown import (
    fmt_pct,
    fmt_ratio_ci,
    fmt_s,
    fmt_sig,
    fmt_verdict,
    md_table,
    truncate,
)
from bench.report.pages.conditions import (
    adaptive_text,
    batch_text,
    machine_caveat,
    runs_table,
    scopes_text,
    settings_table,
)
from bench.report.pages.sections import (
    environment_table,
    parity_title,
    peak_text,
    peaks_text,
    schedule_text,
    side_by_side,
    status_counts,
    step_ms,
)
from bench.results.load import RunSet
from bench.stats import A_FASTER, INCONCLUSIVE, TIE, SpreadPrior, num

MAX_MISSING_LISTED = 8
MAX_SKIPPED_LISTED = 6

HEADLINE_LEGEND = (
    "Per model, device and batch (the model's own batch, or the profile's smaller CPU batch beside it), "
    "each framework's **shipped default** and, apart, its fastest **tuned** configuration. The rule, fixed "
    "before the data: {rule} Step time: median over the cell's processes, with the order-statistic CI of "
    "that median and its coverage. \"faster\": the ratio of the two medians printed beside it, with its "
    "interval from the paired processes (per pair, the log ratio of the two processes' step times; a t "
    "interval on their mean, its variance moderated by the run's own between-process spread, pooled over "
    "the scenario's cells with the weight of 4 pairs, so that a few lucky pairs cannot make a narrow "
    "interval (the spread is printed under the table); widened by √(π/2) for a ratio of medians; "
    "coverage in the bracket), "
    "\"inconclusive (n = pairs)\" when it straddles an edge of the ±5% zone. \"≈ mode\" beside a tuned "
    "pick names a runner-up whose ratio interval holds 1. Compile cost: the fastest compiled "
    "shipped-default-variant mode's first step and its time to steady state (the time of the steps before "
    "the rolling median of 3 steps enters the process's steady band and stays past any spike of the "
    "warm-up: tracing, compilation, recording and recompiles included), beside the eager mode's, and its "
    "per-step speed-up over eager with its CI. What each mode compiles is listed below the table."
)


# --------------------------------------------------------------------------- headline


def _config_name(r: dict[str, Any]) -> str:
    tuned = [str(r[a]) for a, v in SHIPPED_DEFAULTS.items() if r.get(a) != v]
    return f"{r['mode']}" + (f" ({', '.join(tuned)})" if tuned else "")


def pick_text(p: Pick | None, same_as: Pick | None = None, not_measured: bool = False) -> str:
    if not_measured:
        return "tuned: not measured (no tuning candidate ran)"
    if p is None:
        return "–"
    r = p.row
    if same_as is not None and same_as.row["cell_id"] == r["cell_id"]:
        return "= shipped default"
    thr = f", {fmt_sig(r['throughput_img_s'])} img/s" if num(r.get("throughput_img_s")) is not None else ""
    peak = peak_text(r)
    text = f"{_config_name(r)}: {step_ms(r, unit=' ms/step')}{thr}" + (f", {peak}" if peak else "")
    if p.within_noise and p.runner_up is not None:
        text += f" (≈ {_config_name(p.runner_up)}: {fmt_ratio_ci(p.vs_runner_up)})"
    return text


def ranking_text(rk: Ranking) -> str:
    """"A faster, 1.36× [1.05–1.76, 95%]", "tie (within ±5%): A 1.02× […]", "inconclusive (n = 3): A …";
    the ratio is the second framework's median over the first's (A: the faster by the medians)."""
    if rk.not_measured:
        return f"tuned: not measured ({', '.join(map(framework_label, rk.not_measured))})"
    have = rk.picks
    if len(have) >= 2:
        (fa, _), (fb, _) = have[:2]
        a, b = framework_label(fa), framework_label(fb)
        over = f" over {b}" if len(have) > 2 else ""
        decision = rk.decision
        if decision == A_FASTER:
            return f"{a} faster, {fmt_ratio_ci(rk.ratio)}{over}"
        if decision == TIE:
            return f"tie (within ±5%): {a} {fmt_ratio_ci(rk.ratio)}{over}"
        n = rk.ratio.n if rk.ratio is not None else 0
        return f"{INCONCLUSIVE} (n = {n}): {a} {fmt_ratio_ci(rk.ratio)}{over}"
    if have:
        return f"only {framework_label(have[0][0])} measured"
    return "–"


def compile_cost_text(c: CompileCost) -> str:
    cold = ""
    if c.warm_first_s is not None:  # the run shared a compile cache between the cell's processes
        n = f"{c.n_cold} process{'es' if c.n_cold != 1 else ''}" if c.n_cold is not None else "cold"
        cold = f" (cold compile, {n}; warm cache: {fmt_s(c.warm_first_s)} s)"
    head = (f"{framework_label(c.framework)} {c.mode}: first step {fmt_s(c.first_s)} s{cold}, steady state "
            f"after {fmt_s(c.steady_s)} s")
    if c.eager_first_s is not None:
        head += f" (eager: {fmt_s(c.eager_first_s)} s, {fmt_s(c.eager_steady_s)} s)"
    if c.speedup is None:
        return head
    verdict = fmt_verdict(c.speedup, "compiled", "eager")
    tail = {"eager faster": "; not faster than eager", "compiled faster": ""}.get(
        verdict, f"; {verdict}" if verdict else "")
    return f"{head}; speed-up over eager {fmt_ratio_ci(c.speedup)}{tail}"


def headline_table(heads: list[Headline], frameworks: Sequence[str], multi_run: bool) -> str:
    axes = shown_axes(HEADLINE_AXES, [h.key for h in heads])
    headers = (["run"] if multi_run else []) + [AXIS_HEADERS[a] for a in axes]
    headers += [f"default {framework_label(fw)}" for fw in frameworks] + ["default: faster"]
    headers += [f"tuned {framework_label(fw)}" for fw in frameworks] + ["tuned: faster", "compile cost"]
    body = []
    for h in heads:
        row = [str(h.key["run_id"])] if multi_run else []
        row += [batch_text(h.key["model"], h.key[a]) if a == "batch_size" else axis_value(a, h.key[a])
                for a in axes]
        row += [pick_text(h.default.get(fw)) for fw in frameworks] + [ranking_text(h.default_ranking)]
        row += [pick_text(h.tuned.get(fw), h.default.get(fw), fw in h.tuned_ranking.not_measured)
                for fw in frameworks]
        row += [ranking_text(h.tuned_ranking), "; ".join(compile_cost_text(c) for c in h.costs) or "–"]
        body.append(row)
    return md_table(headers, body)


GENERATION_HEADLINE_LEGEND = (
    "Per model, device and batch of the generate scenario: each framework's fastest **shipped** way to "
    "generate (its own modes: eager or graph) and its fastest **deployed** runtime (an exported artefact "
    "in its runtime: see each model page's *Generation* section), picked by latency p50 of one call at "
    "batch 1 (median over the cell's processes, order-statistic CI over them, coverage in the bracket), "
    "with its throughput at the batch shown. Cross-framework ratio: the slower pick's p50 over the "
    "faster's, its interval from the paired processes (moderated by the run's pooled spread of its "
    "generate cells, as the training headline's), Bonferroni-widened for the candidates each pick "
    "was made among; faster when the interval lies beyond ±5%, tie inside it, inconclusive otherwise.")


def _generation_pick_text(p: Pick | None) -> str:
    if p is None:
        return "–"
    r = p.row
    thr = f", {fmt_sig(r['throughput_img_s'])} img/s" if num(r.get("throughput_img_s")) is not None else ""
    text = f"{_config_name(r)}: {step_ms(r, unit=' ms')}{thr}"
    if p.within_noise and p.runner_up is not None:
        text += f" (≈ {_config_name(p.runner_up)}: {fmt_ratio_ci(p.vs_runner_up)})"
    return text


def generation_headline_table(heads: list[GenerationHeadline], frameworks: Sequence[str],
                              multi_run: bool) -> str:
    axes = [a for a in shown_axes(HEADLINE_AXES, [h.key for h in heads]) if a != "scenario"]
    headers = (["run"] if multi_run else []) + [AXIS_HEADERS[a] for a in axes]
    headers += [f"shipped {framework_label(fw)}" for fw in frameworks] + ["shipped: faster"]
    headers += [f"deployed {framework_label(fw)}" for fw in frameworks] + ["deployed: faster"]
    body = []
    for h in heads:
        row = [str(h.key["run_id"])] if multi_run else []
        row += [batch_text(h.key["model"], h.key[a]) if a == "batch_size" else axis_value(a, h.key[a])
                for a in axes]
        row += [_generation_pick_text(h.shipped.get(fw)) for fw in frameworks]
        row += [ranking_text(h.shipped_ranking)]
        row += [_generation_pick_text(h.deployed.get(fw)) for fw in frameworks]
        row += [ranking_text(h.deployed_ranking)]
        body.append(row)
    return md_table(headers, body)


# --------------------------------------------------------------------------- notes


def _listed(items: list[str], limit: int, more: Callable[[int], str]) -> str:
    return ", ".join(items[:limit]) + (more(len(items) - limit) if len(items) > limit else "")


def note_text(n: Note, multi: bool) -> str:
    label = cell_label(n.row, run=multi) if n.row is not None else ""
    if n.kind in ("missing", "missing_processes"):
        at = f" in run `{n.run_id}`" if multi else ""
        shown = _listed(n.cell_ids, MAX_MISSING_LISTED, lambda _: " …")
        if n.kind == "missing":
            return (f"{len(n.cell_ids)} planned cell(s) have no result{at} (run interrupted? "
                    f"`python -m bench all --resume` completes it): {shown}")
        return (f"{len(n.cell_ids)} scheduled process(es) have no result{at} (`python -m bench all --resume` "
                f"runs them): {shown}")
    if n.kind == "empty_run":
        return f"Run `{n.run_id}` has no cell results."
    if n.kind == "skipped":
        cells = [cell_label(r, run=multi) for r in n.rows]
        shown = _listed(cells, MAX_SKIPPED_LISTED, lambda k: f" and {k} more")
        return f"{n.text}: {len(n.rows)} cell(s) skipped ({shown})."
    if n.kind == "problem":
        row = n.row or {}
        reason = row.get("reason")
        why = f": {truncate(reason)}" if isinstance(reason, str) and reason else ""
        # The failed process's log (bench.results.paths.log_path); a run of schema 1-2 has logs/<cell_id>.log.
        failures = row.get("failures") if isinstance(row.get("failures"), list) else []
        k = next((f.get("repeat") for f in failures if f.get("status") != "skipped"), 1)
        return (
            f"**{row['status']}** — {label}{why} (worker log: `logs/{row['cell_id']}/r{k}.log` of run "
            f"`{row['run_id']}`)."
        )
    if n.kind == "partial":
        row = n.row or {}
        return (
            f"Partly measured — {label}: {row.get('n_ok')} of {row.get('n_processes')} processes ok "
            f"({truncate(row.get('reason') or '')}); its numbers come from the ok processes."
        )
    if n.kind == "noisy":
        return (
            f"Noisy measurement — {label}: within-process step-time CV {fmt_pct(n.value)} "
            f"(> {fmt_pct(NOISY_CV, 0)}); treat its comparisons with care."
        )
    if n.kind == "noisy_between":
        return (
            f"Processes disagree — {label}: the process medians vary by {fmt_pct(n.value)} (CV > "
            f"{fmt_pct(NOISY_CV, 0)}); its ratios carry wide intervals."
        )
    if n.kind == "above_peak":
        row = n.row or {}
        achieved, peak = (num(row.get(k)) or 0.0 for k in ("achieved_flops", "peak_flops"))
        return (
            f"Above the measured peak — {label}: {fmt_sig(achieved / 1e9)} GFLOP/s "
            f"is {fmt_sig(n.value)}× the measured peak of {fmt_sig(peak / 1e9)} "
            "GFLOP/s, which cannot be: the peak probe fell short of the device's peak for this precision, or "
            "the analytic FLOP count is too high. No fraction of peak is shown for it."
        )
    if n.kind == "unsteady":
        return (
            f"Not steady — {label}: the median step time moved {fmt_pct(-(n.value or 0.0))} from the first "
            "to the second half of the timed steps; a longer `--warmup` would measure it better."
        )
    if n.kind == "framework":
        row = n.row or {}
        return f"{framework_label(str(row.get('framework')))} on {row.get('device')}: {n.text}"
    if n.kind == "slower_compiled":
        why = f" Why: {n.text}" if n.text else ""
        return (f"Compiled slower than eager — {label}: {fmt_sig(n.value)}× eager's speed, and the "
                f"interval lies below 1.{why}")
    if n.kind == "recompiled":
        return f"Recompiled {int(n.value or 0)} time(s) during the timed steps — {label}."
    if n.kind == "compile_warnings":
        return f"Compile warnings — {label}: {truncate(n.text)}"
    if n.kind == "diverged" and n.parity is not None:
        return (
            f"Loss curves diverge — {parity_title(n.parity, multi)}: {fmt_pct(n.parity.worst)} of the loss "
            f"change from step 0 (tolerance {fmt_pct(n.parity.tolerance, 0)})."
        )
    raise ValueError(f"unknown note kind {n.kind!r}")


def spread_text(table: pd.DataFrame, scenario: str) -> str:
    """The pooled between-process spread each run's ratios of ``scenario`` were moderated by."""
    seen: dict[str, SpreadPrior] = {}
    for r in records(table):
        p = r.get("spread_prior")
        if isinstance(p, SpreadPrior) and prior_key(r)[1] == scenario:
            seen.setdefault(str(r.get("run_id")), p)
    parts = [(f"`{rid}`: " if len(seen) > 1 else "") + f"{fmt_pct(p.sd)} ({p.cells} cells, "
             f"{p.df:g} degrees of freedom)" for rid, p in seen.items()]
    return (f"\nBetween-process spread of the {scenario} cells (sd of a process's log median within its "
            f"cell, pooled), which moderates the intervals above: {'; '.join(parts)}.\n") if parts else ""


# --------------------------------------------------------------------------- page


def front_page(
    runs: RunSet,
    table: pd.DataFrame,
    parity: list[Parity],
    models: list[str],
    frameworks: Sequence[str],
    multi: bool,
) -> str:
    ids = ", ".join(f"`{r.run_id}`" for r in runs.runs)
    # A run merged from shards is regenerated from its shards' directories (run ids, k order).
    dirs = [f"reports/runs/{rid}" for r in runs.runs
            for rid in ([v for _, v in sorted((r.shards or {}).get("runs", {}).items())] or [r.run_id])]
    cmd = "python -m bench report" + (" --runs " + " ".join(dirs) if multi or len(dirs) > 1 else "")
    out = [
        "# framebench results\n\n",
        f"Generated from the stored run(s) {ids} alone: every table and figure here is a function of "
        f"those results (nothing was re-run). Regenerate with `{cmd}`.\n\n",
        "## Headline\n\n",
    ]
    heads, gen_heads = headlines(table), generation_headlines(table)
    out.append(machine_caveat(runs))
    if heads:
        out += [
            HEADLINE_LEGEND.format(rule=RULE),
            "\n\n",
            headline_table(heads, frameworks, multi),
            spread_text(table, "train"),
            "\nWhat each mode compiles (the scopes a ratio compares):\n\n",
            scopes_text(records(table)),
            "\n",
        ]
    elif not gen_heads:
        out.append("No cell ran successfully: see the notes below.\n\n")
    if gen_heads:
        out += ["### Generation\n\n", GENERATION_HEADLINE_LEGEND, "\n\n",
                generation_headline_table(gen_heads, frameworks, multi), spread_text(table, "generate"), "\n"]
    out.append("## Models\n\n")
    for m in models:
        mrows = records(table[table["model"] == m])
        out.append(f"- [{m}]({m}.md): {len(mrows)} cells — {status_counts(mrows)}\n")
    if not models:
        out.append("No cells.\n")
    out.append("\n## Runs\n\n")
    out.append(runs_table(runs, frameworks))
    if multi:
        out += [
            "\n### Side by side\n\nMedian step time per cell in each run (× = ratio to the first run with "
            "that cell; above 1× slower).\n\n",
            side_by_side(table, runs),
        ]
    out += [
        "\n## Conditions\n\n",
        settings_table(runs.runs),
        "\n",
        schedule_text(runs.runs),
        adaptive_text(runs.runs),
        peaks_text(runs.runs),
        "\nPer-cell effective flags are listed on each model's page.\n",
    ]
    out += ["\n## Environment\n\n", environment_table(runs.runs)]
    out.append("\n## Notes\n\n")
    ns = [note_text(n, multi) for n in notes(runs, table, parity)]
    out.append("".join(f"- {n}\n" for n in ns) if ns else "None.\n")
    return "".join(out)
