"""Baselines for the regression gate: stored runs boiled down to a small JSON file meant to be committed.

A baseline is a history: one entry per stored run of the same code's predecessors on one machine,
each keeping, per cell, the numbers the gate compares (step-time summary, throughput, peak memory,
time to first step, status) AND the process-level and per-step samples that its noise tests need,
so that the gate weighs a change against the spread BETWEEN runs, not only within one. It is keyed
by the machine fingerprint (bench.host.machine), because timings only compare on the same hardware, and
all its runs share one machine and one set of measurement settings (bench.gate.identity).

File (reports/baselines/<name>.json; <name> defaults to the machine fingerprint):
    {"schema": 2, "kind": "framebench-baseline", "name", "fingerprint", "machine": {identity fields},
     "machine_description", "runs": [RUN, ... oldest first, at most MAX_RUNS]}
RUN = {"run_id", "created_at", "fingerprint", "machine", "settings": RunSettings.to_dict(),
       "settings_by_model": {model: settings}, "versions": {framework: version},
       "cells": {cell_id: CELL_SUMMARY}}
CELL_SUMMARY = {the cell's axes (bench.cell.CELL_AXES), status, reason,
    n_steps, window_steps, step_time_median_s, step_time_ci_low_s, step_time_ci_high_s,
    step_time_ci_coverage (the CI's exact coverage; files before run schema 4 said step_time_ci95_*,
    read under the new names by bench.results.migrations.migrate_baseline_cell), step_time_cv,
    throughput_img_s, time_to_first_step_s, peak_rss_bytes, device_alloc_peak_bytes, nvml_peak_bytes,
    samples_s: [timed step seconds, in step order],
    n_processes, process_medians_s: [each ok process's median], process_throughputs: [...]}
Schema 1 (one run: its RUN fields at the top level) still loads, as a history of one run.

A cell measured in several processes (schema 3 runs) is summarised by bench.analysis.aggregate: the median of
its process medians, the CI of that median over processes (one process: that process's own CI), the
median within-process CV, median throughput and first step, memory maxima; ``samples_s`` holds every
process's timed steps, process after process.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from bench.cell import CELL_AXES
from bench.errors import BenchError
from bench.host.machine import describe_fields, machine_differences, machine_fields, machine_fingerprint
from bench.labels import INT_AXES
from bench.results.load import RunData, load_run
from bench.results.migrations import migrate_baseline_cell
from bench.results.schema import (
    BASELINE_KIND,
    BASELINE_SCHEMA,
    MAX_BASELINE_RUNS,
    NAME_PATTERN,
    one_line,
    validate_baseline,
)
from bench.results.storedfile import read_stored_json
from bench.results.write import atomic_write_text, dumps
from bench.same_settings import settings_differences
from bench.stats import num

DEFAULT_BASELINE_DIR = Path("reports") / "baselines"
MAX_RUNS = 20  # runs a history keeps (the newest): enough to know the machine's between-run spread
SAMPLE_DIGITS = 6  # significant digits kept per step time: ample for timing, keeps the file small
CI_KEYS = ("step_time_ci_low_s", "step_time_ci_high_s", "step_time_ci_coverage")

SUMMARY_KEYS = (
    "status",
    "reason",
    "n_steps",
    "window_steps",
    "step_time_median_s",
    "step_time_ci_low_s",
    "step_time_ci_high_s",
    "step_time_ci_coverage",
    "step_time_cv",
    "throughput_img_s",
    "time_to_first_step_s",
    "peak_rss_bytes",
    "device_alloc_peak_bytes",
    "nvml_peak_bytes",
)


def _round(x: float) -> float:
    return float(f"{x:.{SAMPLE_DIGITS}g}")


def _clean(v: Any) -> Any:
    if hasattr(v, "item"):  # numpy scalars from the DataFrame
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _summary_of(row: dict[str, Any]) -> dict[str, Any]:
    """The baseline fields of one cell summary (bench.analysis.aggregate.cell_summaries)."""
    d: dict[str, Any] = {k: _clean(row.get(k)) for k in (*CELL_AXES, *SUMMARY_KEYS)}
    d["step_time_cv"] = _clean(row.get("within_process_cv"))
    d["n_processes"] = int(num(row.get("n_processes")) or 0)
    d["process_medians_s"] = [float(v) for v in (row.get("process_medians") or {}).values()]
    d["process_throughputs"] = [float(v) for v in row.get("process_throughputs") or ()]
    return d


def baseline_cells(run: RunData, *, round_samples: bool = False) -> dict[str, dict[str, Any]]:
    """Per cell: its key fields, the numbers the gate compares (over its processes), and its timed
    samples."""
    from bench.analysis.aggregate import cell_summaries, timed_samples

    samples = timed_samples(run)
    out: dict[str, dict[str, Any]] = {}
    if run.cells.empty:
        return out
    first_ok: dict[str, dict[str, Any]] = {}
    for r in run.cells.to_dict(orient="records"):
        if r.get("status") == "ok":
            first_ok.setdefault(str(r["cell_id"]), r)
    for row in cell_summaries(run.cells, run.steps).to_dict(orient="records"):
        cid = str(row["cell_id"])
        if num(row.get("n_ok")) == 1:  # one process: its own CI of the median, as stored
            one = first_ok[cid]
            row = {**row, **{k: one.get(k) for k in CI_KEYS}}
        d = _summary_of(row)
        d.update({a: int(d[a]) for a in INT_AXES if d[a] is not None})
        for k in ("process_medians_s", "process_throughputs"):
            d[k] = [_round(x) for x in d[k]] if round_samples else d[k]
        s = samples.get(cid, [])
        d["samples_s"] = [_round(x) for x in s] if round_samples else s
        out[cid] = d
    return out


def run_entry(run: RunData, *, round_samples: bool = True) -> dict[str, Any]:
    """One run of a baseline's history: its identity, settings and per-cell summaries (with every
    process's median and throughput and every timed step, so the gate can weigh its noise)."""
    if "ab" in run.meta:  # two sides' processes under one cell id: not one run of one environment
        raise BenchError(f"run {run.run_id} is an A/B run of `bench compare`: judge it with "
                         "`bench gate --ab`, not as a baseline")
    versions = (
        run.env.get("framework_versions") if isinstance(run.env.get("framework_versions"), dict) else {}
    )
    by_model = run.meta.get("settings_by_model")
    return {
        "run_id": run.run_id,
        "created_at": run.meta.get("created_at"),
        "fingerprint": machine_fingerprint(run.env),
        "machine": machine_fields(run.env) or {},
        "settings": run.meta.get("settings", {}),
        "settings_by_model": by_model if isinstance(by_model, dict) else {},
        "versions": versions,
        "cells": dict(sorted(baseline_cells(run, round_samples=round_samples).items())),
        "canary": run_canary(run),
    }


