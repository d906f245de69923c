"""reports/<model>.md: one model's comparison, spread, loss-curve parity, charts, flags and failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.analysis.parity import PARITY_SMOOTHING_STEPS, PARITY_TOLERANCE, PARITY_TOLERANCES, Parity
from bench.cell import CELL_AXES
from bench.frameworks.registry import frameworks
from bench.labels import (
    AXIS_HEADERS,
    GROUP_AXES,
    INT_AXES,
    axis_text,
    axis_value,
    framework_label,
    loss_labels,
    parity_note,
    shown_axes,
)
from bench.markdown import (
    fmt_mib,
    fmt_pct,
    fmt_ratio_ci,
    fmt_s,
    fmt_sig,
    fmt_value,
    join_words,
    md_escape,
    md_table,
)
from bench.report.pages.figures import (
    FIGURES_DIR,
    Draw,
    fig_name,
    memory_drawing,
    scaling_drawing,
    throughput_drawing,
)
from bench.report.pages.generation import generation_section
from bench.report.pages.scaling import scaling_section, scaling_series
from bench.report.pages.sections import (
    SPREAD_LEGEND,
    failures_section,
    flags_table,
    parity_compared,
    parity_title,
    peak_text,
    processes_text,
    spread_table,
    status_counts,
    status_text,
    step_ms,
)
from bench.results.load import RunSet
from bench.scenarios import describe as describe_scenario
from bench.stats import NO_CLEAR_WINNER, RatioCI, num
from bench.worker.memory import device_memory_text, host_memory_text

# Axes whose column appears only when the page's cells differ in it.
OPTIONAL_AXIS_COLUMNS = ("batch_size",)
FINAL_LOSS_PREFIX = "final_losses."

COMPARISON_LEGEND = (
    "Each cell ran in one or more fresh processes (processes: ok / measured). Step time: the median over "
    "processes of each process's median synchronised step time, with the order-statistic confidence "
    "interval of that median and its exact coverage (75% for 3 processes, 93.8% for 5; no interval for "
    "one process). CV within / between: the median over processes of the step-time coefficient of "
    "variation, and the spread of the process medians. Throughput: images/s over a window of steps with a "
    "single synchronisation at its end (median over processes). Speed-up: the same framework's eager step "
    "time (same device, precision, batch and variant, else the default variant) divided by this one. vs "
    "other default: the other framework's fastest ok cell in its shipped-default variant (any mode, same "
    "device, precision and batch) divided by this one — above 1× this cell is faster. A ratio is that of "
    "the two medians shown, with its 95% interval from the processes paired by schedule block (t interval "
    "on the per-block log ratios, widened by √(π/2) for a ratio of medians); ≈ marks an interval that "
    "holds 1: no clear winner. First step: time to the first train step, compilation/tracing included; "
    "steady state: "
    "the time before the steady state (from the first step that is no slower than the process's steady "
    "band — the CI of its median, widened to its timed steps' p10–p90 — and whose rolling median of 3 steps "
    "lies in it, after any spike of the warm-up), medians over processes. Memory: peak host RSS of the "
    "process (an in-process compiler such as XLA's included), in brackets its largest finished child's "
    "(compilers and compile workers, e.g. Inductor's) and the RSS right after the framework import; device "
    "allocator peak ({allocators}) and the process's device memory seen by the driver (NVML, one source "
    "per process, the flag nvml_memory_source), each over the whole process and, in brackets, after the "
    "warm-up (peaks reset: cuDNN and autotuning trials excluded); maxima over processes. FLOP/s: analytic "
    "FLOPs "
    "per step ÷ median step time (fraction of the measured peak when a roofline probe ran; a fraction "
    "above 1 is a bug and is explained in the notes instead). Loss: {losses} loss after the last step of "
    "the first ok process."
)
DEFAULT_PARITY_NOTE = (
    "{frameworks} start from identical initial weights and see identical batches, so their loss curves "
    "are expected to be close."
)
PARITY_METHOD = (
    "Compared is how training moves each loss, not its level (a level far from zero that barely moves "
    "would agree whatever the updates did): each curve becomes its change from step 0, smoothed with a "
    "trailing mean over {steps} steps. Change: each side's smoothed change at the last step. Difference: "
    "the mean absolute difference of the two change curves, relative to the largest change either makes. "
    "A pair is flagged when a difference exceeds {tolerance} and is larger than the two curves' gap at "
    "step 0 on the same scale (dropout masks differ from the first step, and that gap persists in every "
    "change). Compared: eager vs eager where both ran, else the closest available modes; the first ok "
    "process of each cell."
)



PARITY_FIGURE_CAPTION = (
    "Each figure: top, every loss's change from step 0 on both sides (thin: per step; thick: smoothed; "
    "solid circles and dashed crosses tell the two sides apart where they overlap); bottom, the "
    "difference of the smoothed changes, with the tolerance (dotted) for scale."
)
THROUGHPUT_CAPTION = (
    "Throughput: each bar is the median over the cell's processes of the images/s of its throughput "
    "window; the error bar spans the slowest to the fastest process (no bar when one process ran). Memory: "
    "the maximum over processes; no error bars."
)


def first_step_text(r: dict[str, Any]) -> str:
    """The first step; where later processes found the cell's compile cache warm, both figures."""
    cold = fmt_s(r.get("time_to_first_step_s"))
    if num(r.get("warm_first_step_s")) is None:
        return cold
    return f"{cold} cold / {fmt_s(r.get('warm_first_step_s'))} warm"

