"""Export a stored run in pytest-benchmark's JSON format, for ``pytest-benchmark compare``.

One source of truth: the stored run. This file is derived from it (like the Markdown reports), never
measured separately. It is written into the run directory by ``bench all`` at the end of the run, with
the reports (as part of producing the run), and by ``bench export-pytest-benchmark --run DIR [--out
FILE]``; ``bench report`` never writes into the runs it reads. Each ok cell becomes one benchmark whose
``stats.data`` are the synchronised timed step times of all its ok processes, process after process
(one round = one train step, one iteration per round), so pytest-benchmark's own min/median/IQR/outlier
columns describe exactly the samples our gate uses; ``extra_info`` holds the cell's summary over
processes (bench.analysis.aggregate: median throughput, median first step, memory maxima) and, for a cell
measured in several processes, ``processes`` and ``median_of_process_medians_s`` (the reports' number).
Cells that did not run ok are left out (pytest-benchmark only stores
successful benchmarks); our reports list them. The format follows pytest-benchmark 5.x
(``machine_info``, ``commit_info``, ``benchmarks[{group, name, fullname, params, param, extra_info,
options, stats}]``, ``datetime``, ``version``). The datetime is the run's and the version the fixed
``FORMAT_VERSION``, not the installed pytest-benchmark's, so the export is a function of the stored run
alone: byte-identical wherever it is regenerated. ``params`` are the cell's axes but the model
(bench.cell.CELL_AXES), ``group`` its group axes (bench.labels.GROUP_AXES), and ``extra_info`` holds the
final losses by the model family's loss names, as ``final_<name>_loss``.
"""

from __future__ import annotations

import json
import os
import statistics
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Any

from bench.analysis.aggregate import timed_samples
from bench.cell import CELL_AXES
from bench.host.machine import machine_fingerprint
from bench.labels import INT_AXES, axis_text, group_label, loss_labels, shown_axes
from bench.results.load import RunData, load_run
from bench.results.write import atomic_write_text
from bench.stats import num

EXPORT_NAME = "pytest-benchmark.json"
# The pytest-benchmark release whose file format this export follows (its "version" field, which tells
# pytest-benchmark what it reads). Fixed, so that the export does not depend on what is installed;
# test_pytest_benchmark_compare_accepts_the_export checks that the installed release reads it.
FORMAT_VERSION = "5.2.3"
# The cell's axes that a benchmark's params hold (its name holds the model already).
PARAM_AXES = tuple(a for a in CELL_AXES if a != "model")
EXTRA_KEYS = (
    "throughput_img_s",
    "time_to_first_step_s",
    "peak_rss_bytes",
    "device_alloc_peak_bytes",
    "nvml_peak_bytes",
    "achieved_flops",
)
FINAL_LOSS_PREFIX = "final_losses."


