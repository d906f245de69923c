"""reports/README.md: headline, per-model links, runs, conditions, environment and notes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ..analysis import NOISY_CV, CompileCost, Headline, Note, headlines, notes, records
from ..labels import AXIS_HEADERS, GROUP_AXES, axis_value, cell_label, framework_label
from ..markdown import fmt_ms, fmt_pct, fmt_ratio, fmt_s, fmt_sig, md_table, truncate
from ..parity import PARITY_TOLERANCE, Parity
from ..stats import num
from ..store import RunSet
from .sections import environment_table, parity_title, runs_table, settings_table, side_by_side, status_counts

MAX_MISSING_LISTED = 8
MAX_SKIPPED_LISTED = 6


# --------------------------------------------------------------------------- headline


def _config(r: dict[str, Any]) -> str:
    v = f" ({r['variant']})" if r["variant"] != "default" else ""
    thr = f", {fmt_sig(r['throughput_img_s'])} img/s" if num(r.get("throughput_img_s")) is not None else ""
    return f"{r['mode']}{v}: {fmt_ms(r['step_time_median_s'])} ms/step{thr}"


def compile_cost_text(c: CompileCost) -> str:
    head = f"{framework_label(c.framework)} {c.mode}: first step {fmt_s(c.first_s)} s"
    if c.eager_first_s is None:
        return head
    if c.payback_steps is not None:
        payback = f", repaid after ~{c.payback_steps} steps"
    elif c.never_repaid:
        payback = ", never repaid (not faster than eager)"
    else:
        payback = ""
    return f"{head} vs eager {fmt_s(c.eager_first_s)} s (+{fmt_s(c.extra_s)} s{payback})"


def _verdict(h: Headline) -> str:
    ranking = h.ranking
    if len(ranking) >= 2:
        (fa, ra), (fb, rb) = ranking[:2]
        ratio = fmt_ratio(rb["step_time_median_s"] / ra["step_time_median_s"])
        over = f" over {framework_label(fb)}" if len(ranking) > 2 else ""
        return f"{framework_label(fa)}, {ratio}{over}"
    if ranking:
        return f"only {framework_label(ranking[0][0])} measured"
    return "–"


def headline_table(heads: list[Headline], frameworks: Sequence[str], multi_run: bool) -> str:
    headers = (["run"] if multi_run else []) + [AXIS_HEADERS[a] for a in GROUP_AXES]
    headers += [f"fastest {framework_label(fw)}" for fw in frameworks] + ["faster", "compile cost"]
    body = []
    for h in heads:
        row = [str(h.key["run_id"])] if multi_run else []
        row += [axis_value(a, h.key[a]) for a in GROUP_AXES]
        row += [(h.fastest.get(fw) and _config(h.fastest[fw])) or "–" for fw in frameworks]
        row += [_verdict(h), "; ".join(compile_cost_text(c) for c in h.costs) or "–"]
        body.append(row)
    return md_table(headers, body)


# --------------------------------------------------------------------------- notes


def _listed(items: list[str], limit: int, more: Callable[[int], str]) -> str:
    return ", ".join(items[:limit]) + (more(len(items) - limit) if len(items) > limit else "")


def note_text(n: Note, multi: bool) -> str:
    label = cell_label(n.row, run=multi) if n.row is not None else ""
    if n.kind == "missing":
        at = f" in run `{n.run_id}`" if multi else ""
        shown = _listed(n.cell_ids, MAX_MISSING_LISTED, lambda _: " …")
        return (
            f"{len(n.cell_ids)} planned cell(s) have no result{at} (run interrupted? "
            f"`python -m bench all --resume` completes it): {shown}"
        )
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
        return (
            f"**{row['status']}** — {label}{why} (worker log: `logs/{row['cell_id']}.log` of run "
            f"`{row['run_id']}`)."
        )
    if n.kind == "noisy":
        return (
            f"Noisy measurement — {label}: step-time CV {fmt_pct(n.value)} (> {fmt_pct(NOISY_CV, 0)}); "
            "treat its comparisons with care."
        )
    if n.kind == "unsteady":
        return (
            f"Not steady — {label}: the median step time moved {fmt_pct(-(n.value or 0.0))} from the first "
            "to the second half of the timed steps; a longer `--warmup` would measure it better."
        )
    if n.kind == "recompiled":
        return f"Recompiled {int(n.value or 0)} time(s) during the timed steps — {label}."
    if n.kind == "compile_warnings":
        return f"Compile warnings — {label}: {truncate(n.text)}"
    if n.kind == "diverged" and n.parity is not None:
        return (
            f"Loss curves diverge — {parity_title(n.parity, multi)}: {fmt_pct(n.parity.worst)} of the loss "
            f"scale (tolerance {fmt_pct(PARITY_TOLERANCE, 0)})."
        )
    raise ValueError(f"unknown note kind {n.kind!r}")


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
    cmd = "python -m bench report" + (
        " --runs " + " ".join(f"reports/runs/{r.run_id}" for r in runs.runs) if multi else ""
    )
    out = [
        "# framebench results\n\n",
        f"Generated from the stored run(s) {ids} alone: every table and figure here is a function of "
        f"those results (nothing was re-run). Regenerate with `{cmd}`.\n\n",
        "## Headline\n\n",
    ]
    heads = headlines(table)
    if heads:
        out += [
            "Fastest configuration of each framework per model, device and precision (median step time, "
            "throughput), which is faster and by how much, and what compilation costs up front.\n\n",
            headline_table(heads, frameworks, multi),
            "\n",
        ]
    else:
        out.append("No cell ran successfully: see the notes below.\n\n")
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
        "\nPer-cell effective flags are listed on each model's page.\n",
    ]
    out += ["\n## Environment\n\n", environment_table(runs.runs)]
    out.append("\n## Notes\n\n")
    ns = [note_text(n, multi) for n in notes(runs, table, parity)]
    out.append("".join(f"- {n}\n" for n in ns) if ns else "None.\n")
    return "".join(out)
