"""Baselines for the regression gate: a stored run boiled down to a small JSON file meant to be committed.

A baseline keeps, per cell, the numbers the gate compares (step-time summary, throughput, peak
memory, time to first step, status) AND the per-step timed samples that its noise test needs. It is
keyed by the machine fingerprint of the run's environment.json, because timings only compare on the
same hardware.

File (reports/baselines/<name>.json; <name> defaults to the machine fingerprint):
    {"schema": 1, "kind": "framebench-baseline", "name", "run_id", "created_at", "fingerprint",
     "machine": {what the fingerprint hashed}, "settings": RunSettings.to_dict(),
     "versions": {framework: version}, "cells": {cell_id: CELL_SUMMARY}}
CELL_SUMMARY = {the cell's axes (bench.cell.CELL_AXES), status, reason,
    n_steps, window_steps, step_time_median_s, step_time_ci95_low_s, step_time_ci95_high_s, step_time_cv,
    throughput_img_s, time_to_first_step_s, peak_rss_bytes, device_alloc_peak_bytes, nvml_peak_bytes,
    samples_s: [timed step seconds, in step order],
    n_processes, process_medians_s: [each ok process's median], process_throughputs: [...]}

A cell measured in several processes (schema 3) is summarised by bench.aggregate: the median of its
process medians, the CI of that median over processes (one process: that process's own CI), the
median within-process CV, median throughput and first step, memory maxima; ``samples_s`` holds every
process's timed steps, process after process.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from .cell import CELL_AXES
from .errors import BenchError
from .labels import INT_AXES
from .machine import machine_description, machine_fingerprint
from .schema import BASELINE_KIND, BASELINE_SCHEMA, NAME_PATTERN, one_line, validate_baseline
from .stats import num
from .store import RunData, atomic_write_text, dumps, load_run

DEFAULT_BASELINE_DIR = Path("reports") / "baselines"
SAMPLE_DIGITS = 6  # significant digits kept per step time: ample for timing, keeps the file small

SUMMARY_KEYS = (
    "status",
    "reason",
    "n_steps",
    "window_steps",
    "step_time_median_s",
    "step_time_ci95_low_s",
    "step_time_ci95_high_s",
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


def timed_samples(run: RunData) -> dict[str, list[float]]:
    """cell_id -> the synchronised timed step times (seconds) of its processes: process after process
    (by repeat), each in step order; a cell with an ok process keeps only its ok processes' steps."""
    steps = run.steps
    if steps.empty:
        return {}
    timed = steps[(steps["phase"] == "timed") & steps["step_time_s"].notna()]
    rep = timed["repeat"].fillna(1).astype(int) if "repeat" in timed else 1
    timed = timed.assign(_rep=rep).sort_values(["cell_id", "_rep", "step"], kind="stable")
    if not run.cells.empty:
        cells = run.cells
        reps = cells["repeat"].fillna(1).astype(int) if "repeat" in cells else [1] * len(cells)
        ok = {(str(c), int(k)) for c, k, s in zip(cells["cell_id"], reps, cells["status"], strict=True)
              if s == "ok"}
        has_ok = {c for c, _ in ok}
        keep = [c not in has_ok or (c, k) in ok for c, k in zip(timed["cell_id"], timed["_rep"], strict=True)]
        timed = timed.loc[[bool(k) for k in keep] if keep else timed.index[:0]]
    return {str(cid): [float(x) for x in g["step_time_s"]] for cid, g in timed.groupby("cell_id", sort=True)}


def _summary_of(row: dict[str, Any]) -> dict[str, Any]:
    """The baseline fields of one cell summary (bench.aggregate.cell_summaries)."""
    d: dict[str, Any] = {k: _clean(row.get(k)) for k in (*CELL_AXES, *SUMMARY_KEYS)}
    if (num(row.get("n_ok")) or 0) >= 2:
        d["step_time_ci95_low_s"] = _clean(row.get("step_time_ci_low_s"))
        d["step_time_ci95_high_s"] = _clean(row.get("step_time_ci_high_s"))
    d["step_time_cv"] = _clean(row.get("within_process_cv"))
    d["n_processes"] = int(num(row.get("n_processes")) or 0)
    d["process_medians_s"] = [float(v) for v in (row.get("process_medians") or {}).values()]
    d["process_throughputs"] = [float(v) for v in row.get("process_throughputs") or ()]
    return d