def _allocator_sources() -> str:
    sources = [f"{d.label}: {d.allocator_peak}" for d in frameworks() if d.allocator_peak]
    return "; ".join(sources) or "as the framework's allocator reports it"


def _page_losses(model: str, rows: list[dict[str, Any]]) -> dict[str, str]:
    stored = {
        k.removeprefix(FINAL_LOSS_PREFIX)
        for r in rows
        for k, v in r.items()
        if k.startswith(FINAL_LOSS_PREFIX) and num(v) is not None
    }
    return loss_labels(model, stored)


def scenarios_note(rows: list[dict[str, Any]]) -> str:
    """What the page's cells of scenarios other than ``train`` measure; "" when it has none (so the
    pages of training-only runs stay as they were)."""
    names = sorted({v for r in rows if isinstance(v := r.get("scenario"), str) and v} - {"train"})
    if not names:
        return ""
    what = "; ".join(f"**{md_escape(n)}**: {md_escape(describe_scenario(n))}" for n in names)
    return f"Scenarios besides the training step: {what}.\n\n"


def ratio_cell(c: RatioCI | None) -> str:
    text = fmt_ratio_ci(c)
    return text + " ≈" if c is not None and c.verdict == NO_CLEAR_WINNER else text


def flops_cell(r: dict[str, Any]) -> str:
    flops = num(r.get("achieved_flops"))
    if flops is None:
        return "–"
    peak = peak_text(r)
    return fmt_sig(flops / 1e9) + (f" ({peak.removesuffix(' of peak')})" if peak else "")


def comparison_table(rows: list[dict[str, Any]], losses: dict[str, str], *, multi_run: bool) -> str:
    hidden = {a for a in OPTIONAL_AXIS_COLUMNS if len({r[a] for r in rows}) <= 1}
    axes = [a for a in shown_axes(CELL_AXES, rows) if a != "model" and a not in hidden]
    headers = [AXIS_HEADERS[a] for a in axes]
    if multi_run:
        headers += ["run", "version"]
    headers += [
        "step time ms (median [CI, coverage])",
        "processes",
        "CV within / between",
        "throughput img/s",
        "speed-up vs eager [95% CI]",
        "vs other default [95% CI]",
        "first step s",
        "steady state s",
        "host peak MiB",
        "device alloc MiB",
        "device NVML MiB",
        "GFLOP/s (% peak)",
        f"final {' / '.join(losses.values())} loss",
        "status",
    ]
    align = "".join("r" if a in INT_AXES else "l" for a in axes)
    align += ("ll" if multi_run else "") + "r" * 13 + "l"
    body = []
    for r in rows:
        finals = [num(r.get(f"{FINAL_LOSS_PREFIX}{name}")) for name in losses]
        loss = "–" if all(v is None for v in finals) else " / ".join(fmt_sig(v, 4) for v in finals)
        row = [axis_value(a, r[a]) for a in axes]
        if multi_run:
            row += [f"`{r['run_id']}`", fmt_value(r.get("versions.framework"))]
        row += [
            step_ms(r) if num(r.get("step_time_median_s")) is not None else "–",
            processes_text(r),
            f"{fmt_pct(r.get('within_process_cv'))} / {fmt_pct(r.get('between_process_cv'))}",
            fmt_sig(r.get("throughput_img_s")),
            ratio_cell(r.get("speedup_ci")),
            ratio_cell(r.get("vs_other_ci")),
            first_step_text(r),
            fmt_s(r.get("time_to_steady_state_s")),
            host_memory_text(r, fmt_mib),
            device_memory_text(r, fmt_mib, "device_alloc_peak_bytes", "device_alloc_steady_peak_bytes"),
            device_memory_text(r, fmt_mib, "nvml_peak_bytes", "nvml_steady_peak_bytes"),
            flops_cell(r),
            loss,
            status_text(r),
        ]
        body.append(row)
    return md_table(headers, body, align)


