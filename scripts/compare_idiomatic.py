"""Is the project's step as fast as an expert's own loop? Fresh processes, interleaved, paired by round.

Runs N fresh processes of each side for one pair: the project's cell (``python -m bench run ...``, one
process, one cell) and the harness-free idiomatic loop in scripts/idiomatic/ (same model, batch,
steps, threads). Round k runs both sides once, in a seeded-random order, so that drifts of the machine
hit both sides alike. Reports each side's per-process medians and their median, and the difference
with an interval from the per-round paired differences (their range: a distribution-free interval of
the median paired difference, coverage 1 - 2^(1 - n), 93.75% for 5 rounds).

    python scripts/compare_idiomatic.py --pair torch-eager               # issue 10, ±3%
    python scripts/compare_idiomatic.py --pair tf-function               # issue 10, ±3%
    python scripts/compare_idiomatic.py --pair torch-compile             # issue 10, ±10%
    python scripts/compare_idiomatic.py --pair torch-eager --dry-run     # the planned order and commands

Defaults: dcgan-mnist, batch 256, 15 timed steps after 1 + 3 warm-up, 2 intra-op threads, 5 processes
per side, CPU. Nothing is written outside a temporary directory (removed unless ``--keep``) and ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("project", "idiomatic")


@dataclass(frozen=True)
class Pair:
    framework: str  # the project's framework name
    mode: str  # the project's mode
    script: str  # the idiomatic loop, relative to the repository root
    script_args: tuple[str, ...]
    tolerance_pct: float  # the acceptance band


TORCH_SCRIPT, TF_SCRIPT = "scripts/idiomatic/torch_dcgan.py", "scripts/idiomatic/tf_dcgan.py"
PAIRS: dict[str, Pair] = {
    "torch-eager": Pair("torch", "eager", TORCH_SCRIPT, (), 3.0),
    "torch-compile": Pair("torch", "compile", TORCH_SCRIPT, ("--compile",), 10.0),
    "tf-function": Pair("tensorflow", "function", TF_SCRIPT, ("--mode", "function"), 3.0),
    "tf-eager": Pair("tensorflow", "eager", TF_SCRIPT, ("--mode", "eager"), 3.0),
    "tf-xla": Pair("tensorflow", "xla", TF_SCRIPT, ("--mode", "xla"), 3.0),
}


# -- pure logic (tested in tests/test_compare_idiomatic.py) -------------------------------------------
def schedule(n_rounds: int, seed: int) -> list[tuple[int, str]]:
    """(round, side) in run order: every round holds both sides once, in a seeded-random order."""
    rng = random.Random(seed)
    out: list[tuple[int, str]] = []
    for k in range(n_rounds):
        order = list(SIDES)
        rng.shuffle(order)
        out += [(k, side) for side in order]
    return out


def takes_repeats(help_text: str) -> bool:
    """Whether a subcommand's ``--help`` lists a ``--repeats`` option in its usage (not just mentions it)."""
    return re.search(r"\[--repeats[ \]]", help_text) is not None


def choose_project_cli(run_help: str, all_help: str) -> tuple[str, bool]:
    """(subcommand, pass ``--repeats 1``): ``run`` unless only ``all`` can be told to use one process."""
    if takes_repeats(run_help) or not takes_repeats(all_help):
        return "run", takes_repeats(run_help)
    return "all", True


def project_command(python: str, subcommand: str, repeats: bool, pair: Pair, model: str, batch: int,
                    steps: int, warmup: int, threads: int, out: str, extra: list[str]) -> list[str]:
    cmd = [python, "-m", "bench", subcommand]
    if subcommand == "run":
        cmd += ["--model", model, "--framework", pair.framework, "--mode", pair.mode, "--device", "cpu",
                "--precision", "fp32"]
        if "--variant" not in extra:
            cmd += ["--variant", "default"]
    else:
        cmd += ["--models", model, "--frameworks", pair.framework, "--modes", pair.mode, "--devices", "cpu",
                "--precisions", "fp32", "--no-report"]
        if "--variants" not in extra:
            cmd += ["--variants", "default"]
    cmd += ["--steps", str(steps), "--warmup", str(warmup), "--window-steps", "0", "--batch-size", str(batch),
            "--threads", str(threads), "--out", out]
    if repeats:
        cmd += ["--repeats", "1"]
    return cmd + list(extra)