def cell_summaries(run: RunData, *, round_samples: bool = False) -> dict[str, dict[str, Any]]:
    """Per cell: its key fields, the numbers the gate compares (over its processes), and its timed
    samples."""
    from .aggregate import cell_summaries as summarize

    samples = timed_samples(run)
    out: dict[str, dict[str, Any]] = {}
    if run.cells.empty:
        return out
    first_ok: dict[str, dict[str, Any]] = {}
    for r in run.cells.to_dict(orient="records"):
        if r.get("status") == "ok":
            first_ok.setdefault(str(r["cell_id"]), r)
    for row in summarize(run.cells, run.steps).to_dict(orient="records"):
        cid = str(row["cell_id"])
        if num(row.get("n_ok")) == 1:  # one process: its own CI of the median, as stored
            one = first_ok[cid]
            row = {**row, **{k: one.get(k) for k in ("step_time_ci95_low_s", "step_time_ci95_high_s")}}
        d = _summary_of(row)
        d.update({a: int(d[a]) for a in INT_AXES if d[a] is not None})
        for k in ("process_medians_s", "process_throughputs"):
            d[k] = [_round(x) for x in d[k]] if round_samples else d[k]
        s = samples.get(cid, [])
        d["samples_s"] = [_round(x) for x in s] if round_samples else s
        out[cid] = d
    return out


def baseline_from_run(run: RunData, name: str | None = None) -> dict[str, Any]:
    fp = machine_fingerprint(run.env)
    fields = (
        run.env.get("fingerprint", {}).get("fields") if isinstance(run.env.get("fingerprint"), dict) else None
    )
    versions = (
        run.env.get("framework_versions") if isinstance(run.env.get("framework_versions"), dict) else {}
    )
    return {
        "schema": BASELINE_SCHEMA,
        "kind": BASELINE_KIND,
        "name": name or fp,
        "run_id": run.run_id,
        "created_at": run.meta.get("created_at"),
        "fingerprint": fp,
        "machine": fields or {"description": machine_description(run.env)},
        "machine_description": machine_description(run.env),
        "settings": run.meta.get("settings", {}),
        "versions": versions,
        "cells": dict(sorted(cell_summaries(run, round_samples=True).items())),
    }


def save_baseline(
    run_dir: str | os.PathLike[str],
    name: str | None = None,
    out_dir: str | os.PathLike[str] = DEFAULT_BASELINE_DIR,
) -> Path:
    """Store the run as reports/baselines/<name>.json (name defaults to the machine fingerprint)."""
    run = load_run(run_dir)
    data = baseline_from_run(run, name)
    if not any(c["status"] == "ok" for c in data["cells"].values()):
        raise BenchError(f"run {run.path} has no ok cell: nothing worth keeping as a baseline")
    name = str(data["name"])
    if not re.fullmatch(NAME_PATTERN, name) or len(name) > 200:
        raise BenchError(one_line(f"invalid baseline name {name!r}: use letters, digits, '-', '_' or '.', "
                                  "starting with a letter or digit"))
    return atomic_write_text(Path(out_dir) / f"{name}.json", dumps(data), within=out_dir)


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a baseline file (bench.schema); any problem is a BenchError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(one_line(
            f"no such baseline file: {path} (create one with `python -m bench baseline save`)")) from None
    except OSError as e:
        raise BenchError(one_line(f"cannot read baseline {path}: {e.strerror or e}")) from None
    except UnicodeDecodeError as e:
        raise BenchError(one_line(f"corrupt baseline {path}: not UTF-8 text ({e.reason})")) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise BenchError(one_line(
            f"corrupt baseline {path}: {e.msg} (line {e.lineno}, column {e.colno})")) from None
    except (ValueError, RecursionError) as e:  # an integer of thousands of digits, absurd nesting
        raise BenchError(one_line(f"corrupt baseline {path}: {type(e).__name__}: {e}")) from None
    data = validate_baseline(data, path)
    data["path"] = str(path)
    return data


def baseline_from_path(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A baseline file, or a run directory used directly as the baseline (same shape, samples unrounded)."""
    p = Path(path)
    if p.is_dir():
        run = load_run(p)
        data = baseline_from_run(run, name=run.run_id)
        data["cells"] = cell_summaries(run)
        data["path"] = str(p)
        return data
    return load_baseline(p)