BF16_SCOPE_TEXT = (
    "A bf16 cell runs each framework's shipped mixed-precision recipe (its mixed-precision policy or "
    "autocast), with float32 weights, optimizer state and losses on every side. {verdict} "
    "Which forward operations compute in which dtype on CPU, as read from each framework's own graph and "
    "dispatched ops (tests/test_precision_scopes.py; a bf16 normalisation still accumulates its statistics "
    "in float32 inside the kernel; CUDA autocast runs group norm in float32):"
)
BF16_SAME = "They put the same operations in bf16."
BF16_DIFFERENT = ("They do not put the same operations in bf16 (**bold** below), so a bf16 ratio compares "
                  "the recipes as shipped, not the same arithmetic.")


def bf16_scope_section(model: str, rows: list[dict[str, Any]], frameworks: Sequence[str]) -> str:
    """The family's disclosed bf16 scope per framework, on a page with bf16 cells ("" otherwise)."""
    from models.registry import family_of

    if not any(r.get("precision") == "bf16" for r in rows):
        return ""
    try:
        scopes = family_of(model).bf16_scopes
    except ValueError:
        scopes = {}
    shown = [fw for fw in frameworks if fw in scopes]
    if not shown:
        return "## bf16 scope\n\nThis model's family does not disclose which operations run in bf16.\n\n"
    kinds = list(dict.fromkeys(k for fw in shown for k in scopes[fw]))
    body, differ = [], False
    for kind in kinds:
        dtypes = [scopes[fw].get(kind, "–") for fw in shown]
        mark = (lambda t: f"**{t}**") if len(set(dtypes)) > 1 else (lambda t: t)
        differ = differ or len(set(dtypes)) > 1
        body.append([mark(kind), *[mark(d) for d in dtypes]])
    table = md_table(["operation", *[framework_label(fw) for fw in shown]], body, "l" * (len(shown) + 1))
    text = BF16_SCOPE_TEXT.format(verdict=BF16_DIFFERENT if differ else BF16_SAME)
    return f"## bf16 scope\n\n{text}\n\n{table}\n"


def parity_verdict(p: Parity, losses: dict[str, str]) -> str:
    """ok, ok with the losses whose difference only its step-0 gap explains, or DIVERGE."""
    if not p.within_tolerance:
        return f"DIVERGE (> {fmt_pct(p.tolerance, 0)})"
    gap = [f"{label} {fmt_pct(p.start_gap[name])}" for name, label in losses.items()
           if p.rel_diff[name] > p.tolerance and name in p.start_gap]
    return f"ok (no more than the step-0 gap: {', '.join(gap)})" if gap else "ok"


