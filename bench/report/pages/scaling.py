"""A model page's *Scaling* section: cells of several data-parallel ranks (``workers`` > 1) against the
same cell of one rank, with the scaling efficiency E(N) = throughput(N) / (N x throughput(1)).

Empty (and so absent) where a page has no ok cell of several ranks: pages of one-rank runs stay as
they were. Throughput is the slot's global images/s (bench.launchers.merge: N x per-rank batch / the
slowest rank's time). Each row says its batch rule (flag ``global_batch_rule``: weak, each rank the
cell's batch; strong, the cell's batch shared by the ranks), and E(N) is the same ratio under both: the
one-rank cell at the cell's batch is the baseline of either. E(N)'s interval is the CI of the ratio of
the two cells' median process throughputs (bench.stats.median_ratio_ci, unpaired), / N. The comm share
is the all-reduce time per step that the framework exposes (``comm_ms_per_step``, the ranks' mean) over
the slot's median step; memory per rank is each rank's peak (``flags.ranks``).
"""

from __future__ import annotations

from typing import Any

from bench.cell import IMPLICIT_DEFAULTS
from bench.labels import framework_label
from bench.markdown import fmt_coverage, fmt_mib, fmt_pct, fmt_processes, fmt_sig, md_escape, md_table
from bench.stats import median_ratio_ci, num

# The axes two cells must share to be the same cell at another rank count.
SAME_CELL = ("run_id", "model", "framework", "mode", "device", "precision", "batch_size", "variant",
             "scenario")

SCALING_LEGEND = (
    "**rule**: weak scaling, each rank trains the cell's batch, so N ranks train N × batch images per "
    "step; strong scaling, the N ranks share the cell's batch, each training batch / N. **batch** is the "
    "global batch (per rank × N). **images/s** is the global rate (global batch / the slowest rank's "
    "time, as a step ends when every rank's does), **per rank** is it / N. **E(N)** = images/s(N) / (N × "
    "images/s(1)), the one-rank cell at the same batch, with its interval over the cells' processes (1: "
    "perfect scaling; under strong scaling it is the speed-up / N). **comm** is the time per step in the "
    "gradient all-reduce where the framework exposes it (how: each cell's flag `comm_time_method`; "
    "the ranks' mean, overlapping the backward pass) over the median step, – where it does not. **memory "
    "per rank** is each rank's peak (device allocator on CUDA, RSS on CPU). **threads** is threads per rank "
    "× ranks, each set explicitly: on one CPU host the ranks share its cores (the run's threads, "
    "`--threads` or the physical cores, split among the ranks), so N ranks × t threads against 1 rank "
    "× N·t threads compares processes and an all-reduce with threads on the same cores, not more "
    "hardware; against 1 rank × t threads (`--threads t`) it is N times the cores. Each rank trains "
    "the same synthetic batches. **compares** says which of the two each row is.")


def _workers(row: dict[str, Any]) -> int:
    return int(row.get("workers") or IMPLICIT_DEFAULTS.get("workers", 1))


def _per_rank(row: dict[str, Any]) -> int | None:
    flags = row.get("flags") if isinstance(row.get("flags"), dict) else {}
    value = flags.get("threads_per_rank", flags.get("intra_op_threads"))
    return int(value) if isinstance(value, int | float) else None


def _threads(row: dict[str, Any]) -> str:
    per_rank = _per_rank(row)
    return "–" if per_rank is None else f"{per_rank} × {_workers(row)}"


def _compares(one: dict[str, Any], many: dict[str, Any]) -> str:
    """What the pair compares, from the threads each side ran (the caveat, per row)."""
    a, b = _per_rank(one), _per_rank(many)
    if a is None or b is None:
        return "threads unknown"
    total = b * _workers(many)
    if total == a:
        return "processes vs threads (same thread count)"
    return f"{total / a:g}× the threads"


def _flags(row: dict[str, Any] | None) -> dict[str, Any]:
    flags = (row or {}).get("flags")
    return flags if isinstance(flags, dict) else {}


def _rule(row: dict[str, Any]) -> str:
    text = str(_flags(row).get("global_batch_rule") or "")
    return text.split(" ", 1)[0] if text else "weak"  # runs stored before the flag: weak scaling


def _global_batch(row: dict[str, Any]) -> str:
    flags, n = _flags(row), _workers(row)
    per_rank = flags.get("batch_size")
    if not isinstance(per_rank, int):
        return f"b{row['batch_size']}"
    return f"{per_rank * n} ({per_rank} × {n})"


