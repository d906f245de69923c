"""A cell's processes, summarised: one row per (run_id, cell_id) (pure functions, no I/O).

Each cell is measured in R fresh processes (``bench.results.records.CellResult``, one row per process in the
cells DataFrame of ``bench.results.load.load_run``). The process is the unit of replication, so a cell's
numbers are built from its processes' numbers:

    step_time_median_s        median of the ok processes' median step times
    step_time_ci_low/high_s   order-statistic CI of that median over the process medians, with its
    step_time_ci_coverage     exact coverage (bench.stats.median_ci: 75% for 3 processes); None for 1
    between_process_cv        spread of the process medians (std / mean); None for 1 process
    within_process_cv         median of the processes' step-time CVs
    throughput_img_s          median of the processes' throughputs (min/max beside it)
    achieved_flops            flops_per_step / step_time_median_s; fraction_of_peak against the
                              measured peak, ``above_peak`` when it exceeds 1 (a bug to explain)
    latency_p99_s, build_s,   (generate cells) medians over the ok processes, the p99 with the
    step_latency_median_s     order-statistic CI of that median (latency_p99_ci_low/high_s);
    cold_start_s              cold_start_s over the cold processes, as time_to_first_step_s
    time_to_first_step_s      median over the processes that compiled cold (all of them, unless the
                              run shares a cell's compile cache: RunSettings.compile_cache "shared")
    warm_first_step_s         median first step of the processes that found the cache warm (None if none)
    time_to_steady_state_s    median over the cold processes of the time before the steady state (below)
    memory                    maxima over the ok processes
    flags, versions, losses   those of the first ok process
    status                    ok when at least one process is; ``partial`` when some are not

Time to steady state of one process: over its step series (first step, warm-up steps, timed steps),
the first step k, itself no slower than the band, whose rolling median (the steps k..k+2, or what
fits) lies within the process's
steady-state band (the CI of its timed median, widened to the timed steps' p10-p90 where that is
wider: ``steady_band``), after the last spike of the first and warm-up steps (a step over twice the
band's top); the time is that of the steps before k (compilation, tracing, CUDA-graph recording and
recompiles in the warm-up included). ``process_medians`` (block or
process key -> median) is what ``bench.stats.ratio_ci`` pairs by schedule block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from bench.results.load import RunData

from bench.stats import cv, median_ci, num

STEADY_WINDOW = 3
SPIKE_FACTOR = 2.0  # a first/warm-up step this many times the steady band's top is not noise
STEADY_PHASES = ("first", "warmup", "timed")
# Per-process columns with no meaning for a cell as a whole (the summary lists them per process).
# A process's CI of its own median shares its name with the cell's CI over processes, which replaces it.
PROCESS_ONLY = ("repeat", "block", "order", "started_at", "finished_at", "step_time_ci_low_s",
                "step_time_ci_high_s", "step_time_ci_coverage", "step_time_cv", "warmup_step_times_s")
MAX_COLUMNS = ("peak_rss_bytes", "device_alloc_peak_bytes", "device_reserved_peak_bytes", "nvml_peak_bytes",
               "peak_rss_children_bytes", "rss_after_import_bytes", "device_alloc_steady_peak_bytes",
               "nvml_steady_peak_bytes",
               "recompiles", "step_time_max_s")
MEDIAN_COLUMNS = ("step_time_mean_s", "step_time_std_s", "step_time_p10_s", "step_time_p90_s",
                  "step_time_iqr_s", "step_time_drift", "window_time_s", "gpu_util_mean")
# Columns every summary has, beside the first ok process's other fields.
SUMMARY_COLUMNS: list[str] = [
    "run_id", "cell_id", "status", "reason", "partial", "n_processes", "n_ok", "failures", "shown_repeat",
    "step_time_median_s", "step_time_ci_low_s", "step_time_ci_high_s", "step_time_ci_coverage",
    "process_medians", "process_repeats", "process_blocks", "process_orders",
    "between_process_cv", "within_process_cv", "n_steps", "n_steps_total", "step_time_min_s",
    "throughput_img_s", "throughput_min_img_s", "throughput_max_img_s", "process_throughputs",
    "flops_per_step", "achieved_flops", "peak_flops", "fraction_of_peak", "above_peak",
    "time_to_first_step_s", "warm_first_step_s", "n_cold_starts", "n_warm_starts",
    "time_to_steady_state_s", "steady_state_step", "steady_state_reached",
    "compile_warnings", "wall_s", "error_tail",
]


def _int(v: Any) -> int | None:
    x = num(v)
    return None if x is None else int(x)


def _median(values: Sequence[Any]) -> float | None:
    xs = [x for x in (num(v) for v in values) if x is not None]
    return float(np.median(xs)) if xs else None


def _max(values: Sequence[Any]) -> float | None:
    xs = [x for x in (num(v) for v in values) if x is not None]
    return max(xs) if xs else None


# --------------------------------------------------------------------------- steady state


def steady_state(series: Sequence[float], band: tuple[float, float], warm: int | None = None,
                 window: int = STEADY_WINDOW) -> tuple[int, float] | None:
    """(k, seconds): where the steady state begins in a process's step series, and the time of the
    steps before it; None when it never does.

    k is the first step that is no slower than ``band`` and whose rolling median over steps
    k..k+window-1 (or what fits) lies within it, and that comes after every spike (a step over
    SPIKE_FACTOR × the band's top: a recompile, a CUDA-graph recording) among the first ``warm``
    steps (the first and warm-up steps; all of them when None): a median alone would step over those.
    """
    t = [float(x) for x in series]
    low, high = band
    head = t if warm is None else t[:warm]
    start = max((i + 1 for i, x in enumerate(head) if x > SPIKE_FACTOR * high), default=0)
    for k in range(start, len(t)):
        m = float(np.median(t[k:k + window]))
        if t[k] <= high and low <= m <= high:
            return k, float(sum(t[:k]))
    return None


# A process's step times (first, warm-up, timed steps) and how many come before the timed ones.
Series = tuple[list[float], int]


def _step_series(steps: pd.DataFrame | None) -> dict[tuple[str, str, int], Series]:
    """(run_id, cell_id, repeat) -> the process's step series, in step order (``Series``)."""
    if steps is None or steps.empty:
        return {}
    s = steps[steps["phase"].isin(STEADY_PHASES) & steps["step_time_s"].notna()]
    if s.empty:
        return {}
    rep = s["repeat"].fillna(1).astype(int) if "repeat" in s else pd.Series(1, index=s.index)
    s = s.assign(_rep=rep).sort_values(["run_id", "cell_id", "_rep", "step"], kind="stable")
    return {(str(r), str(c), int(k)): ([float(x) for x in g["step_time_s"]],
                                       int((g["phase"] != "timed").sum()))
            for (r, c, k), g in s.groupby(["run_id", "cell_id", "_rep"], sort=False)}


def process_steady_state(row: dict[str, Any], series: Series | None) -> tuple[int, float] | None:
    """One ok process's steady state (module docstring); from the cells row alone (first step and
    warm-up times) when its steps are not given."""
    band = steady_band(row)
    if band is None:
        return None
    if not series or not series[0]:
        first = num(row.get("time_to_first_step_s"))
        warm = row.get("warmup_step_times_s")
        warm = [x for x in (num(v) for v in warm) if x is not None] if isinstance(warm, (list, tuple)) else []
        series = (([first] if first is not None else []) + warm, None)
    return steady_state(series[0], band, series[1])


def steady_band(row: dict[str, Any]) -> tuple[float, float] | None:
    """The process's steady-state band: the CI of its timed median, widened to the p10-p90 of its
    timed steps where that is wider (a 3-step rolling median of steady steps stays inside it ~94% of
    the time; the CI of a 30-step median alone is too narrow for it)."""
    vals = [num(row.get(k)) for k in ("step_time_ci_low_s", "step_time_ci_high_s", "step_time_median_s")]
    if any(v is None for v in vals):
        return None
    lows = [v for v in (vals[0], vals[2], num(row.get("step_time_p10_s"))) if v is not None]
    highs = [v for v in (vals[1], vals[2], num(row.get("step_time_p90_s"))) if v is not None]
    return min(lows), max(highs)


# --------------------------------------------------------------------------- one cell


def warm_start(row: dict[str, Any]) -> bool:
    """Whether this process's compile found a cache filled by an earlier process of its cell (only
    where the run shares one). The worker's cache counters decide: a warm start compiles nothing
    (hits, no miss); a cold one misses, even if it hits its own earlier graphs (a module compiled
    twice in one process)."""
    flags = row.get("flags") if isinstance(row.get("flags"), dict) else {}
    if flags.get("compile_cache") != "shared":
        return False
    hits = sum(_int(flags.get(k)) or 0 for k in ("fxgraph_cache_hits", "autograd_cache_hits"))
    misses = sum(_int(flags.get(k)) or 0 for k in ("fxgraph_cache_misses", "autograd_cache_misses"))
    return hits > 0 and misses == 0


def _process_key(row: dict[str, Any], blocks: list[Any]) -> Any:
    """The key ratio_ci pairs on: the schedule block when known (and unique in the cell), else one
    that never matches another cell's."""
    block = _int(row.get("block"))
    if block is not None and blocks.count(block) == 1:
        return block
    return f"{row['cell_id']}#r{_int(row.get('repeat')) or 1}"


def summarize_cell(procs: list[dict[str, Any]], series: dict[tuple[str, str, int], Series]) -> dict[str, Any]:
    """One cell's summary from its process rows (module docstring)."""
    procs = sorted(procs, key=lambda r: (_int(r.get("repeat")) or 1, _int(r.get("order")) or 0))
    ok = [r for r in procs if r.get("status") == "ok" and num(r.get("step_time_median_s")) is not None]
    not_ok = [r for r in procs if r.get("status") != "ok"]
    base = dict(ok[0] if ok else procs[0])
    for col in PROCESS_ONLY:
        base.pop(col, None)
    out: dict[str, Any] = {**base}
    out["n_processes"], out["n_ok"] = len(procs), len(ok)
    out["shown_repeat"] = _int(ok[0].get("repeat")) or 1 if ok else None
    out["failures"] = [{"repeat": _int(r.get("repeat")) or 1, "status": r.get("status"),
                        "reason": r.get("reason")} for r in not_ok]
    if ok:
        out["status"] = "ok"
        bad = [r for r in not_ok if r.get("status") != "skipped"]
        out["partial"] = bool(bad)
        out["reason"] = _partial_reason(bad, len(procs)) if bad else None
        out["error_tail"] = next((r.get("error_tail") for r in bad if r.get("error_tail")), None)
    else:
        first = next((r for r in procs if r.get("status") != "skipped"), procs[0])
        out.update(status=first.get("status"), reason=first.get("reason"), partial=False,
                   error_tail=first.get("error_tail"))

    meds = [float(r["step_time_median_s"]) for r in ok]
    blocks = [_int(r.get("block")) for r in ok]
    out["process_medians"] = {_process_key(r, blocks): float(r["step_time_median_s"]) for r in ok}
    out["process_repeats"] = tuple(_int(r.get("repeat")) or 1 for r in procs)
    out["process_blocks"] = tuple(_int(r.get("block")) for r in procs)
    out["process_orders"] = tuple(_int(r.get("order")) for r in procs)
    out["step_time_median_s"] = float(np.median(meds)) if meds else None
    ci = median_ci(meds)
    out["step_time_ci_low_s"], out["step_time_ci_high_s"], out["step_time_ci_coverage"] = ci or (None,) * 3
    out["between_process_cv"] = cv(meds)
    out["within_process_cv"] = _median([r.get("step_time_cv") for r in ok])
    out["n_steps"] = _int(_median([r.get("n_steps") for r in ok])) if ok else 0
    out["n_steps_total"] = sum(_int(r.get("n_steps")) or 0 for r in ok)
    out["step_time_min_s"] = min((num(r.get("step_time_min_s")) for r in ok if num(r.get("step_time_min_s"))),
                                 default=None)
    for col in MEDIAN_COLUMNS:
        if col in base:
            out[col] = _median([r.get(col) for r in ok])
    thr = [x for x in (num(r.get("throughput_img_s")) for r in ok) if x is not None]
    out["process_throughputs"] = tuple(thr)
    out["throughput_img_s"] = float(np.median(thr)) if thr else None
    out["throughput_min_img_s"], out["throughput_max_img_s"] = (min(thr), max(thr)) if thr else (None, None)
    for col in MAX_COLUMNS:
        if col in base:
            out[col] = _max([r.get(col) for r in (ok or procs)])
    _flops(out)
    cold = [r for r in ok if not warm_start(r)]
    warm = [r for r in ok if warm_start(r)]
    out["n_cold_starts"], out["n_warm_starts"] = len(cold), len(warm)
    out["time_to_first_step_s"] = _median([r.get("time_to_first_step_s") for r in cold])
    out["warm_first_step_s"] = _median([r.get("time_to_first_step_s") for r in warm])
    steady = [process_steady_state(r, series.get((str(r["run_id"]), str(r["cell_id"]),
                                                  _int(r.get("repeat")) or 1))) for r in cold]
    reached = [s for s in steady if s is not None]
    out["time_to_steady_state_s"] = _median([s[1] for s in reached])
    _generate_columns(out, ok, cold)
    out["steady_state_step"] = _median([s[0] for s in reached])
    out["steady_state_reached"] = len(reached)
    warns = [w for r in ok for w in (r.get("compile_warnings") or []) if isinstance(w, str)]
    out["compile_warnings"] = list(dict.fromkeys(warns))
    walls = [num(r.get("wall_s")) for r in procs]
    out["wall_s"] = sum(w for w in walls if w is not None) if any(w is not None for w in walls) else None
    return out


def _generate_columns(out: dict[str, Any], ok: list[dict[str, Any]], cold: list[dict[str, Any]]) -> None:
    """A generate cell's own columns over its processes (none for a cell without them, so the summaries
    of runs from before the scenario keep their columns)."""
    p99 = [x for x in (num(r.get("latency_p99_s")) for r in ok) if x is not None]
    if not p99:
        return
    out["latency_p99_s"] = float(np.median(p99))
    out["latency_p99_ci_low_s"], out["latency_p99_ci_high_s"], _ = median_ci(p99) or (None,) * 3
    for col in ("build_s", "step_latency_median_s"):
        out[col] = _median([r.get(col) for r in ok])
    out["cold_start_s"] = _median([r.get("cold_start_s") for r in cold])


def _partial_reason(bad: list[dict[str, Any]], n: int) -> str:
    """"1 of 3 processes failed: <reason>" (the first one's reason)."""
    statuses = list(dict.fromkeys(str(r.get("status")) for r in bad))
    what = statuses[0] if len(statuses) == 1 else f"not ok ({', '.join(statuses)})"
    why = bad[0].get("reason")
    return f"{len(bad)} of {n} processes {what}" + (f": {why}" if why else "")


def _flops(out: dict[str, Any]) -> None:
    flops, med = num(out.get("flops_per_step")), num(out.get("step_time_median_s"))
    peak = num(out.get("peak_flops"))
    out["achieved_flops"] = flops / med if flops is not None and med else None
    frac = out["achieved_flops"] / peak if out["achieved_flops"] is not None and peak else None
    out["fraction_of_peak"] = frac
    out["above_peak"] = bool(frac is not None and frac > 1.0)


# --------------------------------------------------------------------------- a table of cells


def cell_summaries(cells: pd.DataFrame, steps: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (run_id, cell_id), in the order cells first appear; ``steps`` (the steps table)
    gives the timed steps for the time to steady state (without it, first and warm-up steps only)."""
    if cells is None or cells.empty:
        cols = list(cells.columns) if cells is not None else []
        keep = [c for c in cols if c not in PROCESS_ONLY]
        return pd.DataFrame(columns=list(dict.fromkeys([*keep, *SUMMARY_COLUMNS])))
    series = _step_series(steps)
    rows = cells.astype(object).where(cells.notna(), None).to_dict(orient="records")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((str(r["run_id"]), str(r["cell_id"])), []).append(r)
    out = [summarize_cell(procs, series) for procs in groups.values()]
    first = [c for c in cells.columns if c not in PROCESS_ONLY]
    columns = list(dict.fromkeys([*first, *SUMMARY_COLUMNS, *(k for r in out for k in r)]))
    df = pd.DataFrame(out, columns=columns)
    for col in df.columns:
        if col in cells.columns and pd.api.types.is_numeric_dtype(cells[col]):
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


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
