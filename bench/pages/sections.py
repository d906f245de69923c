"""Markdown sections shared by the front page and the model pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..analysis import records
from ..labels import cell_label, framework_label, group_label
from ..machine import machine_fingerprint
from ..markdown import fmt_ms, fmt_pct, fmt_ratio, fmt_value, md_table, truncate
from ..parity import Parity
from ..stats import num
from ..store import RunData, RunSet
from ..vocab import CELL_STATUSES

# Raw probe outputs repeat the framework summary next to them; the table shows the summary.
_ENV_SKIP = re.compile(r"^frameworks\.[^.]+\.probe(\.|$)")


def status_text(row: dict[str, Any]) -> str:
    status = str(row.get("status"))
    reason = row.get("reason")
    if status == "ok" or not isinstance(reason, str) or not reason.strip():
        return status
    return f"{status}: {truncate(reason)}"


def status_counts(rows: list[dict[str, Any]]) -> str:
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in CELL_STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"


def parity_compared(p: Parity) -> str:
    """E.g. "FrameworkA eager vs FrameworkB eager (some-variant)" (frameworks by their labels)."""
    return " vs ".join(
        f"{framework_label(fw)} {c['mode']}" + (f" ({c['variant']})" if c["variant"] != "default" else "")
        for fw, c in p.cells.items()
    )


def parity_title(p: Parity, with_run: bool) -> str:
    run = f" @{p.run_id}" if with_run else ""
    return f"{group_label(p.key)}{run}: {parity_compared(p)}"


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list) and any(isinstance(x, (dict, list)) for x in d):
        for i, v in enumerate(d):
            out.update(flatten(v, f"{prefix[:-1]}[{i}]."))
    else:
        out[prefix[:-1]] = d
    return out


def environment_table(runs: Sequence[RunData]) -> str:
    flats = [{k: v for k, v in flatten(r.env).items() if not _ENV_SKIP.match(k)} for r in runs]
    keys: list[str] = []
    for f in flats:
        keys += [k for k in f if k not in keys]
    if not keys:
        return "No environment.json stored with the run(s).\n"
    headers = ["", *[f"`{r.run_id}`" for r in runs]] if len(runs) > 1 else ["", "value"]
    return md_table(headers, [[k, *[fmt_value(f.get(k)) for f in flats]] for k in keys])


def settings_table(runs: Sequence[RunData]) -> str:
    dicts = [dict(r.meta.get("settings") or {}) for r in runs]
    for r, d in zip(runs, dicts, strict=True):
        d["profile"] = r.meta.get("profile", d.get("profile"))
    keys: list[str] = []
    for d in dicts:
        keys += [k for k in d if k not in keys]
    headers = ["setting", *[f"`{r.run_id}`" for r in runs]] if len(runs) > 1 else ["setting", "value"]
    return md_table(headers, [[k, *[fmt_value(d.get(k)) for d in dicts]] for k in keys])


def flags_table(rows: list[dict[str, Any]], multi_run: bool) -> str:
    keys: list[str] = []
    for r in rows:
        f = r.get("flags")
        if isinstance(f, dict):
            keys += [k for k in f if k not in keys]
    if not keys:
        return "No flags recorded by the cells.\n"
    keys = sorted(keys)
    body = []
    for r in rows:
        f = r.get("flags") if isinstance(r.get("flags"), dict) else {}
        body.append([cell_label(r, model=False, run=multi_run), *[fmt_value(f.get(k)) for k in keys]])
    return md_table(["cell", *keys], body)


def runs_table(runs: RunSet, frameworks: Sequence[str]) -> str:
    """One row per run: when, profile, cells, each framework's version, commit, machine."""
    body = []
    for r in runs.runs:
        env_fws = r.env.get("frameworks") if isinstance(r.env.get("frameworks"), dict) else None
        found = [env_fws.get(fw) if env_fws is not None else None for fw in frameworks]
        versions = [fmt_value(x.get("version") if isinstance(x, dict) else x) for x in found]
        git = r.env.get("git") if isinstance(r.env.get("git"), dict) else {}
        commit = str(git.get("commit") or r.env.get("git_commit") or "–")[:12]
        rows = records(r.cells)
        body.append(
            [
                f"`{r.run_id}`",
                fmt_value(r.meta.get("created_at")),
                fmt_value(r.meta.get("profile")),
                f"{len(rows)}: {status_counts(rows)}",
                *versions,
                commit,
                machine_fingerprint(r.env),
            ]
        )
    return md_table(
        ["run", "created (UTC)", "profile", "cells", *map(framework_label, frameworks), "commit", "machine"],
        body,
    )


def side_by_side(table: pd.DataFrame, runs: RunSet) -> str:
    """Median step time of each cell in each run, and its ratio to the first run that has it."""
    ids = runs.run_ids
    ok = table[table["status"] == "ok"]
    if ok.empty:
        return "No ok cells.\n"
    body = []
    for cid in dict.fromkeys(ok["cell_id"]):
        per = {r["run_id"]: r for r in records(ok[ok["cell_id"] == cid])}
        first = next((per[i] for i in ids if i in per), None)
        cols = []
        for i in ids:
            if i not in per:
                cols.append("–")
                continue
            t = per[i]["step_time_median_s"]
            ratio = "" if per[i] is first else f" ({fmt_ratio(t / first['step_time_median_s'])})"
            cols.append(f"{fmt_ms(t)}{ratio}")
        body.append([cell_label(first), *cols])
    return md_table(["cell", *[f"`{i}` ms" for i in ids]], body, "l" + "r" * len(ids))


def spread_table(rows: list[dict[str, Any]], multi_run: bool) -> str:
    body = []
    for r in rows:
        med = num(r.get("step_time_median_s"))
        if med is None:
            continue
        lo, hi = num(r.get("step_time_ci95_low_s")), num(r.get("step_time_ci95_high_s"))
        ci_w = (hi - lo) / med if lo is not None and hi is not None and med > 0 else None
        body.append(
            [
                cell_label(r, model=False, run=multi_run),
                str(int(num(r.get("n_steps")) or 0)),
                fmt_ms(med),
                fmt_ms(r.get("step_time_iqr_s")),
                fmt_pct(r.get("step_time_cv")),
                f"{fmt_ms(r.get('step_time_p10_s'))} – {fmt_ms(r.get('step_time_p90_s'))}",
                fmt_pct(ci_w),
                fmt_ms(r.get("step_time_min_s")),
            ]
        )
    if not body:
        return "No timed steps.\n"
    return md_table(
        ["cell", "timed steps", "median ms", "IQR ms", "CV", "p10 – p90 ms", "95% CI width", "min ms"],
        body,
        "lrrrrrrr",
    )


def failures_section(rows: list[dict[str, Any]], multi_run: bool) -> str:
    parts = []
    for r in rows:
        if r["status"] == "ok":
            continue
        parts.append(f"- **{cell_label(r, model=False, run=multi_run)}** — {status_text(r)}\n")
        tail = r.get("error_tail")
        if isinstance(tail, str) and tail.strip():
            body = tail.rstrip().replace("```", "'''")
            parts.append(
                "  <details><summary>worker output (last lines)</summary>\n\n  ```text\n"
                + "".join(f"  {line}\n" for line in body.splitlines())
                + "  ```\n  </details>\n"
            )
    return "".join(parts) or "None: every cell ran.\n"
