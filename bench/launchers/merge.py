"""The merge rule: a slot's ranks' results and step rows -> the one record the store keeps.

Data-parallel ranks run the same steps in lock step, so a step of the slot ends when every rank's has:

- **step times**: per step (same index and phase), the slowest rank's; the step-time summary, the
  first step and the warm-up are computed from those (``bench.stats.summarize_step_times``);
- **throughput**: N x per-rank batch / the slot's time: over the throughput window (the slowest rank's
  window time) when one ran, else over the merged median step (weak scaling: each rank trains its own
  batch, ``flags.batch_size``);
- **memory**: the largest rank's value of each peak (what one device, or one rank's process, must
  hold; ranks on one host share its RAM, so their sum is per-rank values x N, kept in ``flags.ranks``);
- **FLOPs**: the ranks' sum per step over the merged median step; no fraction of a single device's
  peak is stated for several ranks;
- **losses** (step rows and final losses), versions and flags: rank 0's (each rank trains on its own
  shard; rank 0 is the one a user's script logs), but the time in communication per step
  (``comm_ms_per_step``) is the ranks' mean. Recompiles add up; warnings keep the rank's name.

A slot whose ranks did not all end ``ok`` is the first such rank's record ("rank k: " before its reason).
A slot of one rank is its rank's record, untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bench.results.records import Cell, CellResult, StepRecord
from bench.stats import summarize_step_times

RANK_MERGE = ("ranks merged: slowest rank per step; throughput N x per-rank batch / slot time; "
              "memory: largest rank's; losses: rank 0's")
# Per-rank fields kept in flags["ranks"] (scaling reports read them; issue 21).
RANK_FIELDS = ("status", "step_time_median_s", "throughput_img_s", "time_to_first_step_s", "peak_rss_bytes",
               "device_alloc_peak_bytes", "nvml_peak_bytes")
# Per-rank flags kept in flags["ranks"] too; the slot's value of each is the ranks' mean.
RANK_FLAGS = ("comm_ms_per_step",)
MAX_FIELDS = ("peak_rss_bytes", "peak_rss_children_bytes", "rss_after_import_bytes",
              "device_alloc_peak_bytes", "device_reserved_peak_bytes", "device_alloc_steady_peak_bytes",
              "nvml_peak_bytes", "nvml_steady_peak_bytes")


class RankMismatch(ValueError):
    """The ranks' step rows do not line up (a rank ran other steps): no slot record can be formed."""


def merge_ranks(cell: Cell, results: Sequence[CellResult],
                steps: Sequence[Sequence[StepRecord]]) -> tuple[CellResult, list[StepRecord]]:
    """The slot's record and step rows from its ranks' (rank order): every rank of the slot, or this
    machine's where the ranks span several (``flags.world_size`` names them all: every step ends in
    the all-reduce, so a local rank's step includes waiting for the remote ones). Raises RankMismatch."""
    world = max(len(results), *(int(r.flags.get("world_size") or 1) for r in results))
    if world == 1:
        return results[0], list(steps[0])
    bad = next((k for k, r in enumerate(results) if r.status != "ok"), None)
    if bad is not None:
        r = results[bad]
        return replace(r, reason=f"rank {r.flags.get('rank', bad)}: {r.reason or r.status}"), list(steps[bad])
    n = world
    rows = _slowest_per_step(steps)
    base = results[0]
    merged = replace(base, flags=dict(base.flags), compile_warnings=list(base.compile_warnings))
    merged.time_to_first_step_s = _max(r.time_to_first_step_s for r in results)
    merged.warmup_step_times_s = _times(rows, "warmup")
    timed = _times(rows, "timed")
    if timed:
        merged.__dict__.update(summarize_step_times(timed))
    batch = int(base.flags.get("batch_size") or cell.batch_size or 0)
    merged.window_time_s = _max(r.window_time_s for r in results)
    median = merged.step_time_median_s
    if merged.window_steps and merged.window_time_s:
        merged.throughput_img_s = n * merged.window_steps * batch / merged.window_time_s
    elif median and batch:
        merged.throughput_img_s = n * batch / median
    flops = [r.flops_per_step for r in results]
    merged.flops_per_step = None if None in flops else sum(f for f in flops if f is not None) * n / len(flops)
    merged.achieved_flops = merged.flops_per_step / median if merged.flops_per_step and median else None
    merged.peak_flops = merged.fraction_of_peak = None
    recompiles = [r.recompiles for r in results if r.recompiles is not None]
    merged.recompiles = sum(recompiles) if recompiles else None
    for k, r in enumerate(results[1:], 1):
        merged.compile_warnings += [f"rank {k}: {w}" for w in r.compile_warnings]
    for name in MAX_FIELDS:
        setattr(merged, name, _max(getattr(r, name) for r in results))
    utils = [r.gpu_util_mean for r in results if r.gpu_util_mean is not None]
    merged.gpu_util_mean = sum(utils) / len(utils) if utils else None
    merged.wall_s = _max(r.wall_s for r in results)
    merged.started_at = min((r.started_at for r in results if r.started_at), default=None)
    merged.finished_at = max((r.finished_at for r in results if r.finished_at), default=None)
    merged.flags.update(world_size=n, rank_merge=RANK_MERGE,
                        ranks=[{"rank": r.flags.get("rank", k), **{f: getattr(r, f) for f in RANK_FIELDS},
                                **{f: r.flags[f] for f in RANK_FLAGS if f in r.flags}}
                               for k, r in enumerate(results)])
    for name in RANK_FLAGS:
        values = [r.flags.get(name) for r in results]
        if all(isinstance(v, int | float) for v in values):
            merged.flags[name] = sum(values) / len(values)
    return merged, rows


def _slowest_per_step(steps: Sequence[Sequence[StepRecord]]) -> list[StepRecord]:
    """Rank 0's rows, each step's time the slowest rank's."""
    keys = [[(r.step, r.phase) for r in rows] for rows in steps]
    for k, other in enumerate(keys[1:], 1):
        if other != keys[0]:
            raise RankMismatch(f"rank {k} recorded {len(other)} step(s) that do not match rank 0's "
                               f"{len(keys[0])}")
    out = []
    for i, row in enumerate(steps[0]):
        times = [rows[i].step_time_s for rows in steps]
        out.append(replace(row, step_time_s=None if any(t is None for t in times) else max(times)))
    return out


def _times(rows: Sequence[StepRecord], phase: str) -> list[float]:
    return [r.step_time_s for r in rows if r.phase == phase and r.step_time_s is not None]


def _max(values: Any) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None