def parity_section(model: str, parity: list[Parity], frameworks: Sequence[str], multi: bool) -> str:
    names = join_words([framework_label(fw) for fw in frameworks])
    group = [a for a in shown_axes(GROUP_AXES, [p.key for p in parity]) if a != "model"]
    note = (parity_note(model) or DEFAULT_PARITY_NOTE).format(frameworks=names)
    tolerance = fmt_pct(PARITY_TOLERANCE, 0) + "".join(
        f", {fmt_pct(t, 0)} for {p}" for p, t in PARITY_TOLERANCES.items() if t != PARITY_TOLERANCE)
    method = PARITY_METHOD.format(steps=PARITY_SMOOTHING_STEPS, tolerance=tolerance)
    out = ["## Loss-curve parity\n\n", f"{note} {method}\n\n"]
    if not parity:
        axes = join_words([AXIS_HEADERS[a] for a in group])
        return "".join([*out, f"No pair of ok {names} cells with the same {axes}.\n\n"])
    losses = parity[0].loss_labels
    body = []
    for p in parity:
        row = [parity_compared(p) + (f" @{p.run_id}" if multi else ""),
               " ".join(axis_text(a, p.key[a]) for a in group), str(p.n_steps)]
        for name in losses:
            row += [" / ".join(fmt_sig(v, 3) for v in p.changes.get(name, {}).values()) or "–",
                    fmt_pct(p.rel_diff[name])]
        row.append(parity_verdict(p, losses))
        body.append(row)
    headers = ["compared", " / ".join(AXIS_HEADERS[a] for a in group), "steps"]
    for label in losses.values():
        headers += [f"{label} change", f"{label} difference"]
    headers.append("verdict")
    out += [md_table(headers, body, "llr" + "rr" * len(losses) + "l"), "\n", PARITY_FIGURE_CAPTION, "\n\n"]
    out += [f"![loss curves: {md_escape(parity_title(p, multi))}]({p.figure})\n\n" for p in parity]
    return "".join(out)


def model_page(
    model: str,
    rows: list[dict[str, Any]],
    parity: list[Parity],
    runs: RunSet,
    frameworks: Sequence[str],
    multi: bool,
) -> tuple[str, dict[str, Draw]]:
    """The page's Markdown and its figures (relative path -> drawing)."""
    figs: dict[str, Draw] = {}
    run_ids = ", ".join(f"`{r.run_id}`" for r in runs.runs)
    losses = _page_losses(model, rows)
    out = [
        f"# {model}\n\n",
        f"[← all results](README.md) · run(s) {run_ids} · {len(rows)} cells: {status_counts(rows)}\n\n",
        "## Comparison\n\n",
        scenarios_note(rows),
        comparison_table(rows, losses, multi_run=multi),
        "\n",
        COMPARISON_LEGEND.format(losses=" / ".join(losses.values()), allocators=_allocator_sources()),
        "\n\n",
    ]
    out += ["## Spread of step times\n\n", spread_table(rows, multi), "\n", SPREAD_LEGEND, "\n\n"]
    out.append(scaling_section(model, rows))
    if series := scaling_series(rows):
        scaling = f"{FIGURES_DIR}/" + fig_name(model, "scaling")
        figs[scaling] = scaling_drawing(model, series)
        out.append(f"![scaling]({scaling})\n\n")
    out.append(bf16_scope_section(model, rows, frameworks))
    out.append(parity_section(model, parity, frameworks, multi))
    out.append(generation_section(rows, multi))

    ok = [r for r in rows if r["status"] == "ok" and num(r.get("throughput_img_s")) is not None]
    out.append("## Throughput and memory\n\n")
    if ok:
        thr = f"{FIGURES_DIR}/" + fig_name(model, "throughput")
        mem = f"{FIGURES_DIR}/" + fig_name(model, "memory")
        figs[thr] = throughput_drawing(model, ok, multi)
        figs[mem] = memory_drawing(model, rows, multi)
        out.append(f"![throughput]({thr})\n\n![memory]({mem})\n\n{THROUGHPUT_CAPTION}\n\n")
    else:
        out.append("No ok cell with a throughput measurement.\n\n")

    out += [
        "## Conditions\n\n",
        "Run settings (the same for every cell of a run) are on the [front page](README.md#conditions); "
        "the effective flags each cell recorded (threads, TF32, cuDNN autotune, oneDNN, compile cache…):"
        "\n\n",
        flags_table(rows, multi),
        "\n",
    ]
    out += ["## Failures and skips\n\n", failures_section(rows, multi)]
    return "".join(out), figs
