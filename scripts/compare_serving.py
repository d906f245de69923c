"""Is the project's batch-1 generate latency a plain serving loop's? Fresh processes, interleaved, paired.

For each framework × mode it runs N fresh processes of each side: the project's ``generate`` cell
(``python -m bench run --scenario generate ...``, one process, one cell; its latency at batch 1 is the
stored ``step_time_median_s``, the p50 of its timed batch-1 calls) and the harness-free serving loop in
scripts/idiomatic/ (``torch_serve_dcgan.py``, ``tf_serve_dcgan.py``: the same generator, weights, z,
threads and call counts and durations, batch 1). Round k runs every comparison's two sides once, the
comparisons and each one's two sides in a seeded-random order (scripts/compare_idiomatic.py's
schedule), and the statistics are compare_idiomatic's: each side's median of process medians and
their between-process CV, harness/plain as the ratio of those medians and as the median of the
per-round paired ratios with its order-statistic interval. The band is ±5% (issue 20).

    python scripts/compare_serving.py                       # dcgan-mnist, the default pairs, 8 a side
    python scripts/compare_serving.py --pairs torch-onnx,tf-savedmodel --processes 4
    python scripts/compare_serving.py --dry-run             # the planned order and commands

The project's cell runs as the quick profile's dcgan-mnist generate cell does (its batch N for the
throughput phase, 64, after the batch-1 latency; ``--cell-batch`` changes it); both sides get the
profile's generate settings (warm-up: 3 calls and 0.5 s; timed: 5 calls and 1 s) and ``--threads``.
Nothing is written outside a temporary directory (removed unless ``--keep``) and ``--json``
(rewritten after every process; ``scripts/idiomatic_table.py`` reads it as a Markdown table).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # bench.plan.profiles (no framework import), siblings

from compare_idiomatic import (  # noqa: E402
    Pair,
    _choices,
    _run,
    key_of,
    matrix_schedule,
    parse_json_line,
    read_project_result,
)
from compare_idiomatic_stats import SIDES, format_table, summarize  # noqa: E402

MODELS = ("dcgan-mnist",)
TOLERANCE_PCT = 5.0  # issue 20: the harness's batch-1 latency within ±5% of a plain serving loop
SCRIPTS = {"torch": "torch_serve_dcgan.py", "tensorflow": "tf_serve_dcgan.py"}
PAIRS: dict[str, Pair] = {
    "tf-eager": Pair("tensorflow", "eager", ("--mode", "eager"), TOLERANCE_PCT),
    "tf-function": Pair("tensorflow", "function", ("--mode", "function"), TOLERANCE_PCT),
    "tf-xla": Pair("tensorflow", "xla", ("--mode", "xla"), TOLERANCE_PCT),
    "tf-savedmodel": Pair("tensorflow", "savedmodel", ("--mode", "savedmodel"), TOLERANCE_PCT),
    "torch-eager": Pair("torch", "eager", ("--mode", "eager"), TOLERANCE_PCT),
    "torch-compile": Pair("torch", "compile", ("--mode", "compile"), TOLERANCE_PCT),
    "torch-onnx": Pair("torch", "onnx", ("--mode", "onnx"), TOLERANCE_PCT),
}
# Each framework's eager and graph way and one exported runtime (torch's graph way, compile, costs
# about a minute of compilation per harness process on 2 cores: named with --pairs).
DEFAULT_PAIRS = ("tf-eager", "tf-function", "tf-savedmodel", "torch-eager", "torch-onnx")
PROFILES = ("quick", "full")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # bad input: one line on stderr, exit 2
        print(f"compare_serving.py: error: {message}", file=sys.stderr)
        sys.exit(2)


def generate_settings(profile: str, model: str) -> dict:
    """The profile's generate settings of ``model``: min calls and seconds of the warm-up and of the
    timed batch-1 calls, and the cell's batch N (bench.plan.profiles; no framework import)."""
    from bench.plan.profiles import get_profile
    from models.registry import get_spec

    prof = get_profile(profile)
    counts = prof.step_counts(model)
    return {"warmup": counts.warmup, "calls": counts.steps, "warmup_s": prof.generate_warmup_min_s,
            "min_s": prof.generate_min_s,
            "cell_batch": prof.batch_size(model, "cpu", get_spec(model).batch_size)}


# -- pure logic (tested in tests/test_compare_serving.py) ---------------------------------------------
def project_command(python: str, pair: Pair, model: str, profile: str, g: dict, threads: int, out: str,
                    extra: list[str]) -> list[str]:
    """One generate cell in one process (its batch-1 latency is what is compared)."""
    cmd = [python, "-m", "bench", "run", "--scenario", "generate", "--model", model, "--framework",
           pair.framework, "--mode", pair.mode, "--device", "cpu", "--precision", "fp32"]
    if "--variant" not in extra:
        cmd += ["--variant", "default"]
    return [*cmd, "--profile", profile, "--repeats", "1", "--extra-pairs", "0", "--steps", str(g["calls"]),
            "--warmup", str(g["warmup"]), "--batch-size", str(g["cell_batch"]), "--threads", str(threads),
            "--out", out, *extra]


