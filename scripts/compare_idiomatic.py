"""Is the project's step as fast as an expert's own loop? Fresh processes, interleaved, paired by round.

For each comparison (model × framework × mode) it runs N fresh processes of each side: the project's
cell (``python -m bench run ...``, one process, one cell) and the harness-free loop in
scripts/idiomatic/ (same model, batch, steps, threads). Round k runs every comparison's two sides once:
the comparisons in a seeded-random order, each one's two sides back to back in a seeded-random order,
so that drifts of the machine hit both sides of a pair alike. Reports per comparison each side's
per-process medians and their median, and harness/plain as a ratio of those medians and as the median
of the per-round paired ratios with its order-statistic interval (bench.stats.median_ci, 95% or the
nearest below: the range of the rounds up to 8 processes, 99.2% for 8; narrower from 9 on).

    python scripts/compare_idiomatic.py                                  # the quick matrix (issue 27)
    python scripts/compare_idiomatic.py --models vae-mnist --pairs tf-function,tf-xla
    python scripts/compare_idiomatic.py --pair torch-eager --model dcgan-mnist --batch 256 --processes 5
    python scripts/compare_idiomatic.py --dry-run                        # the planned order and commands

Defaults: every model of the quick profile (dcgan-mnist, dcgan-64, vae-mnist) at its quick-profile CPU
batch (64, 16, 128), every CPU fp32 mode of the quick profile (tf-eager, tf-function, tf-xla,
torch-eager, torch-compile), 8 processes per side, 15 timed steps after 1 + 3 warm-up, 2 intra-op
threads, CPU. torch's plain loops use TensorFlow's exact 'same' pads (``--padding tf``), as the
project's models do. Nothing is written outside a temporary directory (removed unless ``--keep``) and
``--json`` (rewritten after every process, so an interrupted run keeps what it measured).
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
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # bench.plan.profiles (no framework import), the stats

from compare_idiomatic_stats import (  # noqa: E402  (re-exported: the tests read them from here)
    SIDES,
    format_matrix,
    format_table,
    paired_interval,
    summarize,
    verdict,
)

__all__ = ["format_matrix", "format_table", "paired_interval", "summarize", "verdict"]

MODELS = ("dcgan-mnist", "dcgan-64", "vae-mnist")
TOLERANCE_PCT = 3.0  # issue 27: within ±3% of a plain loop, every framework and mode


@dataclass(frozen=True)
class Pair:
    framework: str  # the project's framework name
    mode: str  # the project's mode
    script_args: tuple[str, ...]  # the plain loop's own switches for this mode
    tolerance_pct: float  # the acceptance band


SCRIPTS = {  # the plain loop of each framework and model, under scripts/idiomatic/
    fw: {"dcgan-mnist": f"{p}_dcgan.py", "dcgan-64": f"{p}_dcgan.py", "vae-mnist": f"{p}_vae.py"}
    for fw, p in (("torch", "torch"), ("tensorflow", "tf"))
}
# The project's models use TensorFlow's asymmetric 'same' pads; torch's symmetric port is a different
# (shifted, cheaper) model, so the torch loops are told to pad as TF does.
TORCH_PADS = ("--padding", "tf")
PAIRS: dict[str, Pair] = {
    "tf-eager": Pair("tensorflow", "eager", ("--mode", "eager"), TOLERANCE_PCT),
    "tf-function": Pair("tensorflow", "function", ("--mode", "function"), TOLERANCE_PCT),
    "tf-xla": Pair("tensorflow", "xla", ("--mode", "xla"), TOLERANCE_PCT),
    "torch-eager": Pair("torch", "eager", TORCH_PADS, TOLERANCE_PCT),
    "torch-compile": Pair("torch", "compile", (*TORCH_PADS, "--compile"), TOLERANCE_PCT),
}


def quick_batch(model: str) -> int:
    """The quick profile's CPU batch of ``model`` (bench.plan.profiles: 64, 16, 128 for the three models)."""
    from bench.plan.profiles import get_profile
    from models.registry import get_spec

    return get_profile("quick").batch_size(model, "cpu", get_spec(model).batch_size)