def _quartiles(data: list[float]) -> tuple[float, float]:
    # pytest_benchmark.stats.Stats.q1/q3 (Wikipedia "methods 2 and 3"), reproduced so both agree.
    n = len(data)
    s = sorted(data)
    if n == 1:
        return s[0], s[0]
    if n % 2:
        k, q = n // 4, n % 4
        if q == 1:
            return 0.25 * s[k - 1] + 0.75 * s[k], 0.75 * s[3 * k] + 0.25 * s[3 * k + 1]
        return 0.75 * s[k] + 0.25 * s[k + 1], 0.25 * s[3 * k + 1] + 0.75 * s[3 * k + 2]
    return statistics.median(s[: n // 2]), statistics.median(s[n // 2 :])


def benchmark_stats(data: list[float]) -> dict[str, Any]:
    """The ``stats`` object of one pytest-benchmark benchmark, from per-round seconds."""
    s = sorted(data)
    n = len(s)
    mean = statistics.mean(s)
    stddev = statistics.stdev(s) if n > 1 else 0.0
    q1, q3 = _quartiles(s)
    iqr = q3 - q1
    if n == 1:
        ld, hd = s[0], s[0]
    else:
        ld = s[bisect_left(s, q1 - 1.5 * iqr)]
        pos = bisect_right(s, q3 + 1.5 * iqr)
        hd = s[-1] if pos == n else s[pos]
    iqr_out = sum(1 for x in s if x < q1 - 1.5 * iqr or x > q3 + 1.5 * iqr)
    sd_out = sum(1 for x in s if x < mean - stddev or x > mean + stddev)
    total = sum(s)
    return {
        "min": s[0],
        "max": s[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": n,
        "median": statistics.median(s),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_out,
        "stddev_outliers": sd_out,
        "outliers": f"{sd_out};{iqr_out}",
        "ld15iqr": ld,
        "hd15iqr": hd,
        "ops": n / total if total else 0.0,
        "total": total,
        "data": list(data),
        "iterations": 1,
    }


def _machine_info(env: dict[str, Any]) -> dict[str, Any]:
    def sub(key: str) -> dict[str, Any]:
        v = env.get(key)
        return v if isinstance(v, dict) else {}

    py, plat, cpu = sub("python"), sub("platform"), sub("cpu")
    return {
        "node": plat.get("hostname") or plat.get("node") or "",
        "processor": cpu.get("machine") or "",
        "machine": cpu.get("machine") or plat.get("machine") or "",
        "python_compiler": py.get("compiler") or "",
        "python_implementation": py.get("implementation") or "CPython",
        "python_implementation_version": py.get("version") or "",
        "python_version": py.get("version") or "",
        "python_build": ["", ""],
        "release": plat.get("release") or "",
        "system": plat.get("system") or "",
        "cpu": {
            "brand_raw": cpu.get("model") or "",
            "count": cpu.get("logical_cores"),
            "arch_string_raw": cpu.get("machine") or "",
        },
        "framebench_fingerprint": machine_fingerprint(env),
    }


def _commit_info(env: dict[str, Any]) -> dict[str, Any]:
    git = env.get("git") if isinstance(env.get("git"), dict) else {}
    return {
        "id": git.get("commit") or "unknown",
        "time": None,
        "author_time": None,
        "dirty": bool(git.get("dirty")),
        "project": "framebench",
        "branch": git.get("branch") or "(unknown)",
    }


def _extra_columns(model: str, stored: list[str]) -> dict[str, str]:
    """extra_info key -> cells column: the measurements, then the final losses by the family's loss
    names (``final_<name>_loss``)."""
    losses = loss_labels(model, stored)
    return {**{k: k for k in EXTRA_KEYS}, **{f"final_{n}_loss": f"{FINAL_LOSS_PREFIX}{n}" for n in losses}}


def export_run(run: RunData) -> dict[str, Any]:
    """The pytest-benchmark JSON document of a stored run."""
    from bench.analysis.aggregate import cell_summaries

    samples = timed_samples(run)
    settings = run.meta.get("settings") or {}
    benchmarks = []
    rows = cell_summaries(run.cells, run.steps).to_dict(orient="records") if not run.cells.empty else []
    loss_columns = [c for c in run.cells.columns if c.startswith(FINAL_LOSS_PREFIX)]
    for r in rows:
        data = samples.get(str(r["cell_id"]))
        if r["status"] != "ok" or not data:
            continue
        params = {a: (int(r[a]) if a in INT_AXES else r[a]) for a in shown_axes(PARAM_AXES, [r])}
        param = "-".join(axis_text(a, v) for a, v in params.items())
        extra: dict[str, Any] = {"cell_id": r["cell_id"], "run_id": run.run_id}
        stored = [c.removeprefix(FINAL_LOSS_PREFIX) for c in loss_columns if num(r.get(c)) is not None]
        for key, col in _extra_columns(str(r["model"]), stored).items():
            v = r.get(col)
            extra[key] = None if v is None or v != v else (v.item() if hasattr(v, "item") else v)
        if (num(r.get("n_processes")) or 1) > 1:
            extra["processes"] = int(num(r.get("n_ok")) or 0)
            extra["median_of_process_medians_s"] = num(r.get("step_time_median_s"))
        benchmarks.append(
            {
                "group": group_label(r),
                "name": f"{r['model']}[{param}]",
                "fullname": f"framebench::{r['cell_id']}",
                "params": params,
                "param": param,
                "extra_info": extra,
                "options": {
                    "disable_gc": False,
                    "timer": "perf_counter",
                    "min_rounds": len(data),
                    "max_time": None,
                    "min_time": None,
                    "warmup": settings.get("warmup"),
                },
                "stats": benchmark_stats(data),
            }
        )
    return {
        "machine_info": _machine_info(run.env),
        "commit_info": _commit_info(run.env),
        "benchmarks": benchmarks,
        "datetime": str(run.meta.get("created_at") or ""),
        "version": FORMAT_VERSION,
    }


def write_export(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *,
                 loaded: RunData | None = None) -> Path:
    """Write the run's pytest-benchmark JSON (default <run>/pytest-benchmark.json); returns its path."""
    run = loaded if loaded is not None else load_run(run_dir)
    text = json.dumps(export_run(run), indent=4) + "\n"
    if out is None:
        return atomic_write_text(run.path / EXPORT_NAME, text, within=run.path)
    return atomic_write_text(out, text)
