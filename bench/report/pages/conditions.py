"""The front page's account of how the runs were made: the runs, each model's settings, the machine's
noise, the compiled scope of each mode, the headline's comparisons and the adaptive phase."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.analysis.aggregate import cell_summaries
from bench.analysis.comparisons import default_mode_of
from bench.analysis.tables import records
from bench.host.machine import machine_fingerprint
from bench.labels import descriptor, framework_label
from bench.markdown import fmt_pct, fmt_value, md_table
from bench.report.pages.sections import status_counts
from bench.results.load import RunData, RunSet
from bench.stats import num

# A run whose cells' processes differ by more than this (median between-process CV), or a machine of
# at most SMALL_CORES physical cores, gets the front page's caveat.
NOISY_MACHINE_CV = 0.02
SMALL_CORES = 4


def batch_text(model: str, batch: Any) -> str:
    """"b16 (model default 128)" for a batch other than the model's own, else "b128"."""
    from models.registry import get_spec

    b = int(batch)
    try:
        own = int(get_spec(model).batch_size)
    except Exception:  # a model not registered here: its batch as stored
        return f"b{b}"
    return f"b{b}" if b == own else f"b{b} (model default {own})"


def run_schema(r: RunData) -> str:
    v = r.meta.get("schema", 1)
    return str(v) if isinstance(v, int) else "–"


def runs_table(runs: RunSet, frameworks: Sequence[str]) -> str:
    """One row per run: when, profile, schema, cells and processes, each framework's version, commit,
    machine (one id: bench.host.machine.machine_fingerprint)."""
    body = []
    for r in runs.runs:
        env_fws = r.env.get("frameworks") if isinstance(r.env.get("frameworks"), dict) else None
        found = [env_fws.get(fw) if env_fws is not None else None for fw in frameworks]
        versions = [fmt_value(x.get("version") if isinstance(x, dict) else x) for x in found]
        git = r.env.get("git") if isinstance(r.env.get("git"), dict) else {}
        commit = str(git.get("commit") or r.env.get("git_commit") or "–")[:12]
        rows = records(cell_summaries(r.cells))
        ran = [x for x in rows if x["status"] != "skipped"]
        n_proc = sum(int(num(x.get("n_processes")) or 0) for x in ran)
        cells = f"{len(ran)} in {n_proc} processes: {status_counts(ran)}" if ran else "none run"
        skipped = len(rows) - len(ran)
        body.append([f"`{r.run_id}`", fmt_value(r.meta.get("created_at")), fmt_value(r.meta.get("profile")),
                     run_schema(r), cells + (f"; {skipped} skipped" if skipped else ""), *versions, commit,
                     machine_fingerprint(r.env)])
    return md_table(["run", "created (UTC)", "profile", "schema", "cells run",
                     *map(framework_label, frameworks), "commit", "machine"], body)


def _by_model(r: RunData) -> dict[str, dict[str, Any]]:
    per = r.meta.get("settings_by_model")
    if isinstance(per, dict) and per:
        return {str(m): dict(s) for m, s in per.items() if isinstance(s, dict)}
    return {"every model": dict(r.meta.get("settings") or {})}


def _setting_text(values: dict[str, Any]) -> str:
    """One setting over the models: its value when they agree, else each model's."""
    shown = {m: fmt_value(v) for m, v in values.items()}
    if len(set(shown.values())) <= 1:
        return next(iter(shown.values()), "–")
    return "; ".join(f"{m} {v}" for m, v in shown.items())


def settings_table(runs: Sequence[RunData]) -> str:
    """Each setting of each run, per model where the models differ (a profile gives a model with a
    cheap step more steps)."""
    per_run = [_by_model(r) for r in runs]
    keys = ["profile"]
    for models in per_run:
        for s in models.values():
            keys += [k for k in s if k not in keys]
    body = []
    for k in keys:
        cells = []
        for r, models in zip(runs, per_run, strict=True):
            if k == "profile":
                cells.append(fmt_value(r.meta.get("profile")))
            else:
                cells.append(_setting_text({m: s.get(k) for m, s in models.items()}))
        body.append([k, *cells])
    headers = ["setting", *[f"`{r.run_id}`" for r in runs]] if len(runs) > 1 else ["setting", "value"]
    return md_table(headers, body)