def key_of(model: str, pair: str) -> str:
    return f"{model}/{pair}"


# -- pure logic (tested in tests/test_compare_idiomatic.py) -------------------------------------------
def matrix_schedule(n_rounds: int, keys: list[str], seed: int) -> list[tuple[int, str, str]]:
    """(round, comparison, side) in run order: every round holds each comparison's two sides once,
    back to back; the comparisons and each one's sides in a seeded-random order."""
    rng = random.Random(seed)
    out: list[tuple[int, str, str]] = []
    for k in range(n_rounds):
        order = list(keys)
        rng.shuffle(order)
        for key in order:
            sides = list(SIDES)
            rng.shuffle(sides)
            out += [(k, key, side) for side in sides]
    return out


def schedule(n_rounds: int, seed: int) -> list[tuple[int, str]]:
    """(round, side) of one comparison (the matrix schedule of one, which draws the same order)."""
    return [(k, side) for k, _, side in matrix_schedule(n_rounds, ["one"], seed)]


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
    return [python, str(ROOT / "scripts" / "idiomatic" / SCRIPTS[pair.framework][model]), *pair.script_args,
            "--model", model, "--batch", str(batch), "--steps", str(steps), "--warmup", str(warmup),
            "--threads", str(threads), "--interop", str(interop), *extra]


def parse_json_line(stdout: str) -> dict | None:
    """The last stdout line that is a JSON object with a ``median_s``."""
    from bench.lines import last_json_line

    return last_json_line(stdout, key="median_s")


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


def run_one(args: argparse.Namespace, cli: tuple[str, bool], rnd: int, key: str, side: str, order: int,
            work: Path) -> dict:
    model, name = key.split("/")
    batch = args.batches[model]
    rec: dict = {"round": rnd, "key": key, "model": model, "pair": name, "batch": batch, "side": side,
                 "order": order}
    out = work / f"project-{model}-{name}-r{rnd}"
    cmd = command(args, cli, key, side, out)
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
    if side == "project" and not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return rec


def command(args: argparse.Namespace, cli: tuple[str, bool], key: str, side: str, out: Path) -> list[str]:
    model, name = key.split("/")
    pair, batch = PAIRS[name], args.batches[model]
    if side == "project":
        # One pinned peak for every project process (else each would probe the machine's peak anew).
        extra = ["--peaks-dir", str(out.parent / "peaks"), *shlex.split(args.project_args)]
        return project_command(args.python, cli[0], cli[1], pair, model, batch, args.steps, args.warmup,
                               args.threads, str(out), extra)
    return idiomatic_command(args.python, pair, model, batch, args.steps, args.warmup, args.threads,
                             args.interop, shlex.split(args.script_args))