def serving_command(python: str, pair: Pair, model: str, g: dict, threads: int, interop: int,
                    extra: list[str]) -> list[str]:
    return [python, str(ROOT / "scripts" / "idiomatic" / SCRIPTS[pair.framework]), *pair.script_args,
            "--model", model, "--threads", str(threads), "--interop", str(interop), "--warmup",
            str(g["warmup"]), "--warmup-s", f"{g['warmup_s']:g}", "--calls", str(g["calls"]), "--min-s",
            f"{g['min_s']:g}", *extra]


def format_serving(rows: list[tuple[str, str, dict]]) -> str:
    """One line per (framework, mode, summary): batch-1 p50s, harness/plain, paired interval, CVs."""
    lines = [f"{'framework':<10} {'mode':<10} {'harness ms':>10} {'plain ms':>9} {'ratio':>6} "
             f"{'paired ratio [interval, coverage]':<34} {'CV harness / plain':>18} {'n':>5}  verdict"]
    for framework, mode, s in rows:
        p, i = (s["sides"][x] for x in SIDES)
        n = f"{p['n_ok']}+{i['n_ok']}"
        if s["ratio"] is None:
            lines.append(f"{framework:<10} {mode:<10} {'-':>10} {'-':>9} {'-':>6} {'-':<34} {'-':>18} "
                         f"{n:>5}  {s['verdict']}")
            continue
        lo, hi = s["ratio_interval"]
        cov = s["interval_coverage"]
        paired = (f"{s['paired_ratio_median']:.3f} [{lo:.3f}, {hi:.3f}"
                  + (f", {cov * 100:.1f}%]" if cov else "]"))
        cv = " / ".join("-" if d["between_process_cv"] is None else f"{d['between_process_cv'] * 100:.1f}%"
                        for d in (p, i))
        lines.append(f"{framework:<10} {mode:<10} {p['median_of_medians_s'] * 1e3:>10.3f} "
                     f"{i['median_of_medians_s'] * 1e3:>9.3f} {s['ratio']:>6.3f} {paired:<34} {cv:>18} "
                     f"{n:>5}  {s['verdict']}")
    return "\n".join(lines)


def first_values(records: list[dict]) -> str:
    """Each side's first-call image mean (median over processes): same weights and z give the same."""
    out = []
    for side in SIDES:
        vals = sorted(r["losses_first"]["image_mean"] for r in records
                      if r["side"] == side and (r.get("losses_first") or {}).get("image_mean") is not None)
        out.append(f"{side} {vals[len(vals) // 2]:.7g}" if vals else f"{side} -")
    return "first call's image mean: " + ", ".join(out)


# -- running processes ------------------------------------------------------------------------------
def command(args: argparse.Namespace, key: str, side: str, out: Path) -> list[str]:
    model, name = key.split("/")
    pair, g = PAIRS[name], args.settings[model]
    if side == "project":
        # One pinned peak for every project process (else each would probe the machine's peak anew).
        extra = ["--peaks-dir", str(out.parent / "peaks"), *shlex.split(args.project_args)]
        return project_command(args.python, pair, model, args.profile, g, args.threads, str(out), extra)
    return serving_command(args.python, pair, model, g, args.threads, args.interop,
                           shlex.split(args.script_args))


def out_dir(work: Path, key: str, rnd: int) -> Path:
    """The project process's own run directory (one cell, one process)."""
    return work / f"project-{key.replace('/', '-')}-r{rnd}"


