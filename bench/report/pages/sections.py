"""Markdown sections shared by the front page and the model pages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from bench.analysis.parity import Parity
from bench.analysis.tables import records
from bench.cell import parse_cell_id
from bench.errors import BenchError
from bench.labels import SHIPPED_DEFAULTS, cell_label, framework_label, group_label
from bench.markdown import fmt_ms, fmt_ms_ci, fmt_pct, fmt_ratio, fmt_sig, fmt_value, md_table, truncate
from bench.results.load import RunData, RunSet
from bench.stats import num
from bench.vocab import CELL_STATUSES

# Raw probe outputs repeat the framework summary next to them; the table shows the summary. The stored
# fingerprint hash and environment.json's own schema are left out: the runs table gives the machine's
# one id and the run's schema.
_ENV_SKIP = re.compile(r"^(frameworks\.[^.]+\.probe(\.|$)|fingerprint\.hash$|schema$)")


def status_text(row: dict[str, Any]) -> str:
    status = str(row.get("status"))
    reason = row.get("reason")
    if not isinstance(reason, str) or not reason.strip() or (status == "ok" and not row.get("partial")):
        return status
    return f"{status}: {truncate(reason)}"


def processes_text(row: dict[str, Any]) -> str:
    """"3/3": ok processes of the cell's processes."""
    return f"{int(num(row.get('n_ok')) or 0)}/{int(num(row.get('n_processes')) or 0)}"


def step_ms(row: dict[str, Any], unit: str = "") -> str:
    """The cell's median step time in ms with its CI over processes ("572 [560–590, 75%]"), ``unit``
    after the number."""
    return fmt_ms_ci(row.get("step_time_median_s"), row.get("step_time_ci_low_s"),
                     row.get("step_time_ci_high_s"), row.get("step_time_ci_coverage"),
                     int(num(row.get("n_ok")) or 0), unit)


def peak_text(row: dict[str, Any]) -> str:
    """"41% of peak"; never a fraction above 1 (that is a bug, explained in the notes)."""
    if row.get("above_peak"):
        return "above the measured peak (see notes)"
    frac = num(row.get("fraction_of_peak"))
    return "" if frac is None else f"{fmt_pct(frac, 0 if frac >= 0.1 else 1)} of peak"


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


def _orders(row: dict[str, Any]) -> str:
    orders = row.get("process_orders") or ()
    if all(o is None for o in orders):
        return "–"
    return ", ".join("–" if o is None else str(o) for o in orders)


def spread_table(rows: list[dict[str, Any]], multi_run: bool) -> str:
    """Per cell: its processes (place in the run's order, median of each), the median over processes
    with its CI, and the spread between and within processes."""
    body = []
    for r in rows:
        med = num(r.get("step_time_median_s"))
        if med is None:
            continue
        meds = r.get("process_medians") or {}
        body.append(
            [
                cell_label(r, model=False, run=multi_run),
                processes_text(r),
                _orders(r),
                ", ".join(fmt_ms(v) for v in meds.values()),
                step_ms(r),
                fmt_pct(r.get("between_process_cv")),
                fmt_pct(r.get("within_process_cv")),
                str(int(num(r.get("n_steps")) or 0)),
                fmt_ms(r.get("step_time_iqr_s")),
                fmt_ms(r.get("step_time_min_s")),
                fmt_pct(r.get("step_time_drift")),
            ]
        )
    if not body:
        return "No timed steps.\n"
    return md_table(
        ["cell", "processes", "order", "process medians ms", "median ms [CI, coverage]", "CV between",
         "CV within", "timed steps", "IQR ms", "min ms", "drift"],
        body,
        "llllrrrrrrr",
    )


SPREAD_LEGEND = (
    "processes: ok / measured; order: each process's place in the run's schedule (0 first); process "
    "medians: each process's median step time; median: their median with the order-statistic CI of it and "
    "the CI's exact coverage (no interval for one process); CV between: spread of the process medians; CV "
    "within: median over processes of the step-time CV; IQR and drift (the median's fall from the first to "
    "the second half of the timed steps): medians over processes; min: the fastest step of any process."
)


def shards_text(r: RunData) -> str:
    """A sentence on the shards a merged run came from (bench.report.shards), or ""."""
    shards = r.shards
    if not shards:
        return ""
    runs = shards["runs"]
    given = ", ".join(f"{k}/{shards.get('m')} `{v}`" for k, v in runs.items())
    partial = "" if len(runs) == shards.get("m") else f" (only {len(runs)} of {shards.get('m')} shards given)"
    return (f" The schedule was cut into {shards.get('m')} shards (`bench all --shard K/M`, whole "
            f"{shards.get('unit')}s each, on machines of one fingerprint), merged here from shard(s) "
            f"{given}{partial}; a process's order is its place in the whole plan.")


