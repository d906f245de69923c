"""Markdown reports regenerated from stored runs alone (``python -m bench report``).

Everything here is a pure function of the stored results (bench.store.load_runs): nothing is re-run
and nothing about the report run itself (clock, paths, host) enters the output, so the same runs
give byte-identical Markdown. Figures come from bench.plots.

Output (``out`` defaults to reports/):
    out/README.md          front page: headline, per-model links, runs, conditions, environment, notes
    out/<model>.md         comparison table, spread, loss-curve parity, charts, conditions, failures
    out/figures/*.png      throughput, memory and loss-parity figures
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import plots
from .errors import BenchError
from .stats import num
from .store import RunData, RunSet, atomic_write_text, latest_run, load_runs
from .vocab import COMPILED_MODES, DEVICES, FRAMEWORKS, MODES, PRECISIONS, VARIANTS

# Loss-curve parity: both frameworks start from the same weights and see the same batches, but their
# dropout masks differ (dcgan-mnist's discriminator), so the curves are close, not equal. We compare
# curves smoothed with a trailing mean over PARITY_SMOOTHING_STEPS steps and flag a pair whose mean
# absolute difference exceeds PARITY_TOLERANCE of the loss scale (the mean magnitude of both curves).
PARITY_SMOOTHING_STEPS = 5
PARITY_TOLERANCE = 0.10
DRIFT_LIMIT = 0.10  # |step_time_drift| above this: the timed steps were not yet steady
NOISY_CV = 0.10  # a cell whose step-time CV exceeds this gets a note
MAX_REASON_CHARS = 120

FW_LABEL = {"tensorflow": "TensorFlow", "torch": "PyTorch"}
FIGURES_DIR = "figures"
_FIGURE_PATTERNS = ("*__throughput.png", "*__memory.png", "*__parity__*.png")

# --------------------------------------------------------------------------- formatting




def fmt_sig(x: Any, sig: int = 3) -> str:
    """Round to ``sig`` significant digits, never in scientific notation; "–" when missing."""
    v = num(x)
    if v is None:
        return "–"
    if v == 0:
        return "0"
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def fmt_ms(seconds: Any) -> str:
    v = num(seconds)
    return "–" if v is None else fmt_sig(v * 1e3)


def fmt_mib(nbytes: Any) -> str:
    v = num(nbytes)
    return "–" if v is None else f"{v / 2**20:.0f}"


def fmt_pct(frac: Any, decimals: int = 1) -> str:
    v = num(frac)
    return "–" if v is None else f"{v * 100:.{decimals}f}%"


def fmt_ratio(x: Any) -> str:
    v = num(x)
    return "–" if v is None else f"{v:.2f}×"


def fmt_s(seconds: Any) -> str:
    v = num(seconds)
    return "–" if v is None else fmt_sig(v)


def fmt_value(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if not math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_value(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={fmt_value(x)}" for k, x in v.items()) or "–"
    return str(v)


def md_escape(text: Any) -> str:
    s = str(text).replace("\r", " ").replace("\n", " ").replace("|", "\\|")
    return re.sub(r"\s+", " ", s).strip()


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub Markdown table; ``align`` is one char per column: l, r or c."""
    align = align or "l" * len(headers)
    marks = {"l": "---", "r": "--:", "c": ":-:"}
    lines = [
        "| " + " | ".join(md_escape(h) for h in headers) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(md_escape(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def _truncate(text: Any, n: int = MAX_REASON_CHARS) -> str:
    s = md_escape(text)
    return s if len(s) <= n else s[: n - 1] + "…"


def status_text(row: dict[str, Any]) -> str:
    status = str(row.get("status"))
    reason = row.get("reason")
    if status == "ok" or not isinstance(reason, str) or not reason.strip():
        return status
    return f"{status}: {_truncate(reason)}"


def fw_label(fw: str) -> str:
    return FW_LABEL.get(fw, fw)


def cell_label(row: dict[str, Any], *, model: bool = True, run: bool = False) -> str:
    parts = [str(row["model"])] if model else []
    parts += [
        fw_label(str(row["framework"])),
        str(row["mode"]),
        str(row["device"]),
        str(row["precision"]),
        f"b{int(row['batch_size'])}",
    ]
    if row.get("variant") not in (None, "default"):
        parts.append(str(row["variant"]))
    if run:
        parts.append(f"@{row['run_id']}")
    return " ".join(parts)


# --------------------------------------------------------------------------- ordering


def _index(seq: Sequence[str], value: Any) -> int:
    try:
        return list(seq).index(value)
    except ValueError:
        return len(seq)


def _mode_rank(fw: str, mode: str) -> int:
    return _index(MODES.get(fw, ()), mode)


def _variant_rank(fw: str, variant: str) -> int:
    return _index(VARIANTS.get(fw, ()), variant)


def model_order(models: Iterable[str]) -> list[str]:
    from models.spec import MODEL_NAMES

    return sorted(set(models), key=lambda m: (_index(MODEL_NAMES, m), m))


def sort_cells(df: pd.DataFrame, run_ids: Sequence[str]) -> pd.DataFrame:
    """Rows in reading order: model, device, precision, batch, framework, mode, variant, run."""
    if df.empty:
        return df
    keys = pd.DataFrame(
        {
            "_m": [_index(model_order(df["model"]), m) for m in df["model"]],
            "_d": [_index(DEVICES, d) for d in df["device"]],
            "_p": [_index(PRECISIONS, p) for p in df["precision"]],
            "_b": df["batch_size"].astype(int).to_numpy(),
            "_f": [_index(FRAMEWORKS, f) for f in df["framework"]],
            "_mo": [_mode_rank(f, m) for f, m in zip(df["framework"], df["mode"], strict=True)],
            "_v": [_variant_rank(f, v) for f, v in zip(df["framework"], df["variant"], strict=True)],
            "_r": [_index(run_ids, r) for r in df["run_id"]],
            "_id": df["cell_id"].to_numpy(),
        },
        index=df.index,
    )
    order = keys.sort_values(list(keys.columns), kind="stable").index
    return df.loc[order]


# --------------------------------------------------------------------------- derived tables

KEY = ["run_id", "model", "device", "precision", "batch_size"]


def comparison_frame(runs: RunSet) -> pd.DataFrame:
    """The cells of all runs plus derived columns (within each run only):

    eager_step_s       median step time of the same framework's eager mode (same variant, else default)
    speedup_vs_eager   eager_step_s / step_time_median_s
    other_best_s       fastest ok cell of the other framework(s), any mode/variant,
                       same device/precision/batch
    vs_other_best      other_best_s / step_time_median_s  (> 1: this cell is faster)
    """
    df = runs.cells.copy() if runs.cells is not None else pd.DataFrame()
    if df.empty:
        return df
    df = df.reset_index(drop=True)
    df["_row"] = np.arange(len(df))
    ok = df[df["status"] == "ok"]
    eager = ok[ok["mode"] == "eager"]
    same = eager[[*KEY, "framework", "variant", "step_time_median_s", "time_to_first_step_s"]].rename(
        columns={"step_time_median_s": "_e_s", "time_to_first_step_s": "_e_first_s"}
    )
    default = eager[eager["variant"] == "default"][
        [*KEY, "framework", "step_time_median_s", "time_to_first_step_s"]
    ].rename(columns={"step_time_median_s": "_ed_s", "time_to_first_step_s": "_ed_first_s"})
    df = df.merge(same, on=[*KEY, "framework", "variant"], how="left")
    df = df.merge(default, on=[*KEY, "framework"], how="left")
    df["eager_step_s"] = df["_e_s"].where(df["_e_s"].notna(), df["_ed_s"])
    df["eager_first_s"] = df["_e_first_s"].where(df["_e_first_s"].notna(), df["_ed_first_s"])
    is_ok = df["status"] == "ok"
    df["speedup_vs_eager"] = (df["eager_step_s"] / df["step_time_median_s"]).where(is_ok)

    best = (
        ok.groupby([*KEY, "framework"], as_index=False)["step_time_median_s"]
        .min()
        .rename(columns={"framework": "_ofw", "step_time_median_s": "_obest"})
    )
    pairs = df[[*KEY, "framework", "_row"]].merge(best, on=KEY, how="inner")
    pairs = pairs[pairs["_ofw"] != pairs["framework"]]
    other = pairs.groupby("_row")["_obest"].min()
    df["other_best_s"] = df["_row"].map(other).astype(float)
    df["vs_other_best"] = (df["other_best_s"] / df["step_time_median_s"]).where(is_ok)
    df = df.drop(columns=["_e_s", "_e_first_s", "_ed_s", "_ed_first_s"])
    return sort_cells(df, runs.run_ids)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict(orient="records") if not df.empty else []


# --------------------------------------------------------------------------- loss-curve parity


@dataclass
class Parity:
    run_id: str
    model: str
    device: str
    precision: str
    batch_size: int
    cells: dict[str, dict[str, Any]]  # framework -> cell row
    n_steps: int
    rel_diff: dict[str, float]  # "G"/"D" -> mean |smoothed difference| / loss scale
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(repr=False)
    figure: str = ""

    @property
    def worst(self) -> float:
        return max(self.rel_diff.values())

    @property
    def within_tolerance(self) -> bool:
        return self.worst <= PARITY_TOLERANCE

    def title(self, with_run: bool) -> str:
        modes = " vs ".join(
            f"{fw_label(fw)} {c['mode']}" + (f" ({c['variant']})" if c["variant"] != "default" else "")
            for fw, c in self.cells.items()
        )
        run = f" @{self.run_id}" if with_run else ""
        return f"{self.model} {self.device} {self.precision} b{self.batch_size}{run}: {modes}"


def smooth(x: np.ndarray, window: int = PARITY_SMOOTHING_STEPS) -> np.ndarray:
    return pd.Series(x, dtype=float).rolling(window, min_periods=1).mean().to_numpy()


def relative_curve_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the smoothed curves, relative to their mean magnitude."""
    sa, sb = smooth(a), smooth(b)
    scale = float(np.mean((np.abs(sa) + np.abs(sb)) / 2.0))
    diff = float(np.mean(np.abs(sa - sb)))
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


def _pick_for_parity(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The framework's cell to compare: eager/default first, then eager, then the earliest mode."""
    if not rows:
        return None
    return min(
        rows,
        key=lambda r: (
            r["mode"] != "eager",
            r["variant"] != "default",
            _mode_rank(r["framework"], r["mode"]),
            _variant_rank(r["framework"], r["variant"]),
        ),
    )


def loss_parity(runs: RunSet, table: pd.DataFrame) -> list[Parity]:
    out: list[Parity] = []
    if table.empty or runs.steps is None or runs.steps.empty:
        return out
    ok = table[table["status"] == "ok"]
    steps = runs.steps
    for key, group in ok.groupby(KEY, sort=False):
        rows = _records(group)
        chosen = {}
        for fw in FRAMEWORKS:
            pick = _pick_for_parity([r for r in rows if r["framework"] == fw])
            if pick is not None:
                chosen[fw] = pick
        if len(chosen) < 2:
            continue
        raw: dict[str, dict[str, np.ndarray]] = {}
        for fw, c in chosen.items():
            s = steps[(steps["run_id"] == c["run_id"]) & (steps["cell_id"] == c["cell_id"])].sort_values(
                "step"
            )
            s = s.dropna(subset=["g_loss", "d_loss"])
            raw[fw] = {"G": s["g_loss"].to_numpy(dtype=float), "D": s["d_loss"].to_numpy(dtype=float)}
        n = min(len(v["G"]) for v in raw.values())
        if n < 2:
            continue
        fws = list(chosen)
        rel = {
            loss: relative_curve_difference(raw[fws[0]][loss][:n], raw[fws[1]][loss][:n])
            for loss in ("G", "D")
        }
        curves = {
            fw: {loss: (raw[fw][loss][:n], smooth(raw[fw][loss][:n])) for loss in ("G", "D")} for fw in fws
        }
        run_id, model, device, precision, bs = key
        out.append(
            Parity(
                run_id=str(run_id),
                model=str(model),
                device=str(device),
                precision=str(precision),
                batch_size=int(bs),
                cells=chosen,
                n_steps=n,
                rel_diff=rel,
                curves=curves,
            )
        )
    return out


# --------------------------------------------------------------------------- headline


def _fastest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    timed = [r for r in rows if num(r.get("step_time_median_s")) is not None]
    return min(timed, key=lambda r: r["step_time_median_s"]) if timed else None


def _config(r: dict[str, Any]) -> str:
    v = f" ({r['variant']})" if r["variant"] != "default" else ""
    thr = f", {fmt_sig(r['throughput_img_s'])} img/s" if num(r.get("throughput_img_s")) is not None else ""
    return f"{r['mode']}{v}: {fmt_ms(r['step_time_median_s'])} ms/step{thr}"


def compile_cost(rows: list[dict[str, Any]], fw: str) -> str | None:
    """Extra time to first step of the framework's fastest compiled mode over eager, and its break-even."""
    compiled = [r for r in rows if r["framework"] == fw and (fw, r["mode"]) in COMPILED_MODES]
    best = _fastest(compiled)
    if best is None:
        return None
    first, eager_first = num(best.get("time_to_first_step_s")), num(best.get("eager_first_s"))
    if first is None:
        return None
    head = f"{fw_label(fw)} {best['mode']}: first step {fmt_s(first)} s"
    if eager_first is None:
        return head
    extra = first - eager_first
    eager_step, step = num(best.get("eager_step_s")), num(best.get("step_time_median_s"))
    if eager_step is not None and step is not None and eager_step > step and extra > 0:
        payback = f", repaid after ~{math.ceil(extra / (eager_step - step))} steps"
    elif eager_step is not None and step is not None and eager_step <= step:
        payback = ", never repaid (not faster than eager)"
    else:
        payback = ""
    return f"{head} vs eager {fmt_s(eager_first)} s (+{fmt_s(max(extra, 0.0))} s{payback})"


def headline_rows(table: pd.DataFrame, multi_run: bool) -> list[list[str]]:
    rows_out = []
    if table.empty:
        return rows_out
    ok = table[table["status"] == "ok"]
    for key, group in ok.groupby(KEY, sort=False):
        run_id, model, device, precision, bs = key
        rows = _records(group)
        fastest = {fw: _fastest([r for r in rows if r["framework"] == fw]) for fw in FRAMEWORKS}
        cols = [(fastest[fw] and _config(fastest[fw])) or "–" for fw in FRAMEWORKS]
        have = {fw: r for fw, r in fastest.items() if r is not None}
        if len(have) == 2:
            (fa, ra), (_, rb) = sorted(have.items(), key=lambda kv: kv[1]["step_time_median_s"])
            verdict = f"{fw_label(fa)}, {fmt_ratio(rb['step_time_median_s'] / ra['step_time_median_s'])}"
        elif have:
            verdict = f"only {fw_label(next(iter(have)))} measured"
        else:
            verdict = "–"
        costs = [c for fw in FRAMEWORKS if (c := compile_cost(rows, fw))]
        row = [str(model), str(device), str(precision), f"{int(bs)}", *cols, verdict, "; ".join(costs) or "–"]
        rows_out.append(([str(run_id)] if multi_run else []) + row)
    return rows_out


# --------------------------------------------------------------------------- environment & conditions


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


# Raw probe outputs repeat the framework summary next to them; the table shows the summary.
_ENV_SKIP = re.compile(r"^frameworks\.[^.]+\.probe(\.|$)")


def environment_table(runs: Sequence[RunData]) -> str:
    flats = [{k: v for k, v in flatten(r.env).items() if not _ENV_SKIP.match(k)} for r in runs]
    keys: list[str] = []
    for f in flats:
        keys += [k for k in f if k not in keys]
    if not keys:
        return "No environment.json stored with the run(s).\n"
    headers = ["", *[f"`{r.run_id}`" for r in runs]] if len(runs) > 1 else ["", "value"]
    return md_table(headers, [[k, *[fmt_value(f.get(k)) for f in flats]] for k in keys])


def settings_table(runs: Sequence[RunData]) -> str:
    dicts = [dict(r.meta.get("settings") or {}) for r in runs]
    for r, d in zip(runs, dicts, strict=True):
        d["profile"] = r.meta.get("profile", d.get("profile"))
    keys: list[str] = []
    for d in dicts:
        keys += [k for k in d if k not in keys]
    headers = ["setting", *[f"`{r.run_id}`" for r in runs]] if len(runs) > 1 else ["setting", "value"]
    return md_table(headers, [[k, *[fmt_value(d.get(k)) for d in dicts]] for k in keys])


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


# --------------------------------------------------------------------------- notes


def notes(runs: RunSet, table: pd.DataFrame, parity: list[Parity]) -> list[str]:
    multi = len(runs.runs) > 1
    out: list[str] = []
    rows = _records(table)
    for r in runs.runs:
        present = set(r.cells["cell_id"]) if not r.cells.empty else set()
        missing = [c for c in r.meta.get("cells_planned", []) if c not in present]
        if missing:
            at = f" in run `{r.run_id}`" if multi else ""
            out.append(
                f"{len(missing)} planned cell(s) have no result{at} (run interrupted? "
                f"`python -m bench all --resume` completes it): {', '.join(sorted(missing)[:8])}"
                + (" …" if len(missing) > 8 else "")
            )
        if r.cells.empty:
            out.append(f"Run `{r.run_id}` has no cell results.")
    skipped: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] == "skipped":
            reason = _truncate(row.get("reason") or "no reason given")
            skipped.setdefault(reason, []).append(cell_label(row, run=multi))
    for reason, cells in skipped.items():
        shown = ", ".join(cells[:6]) + (f" and {len(cells) - 6} more" if len(cells) > 6 else "")
        out.append(f"{reason}: {len(cells)} cell(s) skipped ({shown}).")
    for row in rows:
        status = row["status"]
        label = cell_label(row, run=multi)
        if status in ("failed", "timeout", "oom", "diverged"):
            why = (
                f": {_truncate(row['reason'])}"
                if isinstance(row.get("reason"), str) and row["reason"]
                else ""
            )
            out.append(
                f"**{status}** — {label}{why} (worker log: `logs/{row['cell_id']}.log` of run "
                f"`{row['run_id']}`)."
            )
        cv = num(row.get("step_time_cv"))
        if status == "ok" and cv is not None and cv > NOISY_CV:
            out.append(
                f"Noisy measurement — {label}: step-time CV {fmt_pct(cv)} (> {fmt_pct(NOISY_CV, 0)}); "
                "treat its comparisons with care."
            )
        drift = num(row.get("step_time_drift"))
        if status == "ok" and drift is not None and abs(drift) > DRIFT_LIMIT:
            out.append(
                f"Not steady — {label}: the median step time moved {fmt_pct(-drift)} from the first to "
                "the second half of the timed steps; a longer `--warmup` would measure it better."
            )
        rec = num(row.get("recompiles"))
        if rec is not None and rec > 0:
            out.append(f"Recompiled {int(rec)} time(s) during the timed steps — {label}.")
        warns = row.get("compile_warnings")
        if isinstance(warns, list) and warns:
            out.append(f"Compile warnings — {label}: {_truncate('; '.join(map(str, warns)))}")
    for p in parity:
        if not p.within_tolerance:
            out.append(
                f"Loss curves diverge — {p.title(multi)}: {fmt_pct(p.worst)} of the loss scale "
                f"(tolerance {fmt_pct(PARITY_TOLERANCE, 0)})."
            )
    return out


# --------------------------------------------------------------------------- pages

COMPARISON_LEGEND = (
    "Step time: median of the synchronised timed steps, with the bootstrap 95% confidence interval of the "
    "median; CV: coefficient of variation of the step times (spread). Throughput: images/s over a window of "
    "steps with a single synchronisation at its end. Speed-up: the same framework's eager step time (same "
    "device, precision, batch and variant, else the default variant) divided by this one. vs other best: the "
    "other framework's fastest ok cell (any mode or variant, same device, precision and batch) divided by "
    "this one — above 1× this cell is faster. First step: time to the first train step, compilation/tracing "
    "included. Memory: peak host RSS; device allocator peak (torch max_memory_allocated / TF peak) and the "
    "process's device memory seen by the driver (NVML). FLOP/s: analytic FLOPs per step ÷ median step time "
    "(fraction of the measured peak when a roofline probe ran). Loss: G / D loss after the last step."
)


def comparison_table(rows: list[dict[str, Any]], *, multi_run: bool, show_batch: bool) -> str:
    headers = ["framework", "mode", "device", "precision"] + (["batch"] if show_batch else []) + ["variant"]
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
        "final G / D loss",
        "status",
    ]
    align = "llll" + ("r" if show_batch else "") + "l" + ("ll" if multi_run else "") + "rrrrrrrrrrrl"
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
        g, d = num(r.get("final_g_loss")), num(r.get("final_d_loss"))
        loss = "–" if g is None and d is None else f"{fmt_sig(g, 4)} / {fmt_sig(d, 4)}"
        row = [fw_label(r["framework"]), r["mode"], r["device"], r["precision"]]
        row += [str(int(r["batch_size"]))] if show_batch else []
        row += [r["variant"]]
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


def spread_table(rows: list[dict[str, Any]], multi_run: bool) -> str:
    body = []
    for r in rows:
        med = num(r.get("step_time_median_s"))
        if med is None:
            continue
        lo, hi = num(r.get("step_time_ci95_low_s")), num(r.get("step_time_ci95_high_s"))
        ci_w = (hi - lo) / med if lo is not None and hi is not None and med > 0 else None
        body.append(
            [
                cell_label(r, model=False, run=multi_run),
                str(int(num(r.get("n_steps")) or 0)),
                fmt_ms(med),
                fmt_ms(r.get("step_time_iqr_s")),
                fmt_pct(r.get("step_time_cv")),
                f"{fmt_ms(r.get('step_time_p10_s'))} – {fmt_ms(r.get('step_time_p90_s'))}",
                fmt_pct(ci_w),
                fmt_ms(r.get("step_time_min_s")),
            ]
        )
    if not body:
        return "No timed steps.\n"
    return md_table(
        ["cell", "timed steps", "median ms", "IQR ms", "CV", "p10 – p90 ms", "95% CI width", "min ms"],
        body,
        "lrrrrrrr",
    )


def failures_section(rows: list[dict[str, Any]], multi_run: bool) -> str:
    parts = []
    for r in rows:
        if r["status"] == "ok":
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


def _fig_name(*parts: Any) -> str:
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)) for p in parts) + ".png"