def run_one(args: argparse.Namespace, rnd: int, key: str, side: str, order: int, work: Path) -> dict:
    model, name = key.split("/")
    rec: dict = {"round": rnd, "key": key, "model": model, "pair": name, "batch": 1,
                 "cell_batch": args.settings[model]["cell_batch"], "side": side, "order": order}
    out = out_dir(work, key, rnd)
    cmd = command(args, key, side, out)
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", "--model", default=",".join(MODELS), help=f"of {', '.join(MODELS)}")
    p.add_argument("--pairs", "--pair", default=",".join(DEFAULT_PAIRS),
                   help=f"comma-separated, of {', '.join(PAIRS)} (default: {', '.join(DEFAULT_PAIRS)})")
    p.add_argument("--processes", type=int, default=8, help="fresh processes per side (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the interleaved order (default 0)")
    p.add_argument("--profile", default="quick", help="whose generate settings both sides use: quick "
                   "(3 calls + 0.5 s warm-up, 5 calls + 1 s timed) or full (10 + 2 s, 50 + 10 s)")
    p.add_argument("--cell-batch", type=int, default=None,
                   help="the project cell's batch N, its throughput phase (default: the profile's, 64)")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads, both sides (default 2)")
    p.add_argument("--interop", type=int, default=None,
                   help="plain side's inter-op threads (default: --threads, as the harness sets both to "
                        "the physical cores)")
    p.add_argument("--tolerance", type=float, default=TOLERANCE_PCT, help="band in %% (default 5)")
    p.add_argument("--script-args", default="", help="extra arguments of the plain loops, one string")
    p.add_argument("--project-args", default="", help="extra arguments of `bench run`, one string")
    p.add_argument("--python", default=sys.executable, help="interpreter of both sides")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per process (default 900)")
    p.add_argument("--json", metavar="PATH", help="write every process's record and the summaries here")
    p.add_argument("--keep", action="store_true", help="keep the project's run directories")
    p.add_argument("--dry-run", action="store_true", help="print the planned order and commands only")
    a = p.parse_args(argv)
    a.model_list = _choices(p, a.models, MODELS, "--models")
    a.pair_list = _choices(p, a.pairs, tuple(PAIRS), "--pairs")
    if a.profile not in PROFILES:
        p.error(f"--profile: unknown {a.profile}; valid: {', '.join(PROFILES)}")
    a.interop = a.threads if a.interop is None else a.interop
    if a.processes < 1 or a.threads < 1 or a.interop < 1 or (a.cell_batch is not None and a.cell_batch < 1) \
            or not a.timeout > 0 or not a.tolerance > 0:
        p.error("--processes, --threads, --interop, --cell-batch must be >= 1; --timeout, --tolerance > 0")
    a.settings = {m: generate_settings(a.profile, m) for m in a.model_list}
    for g in a.settings.values():
        g["cell_batch"] = a.cell_batch or g["cell_batch"]
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = [key_of(m, name) for m in args.model_list for name in args.pair_list]
    plan = matrix_schedule(args.processes, keys, args.seed)
    g = args.settings[args.model_list[0]]
    title = (f"batch-1 latency p50, CPU fp32, first + {g['warmup']} calls/{g['warmup_s']:g} s warm-up + "
             f"{g['calls']} calls/{g['min_s']:g} s timed, {args.threads} threads, project cell batch "
             f"{g['cell_batch']}, {args.processes} processes per side, order seed {args.seed}")
    work = Path(tempfile.mkdtemp(prefix="compare_serving_"))
    if args.dry_run:
        print(f"{len(keys)} comparison(s), {len(plan)} processes; {title}")
        for order, (rnd, key, side) in enumerate(plan):
            print(f"{order:>4} round {rnd} {key:<26} {side:<10} "
                  f"{shlex.join(command(args, key, side, out_dir(work, key, rnd)))}")
        work.rmdir()
        return 0
    records: list[dict] = []
    t0 = time.perf_counter()

    def report() -> tuple[str, dict]:
        summaries = {k: summarize([r for r in records if r["key"] == k], args.tolerance) for k in keys}
        rows = [(PAIRS[k.split("/")[1]].framework, PAIRS[k.split("/")[1]].mode, summaries[k]) for k in keys]
        return format_serving(rows), summaries

    try:
        for order, (rnd, key, side) in enumerate(plan):
            rec = run_one(args, rnd, key, side, order, work)
            records.append(rec)
            med = "failed" if rec.get("median_s") is None else f"{rec['median_s'] * 1e3:.3f} ms"
            done = time.perf_counter() - t0
            print(f"[{order + 1}/{len(plan)}] round {rnd} {key} {side}: {med} ({rec['wall_s']:.0f} s; "
                  f"{done / 60:.1f} min so far, ~{done / (order + 1) * (len(plan) - order - 1) / 60:.0f} "
                  "min left)", file=sys.stderr, flush=True)
            if rec.get("error"):
                print(f"  {rec['error'][:500]}", file=sys.stderr)
            if args.json:
                table, summaries = report()
                Path(args.json).write_text(json.dumps({
                    "args": {k: v for k, v in vars(args).items()}, "project_cli": "run", "schedule": plan,
                    "records": records, "summaries": summaries, "table": table}, indent=1) + "\n",
                    encoding="utf-8")
    finally:
        if args.keep:
            print(f"project run directories kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    table, summaries = report()
    for key in keys:
        mine = [r for r in records if r["key"] == key]
        print(format_table(summaries[key], f"{key.split('/')[1]}: {key.split('/')[0]}, {title}", ms_digits=3))
        print(first_values(mine) + "\n")
    print(f"harness/plain per comparison ({title}; {(time.perf_counter() - t0) / 60:.1f} min):")
    print(table)
    ok = all(summaries[k]["sides"][s]["n_ok"] == args.processes for k in keys for s in SIDES)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