def run_canary(run: RunData) -> dict[str, Any] | None:
    """The run's own measure of the machine, for the gate's drift rule (bench.gate.drift): the device
    peak it measured (roofline), with the device; None when it measured none."""
    roof = run.roofline if isinstance(run.roofline, dict) else {}
    peak = num(roof.get("peak_flops"))
    return {"device": roof.get("device"), "peak_flops": peak} if peak and peak > 0 else None


def _oldest_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: (str(e.get("created_at") or ""), str(e.get("run_id"))))


def baseline_of_entries(entries: list[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
    """A schema-2 baseline holding these runs, oldest first; top-level fields from the newest run."""
    entries = _oldest_first(entries)
    latest = entries[-1]
    fp = str(latest.get("fingerprint") or "unknown")
    return with_history_view({
        "schema": BASELINE_SCHEMA,
        "kind": BASELINE_KIND,
        "name": name or fp,
        "fingerprint": fp,
        "machine": latest.get("machine") or {},
        "machine_description": describe_fields(latest.get("machine") or {}),
        "runs": entries,
    })


def with_history_view(data: dict[str, Any]) -> dict[str, Any]:
    """Give a baseline of either schema both views: "runs" (the history) and, from its newest run,
    "run_id", "created_at", "settings", "versions" and "cells" (what one-run comparisons read)."""
    if data.get("schema") == 1 or not data.get("runs"):
        data["runs"] = [{k: data.get(k) for k in ("run_id", "created_at", "settings", "versions", "cells")}]
        data["runs"][0]["fingerprint"] = data.get("fingerprint")
        return data
    latest = data["runs"][-1]
    for k in ("run_id", "created_at", "settings", "versions", "cells"):
        data[k] = latest.get(k)
    return data


def file_form(data: dict[str, Any]) -> dict[str, Any]:
    """What is written: the history; the newest run's view is derived again on load."""
    keep = ("schema", "kind", "name", "fingerprint", "machine", "machine_description", "runs")
    return {k: data[k] for k in keep if k in data}


def _check_compatible(entries: list[dict[str, Any]], force: bool) -> list[str]:
    """Every run of a history must come from one machine and one set of settings: the reasons
    (BenchError), or with ``force`` the same reasons returned as warnings."""
    problems: list[str] = []
    ref = entries[-1]
    for e in entries[:-1]:
        diffs, _ = machine_differences(e.get("machine") or None, ref.get("machine") or None)
        problems += [f"run {e.get('run_id')} vs {ref.get('run_id')}: machine {d}" for d in diffs]
        models = {str(c.get("model")) for c in e.get("cells", {}).values()}
        problems += [f"run {e.get('run_id')} vs {ref.get('run_id')}: setting {d}"
                     for d in settings_differences(e, ref, models)]
    if problems and not force:
        raise BenchError(one_line("the runs of a baseline must share one machine and one set of measurement "
                                  "settings (pass --force to keep them anyway): " + "; ".join(problems)))
    return problems


def save_baseline(
    run_dirs: str | os.PathLike[str] | list[str | os.PathLike[str]],
    name: str | None = None,
    out_dir: str | os.PathLike[str] = DEFAULT_BASELINE_DIR,
    *,
    append: bool = False,
    max_runs: int = MAX_RUNS,
    force: bool = False,
    warnings: list[str] | None = None,
    replaced: list[str] | None = None,
) -> Path:
    """Store the runs as reports/baselines/<name>.json (name defaults to the newest run's machine
    fingerprint); with ``append``, add them to that file's history (the same run is kept once: the
    ids of runs already there go to ``replaced``). Keeps the newest ``max_runs`` runs. What --force
    let through is added to ``warnings``."""
    if not 1 <= max_runs <= MAX_BASELINE_RUNS:
        raise BenchError(f"--max-runs {max_runs}: a baseline keeps 1 to {MAX_BASELINE_RUNS} runs")
    dirs = [run_dirs] if isinstance(run_dirs, (str, os.PathLike)) else list(run_dirs)
    entries = []
    for d in dirs:
        run = load_run(d)
        e = run_entry(run)
        if not any(c["status"] == "ok" for c in e["cells"].values()):
            raise BenchError(f"run {run.path} has no ok cell: nothing worth keeping as a baseline")
        entries.append(e)
    entries = _oldest_first(entries)
    name = name or str(entries[-1]["fingerprint"])
    if not re.fullmatch(NAME_PATTERN, name) or len(name) > 200:
        raise BenchError(one_line(f"invalid baseline name {name!r}: use letters, digits, '-', '_' or '.', "
                                  "starting with a letter or digit"))
    path = Path(out_dir) / f"{name}.json"
    if append and path.exists():
        old = load_baseline(path)
        known = {e.get("run_id") for e in entries}
        if replaced is not None:
            replaced += [str(e.get("run_id")) for e in old["runs"] if e.get("run_id") in known]
        entries = _oldest_first([e for e in old["runs"] if e.get("run_id") not in known] + entries)
    let_through = _check_compatible(entries, force)
    if warnings is not None:
        warnings += let_through
    data = baseline_of_entries(entries[-max_runs:], name)
    return atomic_write_text(path, dumps(file_form(data)), within=out_dir)


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a baseline file (bench.results.schema); any problem is a BenchError naming the
    file."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise BenchError(one_line(
            f"no such baseline file: {path} (create one with `python -m bench baseline save`)"))
    data = read_stored_json(path, "baseline")
    data = with_history_view(_new_ci_names(validate_baseline(data, path)))
    data["path"] = str(path)
    return data


def _new_ci_names(data: dict[str, Any]) -> dict[str, Any]:
    """A baseline written before run schema 4, its cells' CI fields under today's names."""
    for holder in [data, *(data.get("runs") or [])]:
        if isinstance(holder.get("cells"), dict):
            holder["cells"] = {k: migrate_baseline_cell(c) for k, c in holder["cells"].items()}
    return data


def baseline_from_path(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A baseline file, or a run directory used directly as the baseline (same shape, samples unrounded)."""
    p = Path(path)
    if p.is_dir():
        run = load_run(p)
        entry = run_entry(run, round_samples=False)
        data = baseline_of_entries([entry], name=run.run_id)
        data["path"] = str(p)
        return data
    return load_baseline(p)