@dataclass
class Report:
    pages: dict[str, str]  # relative path -> Markdown
    figures: dict[str, Any]  # relative path -> callable(Path) drawing it


def build_report(runs: RunSet) -> Report:
    if not runs.runs:
        raise BenchError("no runs to report on")
    multi = len(runs.runs) > 1
    table = comparison_frame(runs)
    parity = loss_parity(runs, table)
    for p in parity:
        p.figure = f"{FIGURES_DIR}/" + _fig_name(
            p.model, "parity", p.device, p.precision, f"b{p.batch_size}", *([p.run_id] if multi else [])
        )
    models = model_order(table["model"]) if not table.empty else []
    pages: dict[str, str] = {}
    figures: dict[str, Any] = {}

    for model in models:
        mrows = _records(table[table["model"] == model])
        page, figs = model_page(model, mrows, [p for p in parity if p.model == model], runs, multi)
        pages[f"{model}.md"] = page
        figures.update(figs)
    for p in parity:
        labels = {fw: f"{fw_label(fw)} {c['mode']}" for fw, c in p.cells.items()}
        figures[p.figure] = lambda path, p=p, labels=labels: plots.parity_chart(
            path,
            p.curves,
            title=p.title(multi) + f" — G {fmt_pct(p.rel_diff['G'])}, D {fmt_pct(p.rel_diff['D'])}",
            labels=labels,
        )
    pages["README.md"] = front_page(runs, table, parity, models, multi)
    return Report(pages=pages, figures=figures)


