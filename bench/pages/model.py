"""reports/<model>.md: one model's comparison, spread, loss-curve parity, charts, flags and failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..cell import CELL_AXES
from ..frameworks.registry import frameworks
from ..labels import (
    AXIS_HEADERS,
    GROUP_AXES,
    INT_AXES,
    axis_text,
    axis_value,
    framework_label,
    loss_labels,
    parity_note,
)
from ..markdown import (
    fmt_mib,
    fmt_ms,
    fmt_pct,
    fmt_ratio,
    fmt_s,
    fmt_sig,
    fmt_value,
    join_words,
    md_escape,
    md_table,
)
from ..parity import PARITY_SMOOTHING_STEPS, PARITY_TOLERANCE, Parity
from ..stats import num
from ..store import RunSet
from .figures import FIGURES_DIR, Draw, fig_name, memory_drawing, throughput_drawing
from .sections import (
    failures_section,
    flags_table,
    parity_compared,
    parity_title,
    spread_table,
    status_counts,
    status_text,
)

# Axes whose column appears only when the page's cells differ in it.
OPTIONAL_AXIS_COLUMNS = ("batch_size",)
FINAL_LOSS_PREFIX = "final_losses."

COMPARISON_LEGEND = (
    "Step time: median of the synchronised timed steps, with the bootstrap 95% confidence interval of the "
    "median; CV: coefficient of variation of the step times (spread). Throughput: images/s over a window of "
    "steps with a single synchronisation at its end. Speed-up: the same framework's eager step time (same "
    "device, precision, batch and variant, else the default variant) divided by this one. vs other best: the "
    "other framework's fastest ok cell (any mode or variant, same device, precision and batch) divided by "
    "this one — above 1× this cell is faster. First step: time to the first train step, compilation/tracing "
    "included. Memory: peak host RSS; device allocator peak ({allocators}) and "
    "the process's device memory seen by the driver (NVML). FLOP/s: analytic FLOPs per step ÷ median step "
    "time (fraction of the measured peak when a roofline probe ran). Loss: {losses} loss after the last step."
)
DEFAULT_PARITY_NOTE = (
    "{frameworks} start from identical initial weights and see identical batches, so their loss curves "
    "are expected to be close."
)
PARITY_METHOD = (
    "The number is the mean absolute difference of the two curves, each smoothed with a trailing mean over "
    "{steps} steps, relative to the loss scale (the mean magnitude of both smoothed curves); pairs above "
    "{tolerance} are flagged. Compared: eager vs eager where both ran, else the closest available modes."
)


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


def comparison_table(rows: list[dict[str, Any]], losses: dict[str, str], *, multi_run: bool) -> str:
    hidden = {a for a in OPTIONAL_AXIS_COLUMNS if len({r[a] for r in rows}) <= 1}
    axes = [a for a in CELL_AXES if a != "model" and a not in hidden]
    headers = [AXIS_HEADERS[a] for a in axes]
    if multi_run:
        headers += ["run", "version"]
    headers += [
        "step time ms (median [95% CI])",
        "CV",
        "throughput img/s",
        "speed-up vs eager",
        "vs other best",
        "first step s",
        "host peak MiB",
        "device alloc MiB",
        "device NVML MiB",
        "GFLOP/s (% peak)",
        f"final {' / '.join(losses.values())} loss",
        "status",
    ]
    align = "".join("r" if a in INT_AXES else "l" for a in axes)
    align += ("ll" if multi_run else "") + "r" * 11 + "l"
    body = []
    for r in rows:
        med = num(r.get("step_time_median_s"))
        if med is None:
            step = "–"
        elif num(r.get("step_time_ci95_low_s")) is not None:
            step = f"{fmt_ms(med)} [{fmt_ms(r['step_time_ci95_low_s'])}–{fmt_ms(r['step_time_ci95_high_s'])}]"
        else:
            step = fmt_ms(med)
        flops = num(r.get("achieved_flops"))
        flops_s = "–" if flops is None else fmt_sig(flops / 1e9)
        if flops is not None and num(r.get("fraction_of_peak")) is not None:
            flops_s += f" ({fmt_pct(r['fraction_of_peak'])})"
        finals = [num(r.get(f"{FINAL_LOSS_PREFIX}{name}")) for name in losses]
        loss = "–" if all(v is None for v in finals) else " / ".join(fmt_sig(v, 4) for v in finals)
        row = [axis_value(a, r[a]) for a in axes]
        if multi_run:
            row += [f"`{r['run_id']}`", fmt_value(r.get("versions.framework"))]
        row += [
            step,
            fmt_pct(r.get("step_time_cv")),
            fmt_sig(r.get("throughput_img_s")),
            fmt_ratio(r.get("speedup_vs_eager")),
            fmt_ratio(r.get("vs_other_best")),
            fmt_s(r.get("time_to_first_step_s")),
            fmt_mib(r.get("peak_rss_bytes")),
            fmt_mib(r.get("device_alloc_peak_bytes")),
            fmt_mib(r.get("nvml_peak_bytes")),
            flops_s,
            loss,
            status_text(r),
        ]
        body.append(row)
    return md_table(headers, body, align)


def parity_section(model: str, parity: list[Parity], frameworks: Sequence[str], multi: bool) -> str:
    names = join_words([framework_label(fw) for fw in frameworks])
    group = [a for a in GROUP_AXES if a != "model"]
    note = (parity_note(model) or DEFAULT_PARITY_NOTE).format(frameworks=names)
    method = PARITY_METHOD.format(steps=PARITY_SMOOTHING_STEPS, tolerance=fmt_pct(PARITY_TOLERANCE, 0))
    out = ["## Loss-curve parity\n\n", f"{note} {method}\n\n"]
    if not parity:
        axes = join_words([AXIS_HEADERS[a] for a in group])
        return "".join([*out, f"No pair of ok {names} cells with the same {axes}.\n\n"])
    losses = parity[0].loss_labels
    body = [
        [
            parity_compared(p) + (f" @{p.run_id}" if multi else ""),
            " ".join(axis_text(a, p.key[a]) for a in group),
            str(p.n_steps),
            *[fmt_pct(p.rel_diff[name]) for name in losses],
            "ok" if p.within_tolerance else f"DIVERGE (> {fmt_pct(PARITY_TOLERANCE, 0)})",
        ]
        for p in parity
    ]
    headers = [
        "compared",
        " / ".join(AXIS_HEADERS[a] for a in group),
        "steps",
        *[f"{label} difference" for label in losses.values()],
        "verdict",
    ]
    out += [md_table(headers, body, "llr" + "r" * len(losses) + "l"), "\n"]
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
        comparison_table(rows, losses, multi_run=multi),
        "\n",
        COMPARISON_LEGEND.format(losses=" / ".join(losses.values()), allocators=_allocator_sources()),
        "\n\n",
    ]
    out += ["## Spread of step times\n\n", spread_table(rows, multi), "\n"]
    out.append(parity_section(model, parity, frameworks, multi))

    ok = [r for r in rows if r["status"] == "ok" and num(r.get("throughput_img_s")) is not None]
    out.append("## Throughput and memory\n\n")
    if ok:
        thr = f"{FIGURES_DIR}/" + fig_name(model, "throughput")
        mem = f"{FIGURES_DIR}/" + fig_name(model, "memory")
        figs[thr] = throughput_drawing(model, ok, multi)
        figs[mem] = memory_drawing(model, rows, multi)
        out.append(f"![throughput]({thr})\n\n![memory]({mem})\n\n")
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