def _choices(p: argparse.ArgumentParser, value: str, valid: tuple[str, ...], what: str) -> list[str]:
    picked = list(dict.fromkeys(x.strip() for x in value.split(",") if x.strip()))
    bad = [x for x in picked if x not in valid]
    if bad or not picked:
        p.error(f"{what}: unknown {', '.join(bad) or '(none given)'}; valid: {', '.join(valid)}")
    return picked


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", "--model", default=",".join(MODELS),
                   help=f"comma-separated, of {', '.join(MODELS)} (default: all)")
    p.add_argument("--pairs", "--pair", default=",".join(PAIRS),
                   help=f"comma-separated framework-mode pairs, of {', '.join(PAIRS)} (default: all)")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size of every model (default: each model's quick-profile CPU batch)")
    p.add_argument("--processes", type=int, default=8, help="fresh processes per side (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the interleaved order (default 0)")
    p.add_argument("--steps", type=int, default=15, help="timed steps per process (default 15)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up steps after the first (default 3)")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads, both sides (default 2)")
    p.add_argument("--interop", type=int, default=None,
                   help="plain side's inter-op threads (default: --threads, as the harness sets both "
                        "to the physical cores)")
    p.add_argument("--tolerance", type=float, default=TOLERANCE_PCT, help="band in %% (default 3)")
    p.add_argument("--script-args", default="", help="extra arguments of the plain loops, one string")
    p.add_argument("--project-args", default="", help="extra arguments of `bench run`, e.g. '--variant x'")
    p.add_argument("--python", default=sys.executable, help="interpreter of both sides")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per process (default 1800)")
    p.add_argument("--json", metavar="PATH", help="write every process's record and the summaries here")
    p.add_argument("--keep", action="store_true", help="keep the project's run directories")
    p.add_argument("--dry-run", action="store_true", help="print the planned order and commands only")
    a = p.parse_args(argv)
    a.model_list = _choices(p, a.models, MODELS, "--models")
    a.pair_list = _choices(p, a.pairs, tuple(PAIRS), "--pairs")
    a.interop = a.threads if a.interop is None else a.interop
    if a.processes < 1 or (a.batch is not None and a.batch < 1) or a.steps < 1 or a.warmup < 0 \
            or a.threads < 1:
        p.error("--processes, --batch, --steps, --threads must be >= 1 and --warmup >= 0")
    a.batches = {m: a.batch or quick_batch(m) for m in a.model_list}
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = [key_of(m, name) for m in args.model_list for name in args.pair_list]
    plan = matrix_schedule(args.processes, keys, args.seed)
    cli = choose_project_cli(_help(args.python, "run"), _help(args.python, "all"))
    title = (f"CPU fp32, 1 + {args.warmup} warm-up + {args.steps} timed steps, {args.threads} threads, "
             f"{args.processes} processes per side, order seed {args.seed}")
    work = Path(tempfile.mkdtemp(prefix="compare_idiomatic_"))
    if args.dry_run:
        print(f"{len(keys)} comparison(s), {len(plan)} processes; {title}")
        for order, (rnd, key, side) in enumerate(plan):
            print(f"{order:>4} round {rnd} {key:<26} {side:<10} "
                  f"{shlex.join(command(args, cli, key, side, work / 'project'))}")
        work.rmdir()
        return 0
    records: list[dict] = []
    t0 = time.perf_counter()

    def report() -> tuple[str, dict]:
        rows, summaries = [], {}
        for key in keys:
            model, name = key.split("/")
            summaries[key] = summarize([r for r in records if r["key"] == key], args.tolerance)
            pair = PAIRS[name]
            rows.append((model, pair.framework, pair.mode, args.batches[model], summaries[key]))
        return format_matrix(rows), summaries

    try:
        for order, (rnd, key, side) in enumerate(plan):
            rec = run_one(args, cli, rnd, key, side, order, work)
            records.append(rec)
            med = "failed" if rec.get("median_s") is None else f"{rec['median_s'] * 1e3:.1f} ms"
            done = time.perf_counter() - t0
            print(f"[{order + 1}/{len(plan)}] round {rnd} {key} {side}: {med} ({rec['wall_s']:.0f} s; "
                  f"{done / 60:.1f} min so far, ~{done / (order + 1) * (len(plan) - order - 1) / 60:.0f} "
                  "min left)", file=sys.stderr, flush=True)
            if rec.get("error"):
                print(f"  {rec['error'][:500]}", file=sys.stderr)
            if args.json:
                table, summaries = report()
                Path(args.json).write_text(json.dumps({
                    "args": {k: v for k, v in vars(args).items()}, "project_cli": cli[0], "schedule": plan,
                    "records": records, "summaries": summaries, "table": table}, indent=1) + "\n",
                    encoding="utf-8")
    finally:
        if args.keep:
            print(f"project run directories kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    table, summaries = report()
    for key in keys:
        model, name = key.split("/")
        print(format_table(summaries[key], f"{name}: {model}, batch {args.batches[model]}, {title}") + "\n")
    print(f"harness/plain per comparison ({title}; {(time.perf_counter() - t0) / 60:.1f} min):")
    print(table)
    ok = all(summaries[k]["sides"][s]["n_ok"] == args.processes for k in keys for s in SIDES)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