def model_page(
    model: str, rows: list[dict[str, Any]], parity: list[Parity], runs: RunSet, multi: bool
) -> tuple[str, dict[str, Any]]:
    figs: dict[str, Any] = {}
    show_batch = len({int(r["batch_size"]) for r in rows}) > 1
    run_ids = ", ".join(f"`{r.run_id}`" for r in runs.runs)
    counts = _status_counts(rows)
    out = [
        f"# {model}\n\n",
        f"[← all results](README.md) · run(s) {run_ids} · {len(rows)} cells: {counts}\n\n",
        "## Comparison\n\n",
        comparison_table(rows, multi_run=multi, show_batch=show_batch),
        "\n",
        COMPARISON_LEGEND,
        "\n\n",
    ]

    out += ["## Spread of step times\n\n", spread_table(rows, multi), "\n"]

    out += [
        "## Loss-curve parity\n\n",
        f"TensorFlow and PyTorch start from identical initial weights and see identical batches "
        f"(models/weights.py), but their dropout masks differ, so the curves are expected to be close, "
        f"not identical. The number is the mean absolute difference of the two curves, each smoothed "
        f"with a trailing mean over {PARITY_SMOOTHING_STEPS} steps, relative to the loss scale (the mean "
        f"magnitude of both smoothed curves); pairs above {fmt_pct(PARITY_TOLERANCE, 0)} are flagged. "
        f"Compared: eager vs eager where both ran, else the closest available modes.\n\n",
    ]
    if parity:
        body = [
            [
                p.title(multi).split(": ", 1)[1] + (f" @{p.run_id}" if multi else ""),
                f"{p.device} {p.precision} b{p.batch_size}",
                str(p.n_steps),
                fmt_pct(p.rel_diff["G"]),
                fmt_pct(p.rel_diff["D"]),
                "ok" if p.within_tolerance else f"DIVERGE (> {fmt_pct(PARITY_TOLERANCE, 0)})",
            ]
            for p in parity
        ]
        out.append(
            md_table(
                [
                    "compared",
                    "device / precision / batch",
                    "steps",
                    "G difference",
                    "D difference",
                    "verdict",
                ],
                body,
                "llrrrl",
            )
        )
        out.append("\n")
        for p in parity:
            out.append(f"![loss curves: {md_escape(p.title(multi))}]({p.figure})\n\n")
    else:
        out.append(
            "No pair of ok TensorFlow and PyTorch cells with the same device, precision and batch.\n\n"
        )

    ok = [r for r in rows if r["status"] == "ok" and num(r.get("throughput_img_s")) is not None]
    out.append("## Throughput and memory\n\n")
    if ok:
        thr = f"{FIGURES_DIR}/" + _fig_name(model, "throughput")
        mem = f"{FIGURES_DIR}/" + _fig_name(model, "memory")
        bars = [
            plots.Bar(
                label=cell_label(r, model=False, run=multi),
                framework=r["framework"],
                value=float(r["throughput_img_s"]),
            )
            for r in ok
        ]
        figs[thr] = lambda path, bars=bars: plots.bar_chart(
            path, bars, title=f"{model}: throughput (higher is better)", xlabel="images / s"
        )
        mem_rows = [r for r in rows if r["status"] == "ok"]
        series = {"host peak RSS": [_mib(r.get("peak_rss_bytes")) for r in mem_rows]}
        for col, name in (
            ("device_alloc_peak_bytes", "device allocator peak"),
            ("nvml_peak_bytes", "device NVML peak"),
        ):
            vals = [_mib(r.get(col)) for r in mem_rows]
            if any(v is not None for v in vals):
                series[name] = vals
        labels = [cell_label(r, model=False, run=multi) for r in mem_rows]
        fws = [r["framework"] for r in mem_rows]
        figs[mem] = lambda path, labels=labels, fws=fws, series=series: plots.grouped_bar_chart(
            path, labels, fws, series, title=f"{model}: peak memory (lower is better)", xlabel="MiB"
        )
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