def machine_caveat(runs: RunSet) -> str:
    """A short caveat when a run's machine is small or its processes disagree (a shared VM): from the
    between-process CV the run itself measured."""
    out = []
    for r in runs.runs:
        cvs = [v for v in (num(x.get("between_process_cv")) for x in records(cell_summaries(r.cells))
                           if x.get("status") == "ok") if v is not None]
        cv = float(np.median(cvs)) if cvs else None
        cpu = r.env.get("cpu") if isinstance(r.env.get("cpu"), dict) else {}
        cores = num(cpu.get("physical_cores"))
        small = cores is not None and cores <= SMALL_CORES
        if not (small or (cv is not None and cv > NOISY_MACHINE_CV)):
            continue
        at = f"run `{r.run_id}`: " if len(runs.runs) > 1 else ""
        what = f"{int(cores)} physical cores" if cores is not None else "a machine"
        spread = (f"; the same cell's processes differed by a median {fmt_pct(cv)} (between-process CV over "
                  f"{len(cvs)} cells)" if cv is not None else "")
        out.append(f"**Caveat** — {at}measured on {what}, likely a small or shared VM{spread}. Differences "
                   "within a few percent are within this machine's noise; a re-run on another day can differ "
                   "by more than one run's intervals show.\n\n")
    return "".join(out)


def scopes_text(rows: list[dict[str, Any]]) -> str:
    """What each measured mode (and variant) compiles, per framework, and which mode is its default."""
    seen: dict[str, dict[str, set[str]]] = {}
    devices: dict[str, set[str]] = {}
    for r in rows:
        if r.get("status") == "ok":
            seen.setdefault(str(r["framework"]), {}).setdefault(str(r["mode"]), set()).add(str(r["variant"]))
            devices.setdefault(str(r["framework"]), set()).add(str(r["device"]))
    lines = []
    for fw, modes in seen.items():
        d = descriptor(fw)
        if d is None:
            continue
        defaults = {dev: default_mode_of(fw, dev) for dev in sorted(devices[fw])}
        for mode in (m for m in d.mode_names if m in modes):
            on = [dev for dev, m in defaults.items() if m == mode]
            tag = f" (its default on {', '.join(on)})" if on else ""
            extras = [f"{v}: {d.variant(v).scope}" for v in sorted(modes[mode])
                      if v in d.variant_names and d.variant(v).scope]
            more = f" Variants — {'; '.join(extras)}." if extras else ""
            lines.append(f"- {d.label} `{mode}`{tag}: {d.compiled_scopes.get(mode) or 'not stated'}.{more}\n")
    return "".join(lines)


def adaptive_text(runs: Sequence[RunData]) -> str:
    """What each run's adaptive phase did (bench.plan.adaptive), one line per comparison it touched."""
    out = []
    for r in runs:
        rec = r.meta.get("adaptive")
        if not isinstance(rec, dict):
            continue
        at = f" of run `{r.run_id}`" if len(runs) > 1 else ""
        budget = num(rec.get("budget_s"))
        within = f" inside the run's budget of {budget:g} s" if budget else ""
        out.append(f"\nAdaptive phase{at}: up to {fmt_value(rec.get('cap_pairs'))} more ABBA pair(s) for "
                   f"each headline comparison still inconclusive after the planned processes{within}.\n\n")
        for c in rec.get("comparisons") or []:
            if isinstance(c, dict):
                cells = " vs ".join(str(x) for x in c.get("cells") or [])
                out.append(f"- {cells}: {fmt_value(c.get('added_pairs'))} pair(s) added, "
                           f"{fmt_value(c.get('pairs'))} in all; {fmt_value(c.get('decision'))} "
                           f"(stopped: {fmt_value(c.get('stopped'))}).\n")
    return "".join(out)
