"""The *Generation* section of a model page: its generate cells (bench/scenarios/generate.py), one row
per runtime (framework and mode), from the stored results; "" for a page without generate cells, so
the pages of runs without them are unchanged."""

from __future__ import annotations

from typing import Any

from bench.labels import framework_label
from bench.markdown import fmt_mib, fmt_ms_ci, fmt_s, fmt_sig, md_escape, md_table
from bench.stats import median_ci_coverage, num

GENERATION_LEGEND = (
    "One generate call: the family's generative path in inference mode ({what}). Latency: one call at "
    "batch 1, each timed on the host clock up to a full device sync and the read of the images' mean, "
    "after a warm-up; every process times calls until both a minimum count and a minimum duration are "
    "reached (the cell's flags timed_min_calls / timed_min_s). p50: the median over processes of each "
    "process's median, with the order-statistic CI over processes and its coverage; p99: likewise for "
    "each process's 99th percentile. Per step: p50 over the denoising steps of one call. Throughput: "
    "images/s at the batch shown, over windows of calls with one sync at each end. Build: the model, "
    "its weights and its module wrapped for the mode; first call: at batch 1, tracing or compilation "
    "included; cold start: their sum (medians over the processes that compiled cold). Host peak: the "
    "process's peak RSS (maximum over processes).")


def _ms_ci(row: dict[str, Any], median: str, low: str, high: str) -> str:
    n = int(num(row.get("n_ok")) or 0)
    coverage = median_ci_coverage(n) if n > 1 else None
    return fmt_ms_ci(row.get(median), row.get(low), row.get(high), coverage, n)


def generation_section(rows: list[dict[str, Any]], multi: bool) -> str:
    gen = [r for r in rows if r.get("scenario") == "generate"]
    if not gen:
        return ""
    body = []
    for r in sorted(gen, key=lambda r: (str(r.get("framework")), str(r.get("mode")), str(r.get("device")))):
        ok = r.get("status") == "ok"
        steps = num(r.get("denoising_steps"))
        per_step = r.get("step_latency_median_s") if steps else None
        body.append([
            framework_label(str(r.get("framework"))) + (f" @{r.get('run_id')}" if multi else ""),
            md_escape(r.get("mode")), md_escape(r.get("device")), md_escape(r.get("variant")),
            f"{int(steps)}" if steps else "–",
            _ms_ci(r, "step_time_median_s", "step_time_ci_low_s", "step_time_ci_high_s") if ok else "–",
            _ms_ci(r, "latency_p99_s", "latency_p99_ci_low_s", "latency_p99_ci_high_s") if ok else "–",
            fmt_sig(1e3 * per_step) if num(per_step) is not None else "–",
            fmt_sig(r.get("throughput_img_s")) if ok else "–",
            f"{int(r['batch_size'])}" if num(r.get("batch_size")) else "–",
            fmt_s(r.get("build_s")), fmt_s(r.get("time_to_first_step_s")), fmt_s(r.get("cold_start_s")),
            fmt_mib(r.get("peak_rss_bytes")), md_escape(r.get("status")),
        ])
    headers = ["framework", "mode", "device", "variant", "denoising steps", "latency p50 ms [CI]",
               "latency p99 ms [CI]", "per step ms", "throughput img/s", "at batch", "build s",
               "first call s", "cold start s", "host peak MiB", "status"]
    flags = [f for r in gen if isinstance(f := r.get("flags"), dict)]
    what = next((str(f["generate"]) for f in flags if f.get("generate")), "see the cells' flags")
    return "".join(["## Generation\n\n", md_table(headers, body, "lllllrrrrrrrrrl"), "\n",
                     GENERATION_LEGEND.format(what=md_escape(what)), "\n\n", _deployed_table(gen, multi)])


def _deployed_table(gen: list[dict[str, Any]], multi: bool) -> str:
    """The exported runtimes' costs (bench.frameworks.runtime: the flags of their cells), if any."""
    body = []
    for r in gen:
        f = r.get("flags")
        if not isinstance(f, dict) or num(f.get("artefact_bytes")) is None:
            continue
        body.append([framework_label(str(r.get("framework"))) + (f" @{r.get('run_id')}" if multi else ""),
                     md_escape(r.get("mode")), md_escape(r.get("device")), fmt_s(f.get("export_s")),
                     fmt_sig(num(f.get("artefact_bytes")) / 1e6), fmt_s(f.get("load_s")), _parity(f)])
    if not body:
        return ""
    headers = ["framework", "mode", "device", "export s", "artefact MB", "load s", "max abs error vs own"]
    return "".join([md_table(headers, body, "lllrrrr"), "\n", DEPLOYED_LEGEND, "\n\n"])


def _parity(flags: dict[str, Any]) -> str:
    error, bound = num(flags.get("runtime_parity_max_abs")), num(flags.get("runtime_parity_bound"))
    if error is None:
        return "–"
    text = f"{error:.1e}"
    return f"**{text}, above {bound:g}**" if bound is not None and not error <= bound else text


DEPLOYED_LEGEND = (
    "Deployed runtimes: the framework's own inference module exported once per cell (export: the first "
    "process's export, which the cell's other processes load), the artefact's size on disk, the load "
    "of the artefact into its runtime, and the largest absolute difference between the artefact's output "
    "and the framework's own module's on the cell's first batch-1 input (outside every timed call; in "
    "bold above the bound, 1e-3 in fp32).")
