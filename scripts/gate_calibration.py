#!/usr/bin/env python
"""Calibrate the regression gate on real runs of this machine: false alarms and detection rates.

    python scripts/gate_calibration.py collect  [--dir DIR] [--blocks N]   # the runs (about 4 min each)
    python scripts/gate_calibration.py evaluate [--dir DIR] [--out FILE]   # the table, from the stored runs

collect  runs the reduced matrix (dcgan-mnist and dcgan-64; TensorFlow eager and function, torch
         eager and compile; CPU, fp32, default variants; --repeats 3) as separate `bench all` runs in
         blocks of four: unchanged, FRAMEBENCH_INJECT_SLOWDOWN=0.2, unchanged, FRAMEBENCH_INJECT_SLOWDOWN=0.1,
         so that the machine's drift falls on every kind alike. Runs already complete are kept, a partial
         one is resumed: the command can be stopped and started again.
evaluate gates every stored run with `bench.gate` (its default settings) against history baselines
         built from OTHER unchanged runs, and prints (and writes) the false-alarm and detection table;
         then (gate_calibration_days.py) every one-run-baseline decision with and without the day-one
         prior, the pooled between-run sd that prior writes down, and across days: the run of
         2026-12-07 against the November run and its repeat, with and without the drift rule, and
         with a 20% slowdown injected into some of its cells. Reads the stored runs only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

DEFAULT_DIR = ROOT / "reports" / "calibration" / "gate-history"
BLOCK = (("unchanged", None), ("slow20", "0.2"), ("unchanged", None), ("slow10", "0.1"))
MATRIX = (
    "--models", "dcgan-mnist", "dcgan-64",
    "--frameworks", "tensorflow", "torch",
    "--modes", "eager", "function", "compile",
    "--devices", "cpu",
    "--precisions", "fp32",
    "--variants", "default",
    "--repeats", "3",
)


def planned_runs(blocks: int) -> list[tuple[str, str | None]]:
    """(run name, slowdown fraction or None), in the order they run: NN-kind."""
    out = []
    for b in range(blocks):
        for i, (kind, slow) in enumerate(BLOCK):
            out.append((f"{b * len(BLOCK) + i + 1:02d}-{kind}", slow))
    return out


def _complete(run_dir: Path) -> bool:
    """Every scheduled process of the run has its result file."""
    import json

    try:
        schedule = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["schedule"]
    except (OSError, ValueError, KeyError):
        return False
    return all((run_dir / "cells" / str(e["cell_id"]) / f"r{e['repeat']}.json").is_file() for e in schedule)


def collect(directory: Path, blocks: int) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    for name, slow in planned_runs(blocks):
        run_dir = directory / name
        if _complete(run_dir):
            continue
        env = {k: v for k, v in os.environ.items() if k != "FRAMEBENCH_INJECT_SLOWDOWN"}
        if slow is not None:
            env["FRAMEBENCH_INJECT_SLOWDOWN"] = slow
        cmd = [sys.executable, "-m", "bench", "all", *MATRIX, "--no-report", "--out", str(run_dir)]
        if (run_dir / "run.json").is_file():
            cmd.append("--resume")
        print(f"[calibration] {name}: {' '.join(cmd[1:])}", flush=True)
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        if rc != 0:
            print(f"[calibration] {name} exited {rc}; stopping", file=sys.stderr)
            return rc
    return 0


# --------------------------------------------------------------------------- evaluate

HISTORY_RUNS = 5  # runs per history baseline: what a team would keep after a week of main-branch runs
KINDS = (("unchanged", "unchanged code"), ("slow20", "FRAMEBENCH_INJECT_SLOWDOWN=0.2"),
         ("slow10", "FRAMEBENCH_INJECT_SLOWDOWN=0.1"))


SUMMARY_HEAD = ["runs", "stored runs", "gate decisions", "decisions that failed",
                "cells flagged (ok both sides)", ""]


def _runs_by_kind(directory: Path) -> dict[str, list[tuple[int, Path]]]:
    out: dict[str, list[tuple[int, Path]]] = {k: [] for k, _ in KINDS}
    for d in sorted(directory.iterdir()):
        num, _, kind = d.name.partition("-")
        if d.is_dir() and num.isdigit() and kind in out and _complete(d):
            out[kind].append((int(num), d))
    return out


def histories_for(position: int, unchanged: list[tuple[int, Path]], size: int) -> list[list[Path]]:
    """Two disjoint histories of ``size`` OTHER unchanged runs for the run at ``position``: the
    ``size`` nearest in run order, then the next ``size`` nearest (fewer when there are not enough)."""
    others = sorted((abs(n - position), n, d) for n, d in unchanged if n != position)
    first = [d for *_, d in others[:size]]
    second = [d for *_, d in others[size:2 * size]]
    return [h for h in (first, second) if len(h) == size]


class _Runs:
    """Stored runs loaded once, with their baseline entries and cell summaries."""

    def __init__(self) -> None:
        self.runs: dict[Path, object] = {}
        self.entries: dict[Path, dict] = {}
        self.cells: dict[Path, dict] = {}

    def run(self, d: Path):
        from bench.results.load import load_run

        if d not in self.runs:
            self.runs[d] = load_run(d)
        return self.runs[d]

    def entry(self, d: Path) -> dict:
        from bench.gate.baseline import run_entry

        if d not in self.entries:
            self.entries[d] = run_entry(self.run(d))
        return self.entries[d]

    def summaries(self, d: Path) -> dict:
        from bench.gate.baseline import baseline_cells

        if d not in self.cells:
            self.cells[d] = baseline_cells(self.run(d))
        return self.cells[d]

    def gate(self, history: list[Path], d: Path, cfg: dict):
        import copy

        from bench.gate import compare
        from bench.gate.baseline import baseline_of_entries

        baseline = baseline_of_entries([copy.deepcopy(self.entry(h)) for h in history], name="calibration")
        run = self.run(d)
        return compare(baseline, copy.deepcopy(self.summaries(d)), run.env, cfg=cfg, run_meta=run.meta)


def _tally(counts: list[int], res) -> list:
    """Add one gate decision to [decisions, decisions failed, cells compared, cells flagged]; returns
    the cells compared (ok on both sides)."""
    compared = [v for v in res.verdicts if v.base_status == "ok" and v.new_status == "ok"]
    for i, n in enumerate((1, bool(res.failed), len(compared), len(res.failed))):
        counts[i] += n
    return compared


def _flags(res) -> str:
    return "; ".join(f"{v.cell_id} ({', '.join(m for m, c in v.checks.items() if c.failed)})"
                     for v in res.failed) or "–"


def _pct(k: int, n: int) -> str:
    return f"{k}/{n} ({100 * k / max(n, 1):.0f}%)"


def evaluate(directory: Path, out: Path | None) -> int:
    from bench.gate import load_config, rule_text
    from bench.markdown import md_table

    cfg = load_config(ROOT / "pyproject.toml")
    sweep = {"the gate's defaults": cfg, "alpha 0.05": {**cfg, "alpha": 0.05},
             "Holm instead of BH": {**cfg, "correction": "holm"},
             "no multiple-comparison control": {**cfg, "correction": "none"}}
    runs = _runs_by_kind(directory)
    unchanged = runs["unchanged"]
    if len(unchanged) < HISTORY_RUNS + 1:
        print(f"need at least {HISTORY_RUNS + 1} complete unchanged runs in {directory}", file=sys.stderr)
        return 2
    store = _Runs()
    # (setting, kind) -> [decisions, decisions failed, cells compared, cells flagged]
    counts = {(name, kind): [0, 0, 0, 0] for name in sweep for kind, _ in KINDS}
    per_cell: dict[tuple[str, str], list[float]] = {}
    decisions = []
    for kind, _ in KINDS:
        for pos, d in runs[kind]:
            for h in histories_for(pos, unchanged, HISTORY_RUNS):
                for name, c in sweep.items():
                    res = store.gate(h, d, c)
                    compared = _tally(counts[name, kind], res)
                    if c is not cfg:
                        continue
                    decisions.append([kind, d.name, " ".join(x.name.split("-")[0] for x in h),
                                      "FAIL" if res.failed else "pass", str(len(res.failed)), _flags(res)])
                    for v in compared:
                        st = v.checks.get("step_time")
                        if st is not None and st.change is not None:
                            per_cell.setdefault((kind, v.cell_id), []).append(st.change)
    default = next(iter(sweep))
    summary = []
    for kind, label in KINDS:
        n_dec, n_fail, n_cells, n_flag = counts[default, kind]
        summary.append([label, str(len(runs[kind])), str(n_dec), _pct(n_fail, n_dec), _pct(n_flag, n_cells),
                        "false alarms" if kind == "unchanged" else "detections"])
    sweep_rows = [[name] + [f"{_pct(counts[name, k][1], counts[name, k][0])}; cells "
                            f"{_pct(counts[name, k][3], counts[name, k][2])}" for k, _ in KINDS]
                  for name in sweep]
    single = _single_run_false_alarms(unchanged, store, cfg)
    preceding = _preceding_history_rates(runs, store, cfg)
    lines = [
        "# Gate calibration on real runs of this machine\n\n",
        f"Generated by `python scripts/gate_calibration.py evaluate --dir {_rel(directory)}` from the runs "
        f"in `{_rel(directory)}` (collected by `python scripts/gate_calibration.py collect`): the reduced "
        "matrix (dcgan-mnist and dcgan-64; TensorFlow eager and function, torch eager and compile; CPU, "
        "fp32; `--repeats 3`), in blocks of four runs: unchanged, 20% injected slowdown, unchanged, 10% "
        "injected slowdown. Each run is gated with the gate's default settings against history "
        f"baselines of {HISTORY_RUNS} OTHER unchanged runs (the {HISTORY_RUNS} nearest in run order, then "
        f"the next {HISTORY_RUNS}: two disjoint histories per run where there are enough). "
        "No confirmation re-runs (`--confirm`) are counted here: these are first verdicts.\n\n",
        md_table(SUMMARY_HEAD, summary, "lrrrrl"),
        "\nWith a single run as the baseline instead (each unchanged run against the nearest other one, "
        f"between-process noise only): {single}.\n\n",
        f"As CI builds it instead (the history is the {HISTORY_RUNS} unchanged runs that PRECEDE the gated "
        f"one, so only runs with {HISTORY_RUNS} unchanged runs before them are gated; one decision per "
        f"run): {preceding}.\n\n",
        "## Other settings of the gate on the same decisions\n\n",
        md_table(["setting", *[label for _, label in KINDS]], sweep_rows, "l" + "r" * len(KINDS)),
        "\n## Step-time change measured per cell (median over decisions, min to max)\n\n",
        md_table(["cell"] + [k for k, _ in KINDS],
                 [[cid] + [_spread(per_cell.get((k, cid))) for k, _ in KINDS]
                  for cid in sorted({c for _, c in per_cell})], "l" + "r" * len(KINDS)),
        "\n## Every decision (the gate's defaults)\n\n",
        md_table(["kind", "run", "history (run numbers)", "gate", "cells flagged", "which (metrics)"],
                 decisions, "llllrl"),
        f"\nRule: {rule_text(cfg)}\n",
    ]
    days = _days_sections(directory, cfg)
    text = "".join(lines) + days
    print(md_table(SUMMARY_HEAD, summary, "lrrrrl"))
    print(md_table(["setting", *[label for _, label in KINDS]], sweep_rows, "l" + "r" * len(KINDS)))
    print(f"single-run baselines: {single}")
    print(f"preceding-runs histories: {preceding}")
    if out is not None:
        out.write_text(text, encoding="utf-8")
        print(f"written: {out}")
    return 0


def _days_sections(directory: Path, cfg: dict) -> str:
    """The day-one and cross-day sections (scripts/gate_calibration_days.py), printed and returned."""
    import gate_calibration_days as days

    sd = days.pooled_between_run_sd(directory)
    pooled = (f"\nPooled between-run sd over the unchanged runs (log values): step time "
              f"{sd['step_time'] * 100:.2f}%, throughput {sd['throughput'] * 100:.2f}% "
              f"(bench/gate/prior.py uses {cfg['day_one_sd'] * 100:.1f}%).\n\n")
    day_one, _ = days.day_one(directory, cfg)
    parts = [day_one, pooled]
    if days.CROSS_DAY_RUN.is_dir() and all(p.is_dir() for p in days.NOVEMBER_RUNS):
        parts.append(days.cross_day(cfg)[0])
    text = "\n" + "".join(parts)
    print(text)
    return text


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def _spread(changes: list[float] | None) -> str:
    if not changes:
        return "–"
    s = sorted(changes)
    return f"{100 * s[len(s) // 2]:+.1f}% ({100 * s[0]:+.1f}…{100 * s[-1]:+.1f})"


def _single_run_false_alarms(unchanged: list[tuple[int, Path]], store: _Runs, cfg: dict) -> str:
    k = [0, 0, 0, 0]
    for pos, d in unchanged:
        nearest = min((abs(n - pos), n, o) for n, o in unchanged if n != pos)[2]
        _tally(k, store.gate([nearest], d, cfg))
    return f"{k[1]}/{k[0]} decisions failed, {k[3]}/{k[2]} cells flagged on unchanged code"


def _preceding_history_rates(runs: dict[str, list[tuple[int, Path]]], store: _Runs, cfg: dict) -> str:
    parts = []
    for kind, label in KINDS:
        k = [0, 0, 0, 0]
        for pos, d in runs[kind]:
            before = [o for n, o in runs["unchanged"] if n < pos][-HISTORY_RUNS:]
            if len(before) == HISTORY_RUNS:
                _tally(k, store.gate(before, d, cfg))
        parts.append(f"{label}: {_pct(k[1], k[0])} decisions failed, cells {_pct(k[3], k[2])}")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="run the calibration runs")
    c.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    c.add_argument("--blocks", type=int, default=6,
                   help="blocks of 4 runs (2 unchanged, 1 at 20%%, 1 at 10%%)")
    e = sub.add_parser("evaluate", help="gate the stored runs and print the table")
    e.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    e.add_argument("--out", type=Path, default=DEFAULT_DIR.parent / "gate-calibration.md")
    args = p.parse_args(argv)
    if args.command == "collect":
        return collect(args.dir, args.blocks)
    return evaluate(args.dir, args.out)


if __name__ == "__main__":
    sys.exit(main())