def idiomatic_command(python: str, pair: Pair, model: str, batch: int, steps: int, warmup: int,
                      threads: int, interop: int, extra: list[str]) -> list[str]:
    return [python, str(ROOT / pair.script), *pair.script_args, "--model", model, "--batch", str(batch),
            "--steps", str(steps), "--warmup", str(warmup), "--threads", str(threads),
            "--interop", str(interop), *extra]


def parse_json_line(stdout: str) -> dict | None:
    """The last stdout line that is a JSON object with a ``median_s``."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(d, dict) and "median_s" in d:
                return d
    return None


def read_project_result(run_dir: Path) -> dict:
    """median_s, status, times_s, losses_first of the one cell stored in ``run_dir`` (either layout:
    cells/<id>.json + steps/<id>.jsonl, or cells/<id>/r1.json + steps/<id>/r1.jsonl)."""
    cells = sorted(run_dir.glob("cells/*.json")) + sorted(run_dir.glob("cells/*/r1.json"))
    if len(cells) != 1:
        raise ValueError(f"{run_dir}: expected one stored cell result, found {len(cells)}")
    cell = json.loads(cells[0].read_text(encoding="utf-8"))
    out = {"median_s": cell.get("step_time_median_s"), "status": cell.get("status"),
           "reason": cell.get("reason"), "cell_id": cell.get("cell_id"), "times_s": [], "losses_first": None,
           "first_step_s": cell.get("time_to_first_step_s"), "flags": cell.get("flags", {})}
    cell_id = cell.get("cell_id", "")
    for steps in (run_dir / "steps" / f"{cell_id}.jsonl", run_dir / "steps" / cell_id / "r1.jsonl"):
        if steps.is_file():
            rows = [json.loads(x) for x in steps.read_text(encoding="utf-8").splitlines() if x.strip()]
            out["times_s"] = [r["step_time_s"] for r in rows if r.get("phase") == "timed"]
            first = [r for r in rows if r.get("phase") == "first"]
            out["losses_first"] = first[0].get("losses") if first else None
    return out


def _pct(a: float, b: float) -> float:
    return (a / b - 1.0) * 100.0


def summarize(records: list[dict], tolerance_pct: float) -> dict:
    """Per side: process medians (round order; None: that process failed), their median and CV.
    Project vs idiomatic in %: the ratio of the medians of process medians, and the per-round paired
    differences with their range."""
    by_side: dict[str, dict[int, float]] = {s: {} for s in SIDES}
    rounds: dict[str, set[int]] = {s: set() for s in SIDES}
    losses: dict[str, list[dict]] = {s: [] for s in SIDES}
    for r in records:
        rounds[r["side"]].add(r["round"])
        if r.get("median_s"):
            by_side[r["side"]][r["round"]] = float(r["median_s"])
        if r.get("losses_first"):
            losses[r["side"]].append(r["losses_first"])
    sides = {}
    for s in SIDES:
        meds = [by_side[s][k] for k in sorted(by_side[s])]
        sides[s] = {"process_medians_s": [by_side[s].get(k) for k in sorted(rounds[s])], "n_ok": len(meds),
                    "median_of_medians_s": statistics.median(meds) if meds else None,
                    "between_process_cv": (statistics.stdev(meds) / statistics.mean(meds)
                                           if len(meds) > 1 else None),
                    "losses_first_median": {k: statistics.median(x[k] for x in losses[s])
                                            for k in (losses[s][0] if losses[s] else {})}}
    paired = [_pct(by_side["project"][k], by_side["idiomatic"][k])
              for k in sorted(by_side["project"]) if k in by_side["idiomatic"]]
    p, i = sides["project"]["median_of_medians_s"], sides["idiomatic"]["median_of_medians_s"]
    diff = _pct(p, i) if p and i else None
    lo, hi = (min(paired), max(paired)) if paired else (None, None)
    return {"sides": sides, "difference_pct": diff, "paired_differences_pct": paired,
            "paired_median_pct": statistics.median(paired) if paired else None,
            "interval_pct": [lo, hi], "interval_coverage": 1 - 2.0 ** (1 - len(paired)) if paired else None,
            "tolerance_pct": tolerance_pct, "verdict": verdict(diff, lo, hi, tolerance_pct)}


def verdict(diff: float | None, lo: float | None, hi: float | None, tol: float) -> str:
    if diff is None:
        return "no result"
    point = "within" if abs(diff) <= tol else "outside"
    if lo is None or hi is None or lo == hi:
        return f"{point} ±{tol:g}% (no interval)"
    if -tol <= lo and hi <= tol:
        return f"{point} ±{tol:g}%; the whole interval is within"
    if lo > tol or hi < -tol:
        return f"{point} ±{tol:g}%; the whole interval is outside"
    return f"{point} ±{tol:g}%; the interval straddles the band"


def format_table(summary: dict, title: str) -> str:
    def ms(x: float | None, missing: str = "-") -> str:
        return missing if x is None else f"{x * 1e3:.1f}"

    lines = [title, f"{'side':<10} {'per-process medians (ms, round order)':<44} {'median (ms)':>11} "
                    f"{'CV':>6}  first-step losses"]
    for s in SIDES:
        d = summary["sides"][s]
        cv = "-" if d["between_process_cv"] is None else f"{d['between_process_cv'] * 100:.1f}%"
        loss = " ".join(f"{k} {v:.3f}" for k, v in d["losses_first_median"].items())
        lines.append(f"{s:<10} {' '.join(ms(x, 'failed') for x in d['process_medians_s']):<44} "
                     f"{ms(d['median_of_medians_s']):>11} {cv:>6}  {loss}")
    diff, (lo, hi) = summary["difference_pct"], summary["interval_pct"]
    if diff is None:
        lines.append("project vs idiomatic: no result (a side has no successful process)")
    else:
        rng = "-" if lo is None else f"{lo:+.1f}% .. {hi:+.1f}%"
        cov = summary["interval_coverage"]
        lines.append(f"project vs idiomatic: {diff:+.1f}% (median of medians); per-round paired differences "
                     f"{' '.join(f'{x:+.1f}%' for x in summary['paired_differences_pct'])}: median "
                     f"{summary['paired_median_pct']:+.1f}%, range {rng}"
                     + (f" ({cov * 100:.2f}% interval of the median paired difference)" if cov else ""))
        lines.append(f"verdict: {summary['verdict']}")
    return "\n".join(lines)


# -- running processes ------------------------------------------------------------------------------
def _run(cmd: list[str], timeout_s: float) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group of the process started here
        out, err = proc.communicate()
        return 124, out, err + f"\ntimed out after {timeout_s:g} s", time.perf_counter() - t0
    return proc.returncode, out, err, time.perf_counter() - t0


def _help(python: str, sub: str) -> str:
    return subprocess.run([python, "-m", "bench", sub, "--help"], cwd=ROOT, capture_output=True,
                          text=True).stdout


def run_one(args: argparse.Namespace, pair: Pair, cli: tuple[str, bool], rnd: int, side: str,
            order: int, work: Path) -> dict:
    rec: dict = {"round": rnd, "side": side, "order": order}
    if side == "project":
        out = work / f"project-r{rnd}"
        cmd = project_command(args.python, cli[0], cli[1], pair, args.model, args.batch, args.steps,
                              args.warmup, args.threads, str(out), shlex.split(args.project_args))
    else:
        cmd = idiomatic_command(args.python, pair, args.model, args.batch, args.steps, args.warmup,
                                args.threads, args.interop, shlex.split(args.script_args))
    rc, stdout, stderr, wall = _run(cmd, args.timeout)
    rec.update(command=shlex.join(cmd), rc=rc, wall_s=wall)
    try:
        res = read_project_result(out) if side == "project" else parse_json_line(stdout)
        if res is None:
            raise ValueError("no JSON line with median_s on stdout")
        if side == "project" and res.get("status") != "ok":
            raise ValueError(f"cell status {res.get('status')}: {res.get('reason')}")
        rec.update(res)
    except (OSError, ValueError) as e:
        rec.update(median_s=None, error=f"{e}; stderr tail: {stderr[-2000:]}")
    return rec


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pair", choices=sorted(PAIRS), required=True)
    p.add_argument("--model", choices=("dcgan-mnist", "dcgan-64"), default="dcgan-mnist")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size (default: the model's, dcgan-mnist 256, dcgan-64 128)")
    p.add_argument("--processes", type=int, default=5, help="fresh processes per side (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the interleaved order (default 0)")
    p.add_argument("--steps", type=int, default=15, help="timed steps per process (default 15)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up steps after the first (default 3)")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads, both sides (default 2)")
    p.add_argument("--interop", type=int, default=None,
                   help="idiomatic side's inter-op threads (default: --threads, as the harness sets both "
                        "to the physical cores)")
    p.add_argument("--tolerance", type=float, default=None, help="band in %% (default: the pair's: "
                   + ", ".join(f"{k} {v.tolerance_pct:g}" for k, v in PAIRS.items()) + ")")
    p.add_argument("--script-args", default="", help="extra arguments of the idiomatic script, one string")
    p.add_argument("--project-args", default="", help="extra arguments of `bench run`, e.g. '--variant x'")
    p.add_argument("--python", default=sys.executable, help="interpreter of both sides")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per process (default 1800)")
    p.add_argument("--json", metavar="PATH", help="write every process's record and the summary here")
    p.add_argument("--keep", action="store_true", help="keep the project's run directories")
    p.add_argument("--dry-run", action="store_true", help="print the planned order and commands only")
    a = p.parse_args(argv)
    a.batch = a.batch or {"dcgan-mnist": 256, "dcgan-64": 128}[a.model]
    a.interop = a.threads if a.interop is None else a.interop
    if a.processes < 1 or a.batch < 1 or a.steps < 1 or a.warmup < 0 or a.threads < 1:
        p.error("--processes, --batch, --steps, --threads must be >= 1 and --warmup >= 0")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pair = PAIRS[args.pair]
    tol = pair.tolerance_pct if args.tolerance is None else args.tolerance
    plan = schedule(args.processes, args.seed)
    cli = choose_project_cli(_help(args.python, "run"), _help(args.python, "all"))
    title = (f"{args.pair}: {args.model}, batch {args.batch}, CPU fp32, 1 + {args.warmup} warm-up + "
             f"{args.steps} timed steps, {args.threads} threads, {args.processes} processes per side, "
             f"order seed {args.seed}")
    work = Path(tempfile.mkdtemp(prefix="compare_idiomatic_"))
    if args.dry_run:
        print(title)
        for order, (rnd, side) in enumerate(plan):
            cmd = (project_command(args.python, cli[0], cli[1], pair, args.model, args.batch, args.steps,
                                   args.warmup, args.threads, str(work / f"project-r{rnd}"),
                                   shlex.split(args.project_args))
                   if side == "project" else
                   idiomatic_command(args.python, pair, args.model, args.batch, args.steps, args.warmup,
                                     args.threads, args.interop, shlex.split(args.script_args)))
            print(f"{order:>3} round {rnd} {side:<10} {shlex.join(cmd)}")
        work.rmdir()
        return 0
    records = []
    try:
        for order, (rnd, side) in enumerate(plan):
            rec = run_one(args, pair, cli, rnd, side, order, work)
            med = "failed" if rec.get("median_s") is None else f"{rec['median_s'] * 1e3:.1f} ms"
            print(f"[{order + 1}/{len(plan)}] round {rnd} {side}: {med} ({rec['wall_s']:.0f} s)",
                  file=sys.stderr, flush=True)
            if rec.get("error"):
                print(f"  {rec['error'][:500]}", file=sys.stderr)
            records.append(rec)
    finally:
        if args.keep:
            print(f"project run directories kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    summary = summarize(records, tol)
    print(format_table(summary, title))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "pair": args.pair, "model": args.model, "batch": args.batch, "steps": args.steps,
            "warmup": args.warmup, "threads": args.threads, "interop": args.interop,
            "processes": args.processes, "seed": args.seed, "project_cli": cli[0], "schedule": plan,
            "records": records, "summary": summary}, indent=1) + "\n", encoding="utf-8")
    ok = all(summary["sides"][s]["n_ok"] == args.processes for s in SIDES)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