def _mib(v: Any) -> float | None:
    x = num(v)
    return None if x is None else x / 2**20


def _status_counts(rows: list[dict[str, Any]]) -> str:
    from .vocab import CELL_STATUSES

    counts = {s: sum(1 for r in rows if r["status"] == s) for s in CELL_STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"


def runs_table(runs: RunSet) -> str:
    body = []
    for r in runs.runs:
        v = {
            fw: (r.env.get("frameworks") or {}).get(fw) if isinstance(r.env.get("frameworks"), dict) else None
            for fw in FRAMEWORKS
        }
        versions = [fmt_value(x.get("version") if isinstance(x, dict) else x) for x in v.values()]
        git = r.env.get("git") if isinstance(r.env.get("git"), dict) else {}
        commit = str(git.get("commit") or r.env.get("git_commit") or "–")[:12]
        from .baseline import machine_fingerprint

        rows = _records(r.cells)
        body.append(
            [
                f"`{r.run_id}`",
                fmt_value(r.meta.get("created_at")),
                fmt_value(r.meta.get("profile")),
                f"{len(rows)}: {_status_counts(rows)}",
                *versions,
                commit,
                machine_fingerprint(r.env),
            ]
        )
    return md_table(
        ["run", "created (UTC)", "profile", "cells", "TensorFlow", "PyTorch", "commit", "machine"], body
    )


def side_by_side(table: pd.DataFrame, runs: RunSet) -> str:
    """Median step time of each cell in each run, and its ratio to the first run that has it."""
    ids = runs.run_ids
    ok = table[table["status"] == "ok"]
    if ok.empty:
        return "No ok cells.\n"
    body = []
    seen: list[str] = []
    for cid in ok["cell_id"]:
        if cid not in seen:
            seen.append(cid)
    for cid in seen:
        per = {r["run_id"]: r for r in _records(ok[ok["cell_id"] == cid])}
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


def front_page(
    runs: RunSet, table: pd.DataFrame, parity: list[Parity], models: list[str], multi: bool
) -> str:
    ids = ", ".join(f"`{r.run_id}`" for r in runs.runs)
    cmd = "python -m bench report" + (
        " --runs " + " ".join(f"reports/runs/{r.run_id}" for r in runs.runs) if multi else ""
    )
    out = [
        "# framebench results\n\n",
        f"Generated from the stored run(s) {ids} alone: every table and figure here is a function of "
        f"those results (nothing was re-run). Regenerate with `{cmd}`.\n\n",
        "## Headline\n\n",
    ]
    rows = headline_rows(table, multi)
    if rows:
        out += [
            "Fastest configuration of each framework per model, device and precision (median step time, "
            "throughput), which is faster and by how much, and what compilation costs up front.\n\n",
            md_table(
                (["run"] if multi else [])
                + [
                    "model",
                    "device",
                    "precision",
                    "batch",
                    "fastest TensorFlow",
                    "fastest PyTorch",
                    "faster",
                    "compile cost",
                ],
                rows,
            ),
            "\n",
        ]
    else:
        out.append("No cell ran successfully: see the notes below.\n\n")
    out.append("## Models\n\n")
    for m in models:
        mrows = _records(table[table["model"] == m])
        out.append(f"- [{m}]({m}.md): {len(mrows)} cells — {_status_counts(mrows)}\n")
    if not models:
        out.append("No cells.\n")
    out.append("\n## Runs\n\n")
    out.append(runs_table(runs))
    if multi:
        out += [
            "\n### Side by side\n\nMedian step time per cell in each run (× = ratio to the first run with "
            "that cell; above 1× slower).\n\n",
            side_by_side(table, runs),
        ]
    out += [
        "\n## Conditions\n\n",
        settings_table(runs.runs),
        "\nPer-cell effective flags are listed on each model's page.\n",
    ]
    out += ["\n## Environment\n\n", environment_table(runs.runs)]
    out.append("\n## Notes\n\n")
    ns = notes(runs, table, parity)
    out.append("".join(f"- {n}\n" for n in ns) if ns else "None.\n")
    return "".join(out)


# --------------------------------------------------------------------------- writing


def resolve_runs(
    paths: Sequence[str | Path] | None, runs_root: Path = Path("reports") / "runs"
) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    latest = latest_run(runs_root)
    if latest is None:
        raise BenchError(
            f"no stored runs under {runs_root}; run `python -m bench all` first or pass --runs DIR"
        )
    return [latest]


def write_report(run_dirs: Sequence[str | Path], out: str | Path = "reports") -> list[Path]:
    """Load the runs, write the Markdown pages and figures under ``out``; returns the files written."""
    out = Path(out)
    runs = load_runs(run_dirs)
    report = build_report(runs)
    written: list[Path] = []
    for rel, text in sorted(report.pages.items()):
        written.append(atomic_write_text(out / rel, text))
    fig_dir = out / FIGURES_DIR
    for rel, draw in sorted(report.figures.items()):
        written.append(draw(out / rel))
    # Figures of cells that no longer exist would linger and mislead; ours follow fixed name patterns.
    keep = {out / rel for rel in report.figures}
    if fig_dir.is_dir():
        for pattern in _FIGURE_PATTERNS:
            for p in fig_dir.glob(pattern):
                if p not in keep:
                    p.unlink()
    return written