def schedule_text(runs: Sequence[RunData]) -> str:
    """How each run ordered its processes (run.json's schedule), one paragraph and table per run."""
    out = []
    for r in runs:
        at = f"Run `{r.run_id}`: " if len(runs) > 1 else ""
        sched = r.meta.get("schedule")
        if not isinstance(sched, list) or not sched:
            out.append(f"{at}One process per cell, in the order of the matrix (stored before replication): "
                       "no spread between processes, so no intervals.\n")
            continue
        blocks: dict[Any, list[dict[str, Any]]] = {}
        for e in sorted((e for e in sched if isinstance(e, dict)), key=lambda e: num(e.get("order")) or 0):
            blocks.setdefault(e.get("block"), []).append(e)
        repeats = r.meta.get("repeats") or (r.meta.get("settings") or {}).get("repeats")
        seed = fmt_value(r.meta.get("schedule_seed"))
        groups = r.meta.get("headline_groups")
        abba = (" Each headline comparison's two processes ran next to each other, in ABBA order (A B in "
                "odd repeats, B A in even ones), so that a slow spell falls on both." if groups else "")
        out.append(
            f"{at}Each cell ran in {fmt_value(repeats)} fresh processes, {len(sched)} in all, in "
            f"{len(blocks)} blocks (seed {seed}): a block holds every cell of one model once, in a "
            "seeded-random order, so that no framework's processes all ran early or late, and ratios pair "
            f"the cells of a block.{abba}{shards_text(r)} The order:\n\n")
        body = [[fmt_value(b), fmt_value(es[0].get("repeat")), _block_model(es),
                 f"{fmt_value(es[0].get('order'))}–{fmt_value(es[-1].get('order'))}", _block_cells(es)]
                for b, es in blocks.items()]
        out.append(md_table(["block", "repeat", "model", "order", "processes, in order"], body, "rrlrl"))
    return "".join(out)


def _gflops(peaks: Any) -> str:
    if not isinstance(peaks, dict):
        return "–"
    return ", ".join(f"{p} {fmt_sig(v / 1e9, 4)}" for p, v in peaks.items() if num(v) is not None) or "–"


def _peak_origin(roof: dict[str, Any]) -> str:
    pin = roof.get("pinned")
    if not isinstance(pin, dict):
        return ("measured by this run alone (one probe, before pinned peaks): a re-run measures "
                "another "
                "peak, so its fraction of peak is not comparable across runs")
    when = str(pin.get("probed_at") or "")[:10]
    reused = "read from the machine's pinned file" if pin.get("reused") else "measured now and pinned"
    return (f"pinned for machine `{fmt_value(pin.get('fingerprint'))}`: best of "
            f"{fmt_value(pin.get('probes'))} probes on {when or '–'}, {reused} "
            "(`--reprobe-peak` measures it again)")


def peaks_text(runs: Sequence[RunData]) -> str:
    """The device peaks each run's fraction of peak divides by (its roofline files), and where they
    came from: pinned for the machine (bench.host.pinned_peak), or measured by the run alone."""
    lines = []
    for r in runs:
        at = f"run `{r.run_id}`, " if len(runs) > 1 else ""
        for device, roof in sorted(r.rooflines.items()):
            if num(roof.get("peak_flops")) is None:
                lines.append(f"- {at}{device.upper()}: no peak measured ({fmt_value(roof.get('error'))}).\n")
                continue
            matmul = roof.get("matmul_flops_by_precision")
            ceilings = roof.get("peak_flops_by_precision") or {"fp32": roof.get("peak_flops")}
            shown_apart = isinstance(matmul, dict) and matmul != ceilings
            detail = f" (matmul alone: {_gflops(matmul)})" if shown_apart else ""
            lines.append(f"- {at}{device.upper()} peak, GFLOP/s: {_gflops(ceilings)}{detail}; "
                         f"{_peak_origin(roof)}.\n")
    if not lines:
        return ""
    return ("\nDevice peaks behind every fraction of peak (the best matmul rate of the frameworks and numpy; "
            "a reduced precision's ceiling is the faster of its matmul and fp32's):\n\n" + "".join(lines))


def _cell_of(entry: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return parse_cell_id(str(entry.get("cell_id"))).to_dict()
    except BenchError:
        return None


def _block_model(entries: list[dict[str, Any]]) -> str:
    models = dict.fromkeys(str(c["model"]) for e in entries if (c := _cell_of(e)))
    return ", ".join(models) or "–"


def _block_cells(entries: list[dict[str, Any]]) -> str:
    """Each process as "framework mode", plus the axes that are not the shipped default (and the
    device when the block has several)."""
    cells = [_cell_of(e) for e in entries]
    devices = {c["device"] for c in cells if c}
    labels = []
    for e, c in zip(entries, cells, strict=True):
        if c is None:
            labels.append(str(e.get("cell_id")))
            continue
        extra = [str(c[a]) for a, v in SHIPPED_DEFAULTS.items() if c.get(a) != v]
        extra += [str(c["device"])] if len(devices) > 1 else []
        labels.append(" ".join([framework_label(str(c["framework"])), str(c["mode"]), *extra]))
    return "; ".join(labels)


def failures_section(rows: list[dict[str, Any]], multi_run: bool) -> str:
    parts = []
    for r in rows:
        if r["status"] == "ok" and not r.get("partial"):
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