def _comm_share(row: dict[str, Any]) -> str:
    comm, median = num(_flags(row).get("comm_ms_per_step")), num(row.get("step_time_median_s"))
    if comm is None or not median:
        return "–"
    return f"{fmt_pct(comm / 1e3 / median, 0)} ({comm:.1f} ms)"


def _memory(row: dict[str, Any]) -> str:
    ranks = [r for r in _flags(row).get("ranks") or () if isinstance(r, dict)]
    key = "device_alloc_peak_bytes" if row.get("device") == "cuda" else "peak_rss_bytes"
    values = [num(r.get(key)) for r in ranks]
    if not values or None in values:
        return "–"
    return " / ".join(fmt_mib(v) for v in values)


def _efficiency(one: dict[str, Any], many: dict[str, Any]) -> str:
    n = _workers(many)
    c = median_ratio_ci(tuple(one.get("process_throughputs") or ()),
                        tuple(many.get("process_throughputs") or ()))
    if c is None:
        return "–"
    if c.low is None or c.high is None:
        return f"{c.ratio / n:.2f} ({fmt_processes(c.n)})"
    return f"{c.ratio / n:.2f} [{c.low / n:.2f}–{c.high / n:.2f}, {fmt_coverage(c.confidence)}]"


def scaling_series(rows: list[dict[str, Any]]) -> list[Any]:
    """Each cell of several ranks with its one-rank cell, as a plot's series (bench.report.plots):
    global images/s per rank count and E(N) (median ratio of the process throughputs / N)."""
    from bench.report.plots import ScalingSeries

    ok = [r for r in rows if r.get("status") == "ok" and num(r.get("throughput_img_s")) is not None]
    by_cell: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = {}
    for r in ok:
        by_cell.setdefault(_key(r), {})[_workers(r)] = r
    out = []
    for cell in by_cell.values():
        if len(cell) < 2 or 1 not in cell:
            continue
        ranks = tuple(sorted(cell))
        effs = []
        for n in ranks:
            c = median_ratio_ci(tuple(cell[1].get("process_throughputs") or ()),
                                tuple(cell[n].get("process_throughputs") or ())) if n > 1 else None
            effs.append(c.ratio / n if c is not None else None)
        r = cell[1]
        variant = "" if r.get("variant") in (None, "default") else f" {r['variant']}"
        label = f"{framework_label(r['framework'])} {r['mode']}{variant} {r['precision']} b{r['batch_size']}"
        out.append(ScalingSeries(label, str(r["framework"]), ranks,
                                 tuple(float(num(cell[n]["throughput_img_s"]) or 0.0) for n in ranks),
                                 tuple(effs)))
    return out


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(r.get(a, IMPLICIT_DEFAULTS.get(a)) for a in SAME_CELL)


def scaling_section(model: str, rows: list[dict[str, Any]]) -> str:
    """The section's Markdown, or "" when the page has no ok cell of several ranks."""
    ok = [r for r in rows if r.get("status") == "ok" and num(r.get("throughput_img_s")) is not None]
    many = [r for r in ok if _workers(r) > 1]
    if not many:
        return ""

    key = _key
    ones = {key(r): r for r in ok if _workers(r) == 1}
    body = []
    for r in sorted(many, key=lambda r: (str(key(r)), _workers(r))):
        one = ones.get(key(r))
        n = _workers(r)
        thr = num(r["throughput_img_s"]) or 0.0
        body.append([
            md_escape(framework_label(r["framework"])), r["mode"], r["device"], r["precision"],
            md_escape(str(r.get("variant") or "default")), _rule(r),
            _global_batch(r), str(n), _threads(r), _threads(one) if one else "–",
            fmt_sig(num(one["throughput_img_s"])) if one else "–", fmt_sig(thr), fmt_sig(thr / n),
            _efficiency(one, r) if one else "no 1-rank cell", _comm_share(r), _memory(r),
            _compares(one, r) if one else "–",
        ])
    headers = ["framework", "mode", "device", "precision", "variant", "rule", "batch", "ranks", "threads",
               "threads (1 rank)", "images/s (1 rank)", "images/s (N ranks)", "per rank", "E(N)", "comm",
               "memory per rank (MiB)", "compares"]
    return f"## Scaling\n\n{md_table(headers, body)}\n{SCALING_LEGEND}\n\n"
