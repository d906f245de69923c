"""What does the harness's one shared timing path cost per step? (A benchmark, not a test.)

Drives the real backend of each framework (``bench.frameworks.<name>.backend``, set up as a CPU cell
is: threads, seeds, flags) through ``Backend.time_steps`` with a **no-op step**: the step function
returns ready-made scalar tensors of the framework, one per loss of ``--model``'s family, so every
microsecond the clock sees is the timing path's own: ``call`` (batch lookup and dispatch), ``keep``,
``sync``, ``fetch`` (each loss read, as floats in a dict) and the two clock reads. Beside it, the
same no-op timed as the plain loops in scripts/idiomatic/ time a step (batch taken before the clock,
each loss read with ``.numpy()`` / ``.item()`` / ``float``), and each part of the path alone in a
tight loop (per call), so the difference is attributed, not guessed.

Each framework runs in its own fresh processes (``--processes``, interleaved; TensorFlow and torch
never share one); each process times ``--reps`` blocks of ``--steps`` no-op steps per arm, the arms
in a rotated order. Printed per framework: the median over all blocks of each block's median
per-step time in microseconds, and the blocks' range. ``numpy`` is the tests' fake framework
(tests/plugins/fakeplug): the path with nothing to synchronise.

    python scripts/timing_path_overhead.py                       # tensorflow, torch, numpy
    python scripts/timing_path_overhead.py --frameworks torch --reps 9 --json /tmp/tpo.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FRAMEWORKS = ("tensorflow", "torch", "numpy")
PLUGIN_DIR = ROOT / "tests" / "plugins"
# Loops timed whole per block (per-step times) and parts timed per call (tight loop / n).
LOOPS = ("harness", "plain")
PARTS = ("clock", "call", "keep", "sync", "fetch", "plain_read")
LABELS = {
    "harness": "Backend.time_steps, no-op step (the harness's per-step clock)",
    "plain": "plain loop's clock: step, then each loss read (scripts/idiomatic/)",
    "clock": "two perf_counter reads",
    "call": "Backend.call(i): batch lookup + dispatch of the no-op",
    "keep": "Backend.keep(handle)",
    "sync": "Backend.sync()",
    "fetch": "Backend.fetch(handle): each loss read, as a dict of floats",
    "plain_read": "the plain loop's loss reads",
}


# -- the child: one framework, in this process ------------------------------------------------------
def _framework_objects(framework: str) -> tuple[Callable[[float], Any], Callable[[Any], float], Any]:
    """(make a scalar tensor, the plain loops' read of one, a device scope to run in)."""
    import contextlib

    if framework == "tensorflow":
        import tensorflow as tf

        return (lambda v: tf.constant(v, tf.float32)), (lambda t: float(t.numpy())), tf.device("/CPU:0")
    if framework == "torch":
        import torch

        return (lambda v: torch.tensor(v, dtype=torch.float32)), (lambda t: t.item()), \
            contextlib.nullcontext()
    import numpy as np

    return (lambda v: np.float32(v)), float, contextlib.nullcontext()


def measure(framework: str, model: str, reps: int, steps: int, threads: int) -> dict[str, Any]:
    from bench.frameworks import load_backend
    from bench.results.records import Cell, RunSettings
    from bench.worker import flags as flagplan
    from models.registry import family_of

    cell = Cell(model, framework, "eager", "cpu", "fp32", 1, "default")
    settings = RunSettings(intra_op_threads=threads, inter_op_threads=threads)
    backend = load_backend(framework)(cell, settings, flagplan.plan_flags(cell, settings, "."))
    backend.setup()
    scalar, plain_read, scope = _framework_objects(framework)
    names = tuple(family_of(model).losses) if framework != "numpy" else ("loss0", "loss1")
    with scope:
        handle = {name: scalar(0.5 + k) for k, name in enumerate(names)}
        backend.loss_names = names
        backend.batches = [(scalar(float(k)),) for k in range(settings.n_batches)]
        backend.step_fn = lambda *batch: handle
        step_fn, batches, clock = backend.step_fn, backend.batches, time.perf_counter

        def harness(n: int) -> list[float]:
            return [t for t, _ in backend.time_steps(0, n)]

        def plain(n: int) -> list[float]:
            out = []
            for i in range(n):
                batch = batches[i % len(batches)]
                t0 = clock()
                h = step_fn(*batch)
                for name in names:
                    plain_read(h[name])
                out.append(clock() - t0)
            return out

        def per_call(fn: Callable[[int], Any]) -> Callable[[int], float]:
            def run(n: int) -> float:
                t0 = clock()
                for i in range(n):
                    fn(i)
                return (clock() - t0) / n
            return run

        def clock_pair(_: int) -> float:
            t0 = clock()
            return clock() - t0

        parts: dict[str, Callable[[int], float]] = {
            "clock": per_call(clock_pair),
            "call": per_call(backend.call),
            "keep": per_call(lambda _: backend.keep(handle)),
            "sync": per_call(lambda _: backend.sync()),
            "fetch": per_call(lambda _: backend.fetch(handle)),
            "plain_read": per_call(lambda _: [plain_read(handle[name]) for name in names]),
        }
        assert backend.fetch(handle) == {n: plain_read(handle[n]) for n in names}
        arms: dict[str, Callable[[int], Any]] = {"harness": harness, "plain": plain, **parts}
        for arm in arms.values():  # warm every path once (first calls build caches)
            arm(min(steps, 200))
        blocks: dict[str, list[float]] = {a: [] for a in arms}
        order = list(arms)
        for k in range(reps):
            for a in order[k % len(order):] + order[:k % len(order)]:
                r = arms[a](steps)
                blocks[a].append(statistics.median(r) if isinstance(r, list) else r)
    return {"framework": framework, "versions": backend.versions(), "loss_names": list(names),
            "threads": threads, "flags_sync": backend.flags.get("sync"), "blocks_s": blocks}


# -- the parent: fresh processes, interleaved --------------------------------------------------------
def child_env(framework: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if framework == "numpy":
        env["FRAMEBENCH_PLUGINS"] = ",".join(filter(None, [env.get("FRAMEBENCH_PLUGINS"), "fakeplug"]))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(PLUGIN_DIR), env.get("PYTHONPATH")]))
    return env


def run_child(framework: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", framework, "--model", args.model,
           "--reps", str(args.reps), "--steps", str(args.steps), "--threads", str(args.threads)]
    proc = subprocess.run(cmd, cwd=ROOT, env=child_env(framework), capture_output=True, text=True,
                          timeout=600)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"framework": framework, "error": f"rc {proc.returncode}: {proc.stderr.strip()[-1500:]}"}
    return json.loads(lines[-1])


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per framework and arm: median and range (µs) over every block of every process; the
    harness's overhead over the plain loop's clock per block pair (same process, same rep)."""
    out: dict[str, dict[str, Any]] = {}
    for fw in dict.fromkeys(r["framework"] for r in results):
        ok = [r for r in results if r["framework"] == fw and "blocks_s" in r]
        if not ok:
            out[fw] = {"error": next(r["error"] for r in results if r["framework"] == fw)}
            continue
        row: dict[str, Any] = {"processes": len(ok), "versions": ok[0]["versions"]}
        for arm in (*LOOPS, *PARTS):
            us = [x * 1e6 for r in ok for x in r["blocks_s"][arm]]
            row[arm] = {"median_us": statistics.median(us), "min_us": min(us), "max_us": max(us)}
        extra = [(h - p) * 1e6 for r in ok
                 for h, p in zip(r["blocks_s"]["harness"], r["blocks_s"]["plain"], strict=True)]
        row["extra"] = {"median_us": statistics.median(extra), "min_us": min(extra), "max_us": max(extra)}
        out[fw] = row
    return out


def format_table(summary: dict[str, dict[str, Any]], title: str) -> str:
    lines = [title, f"{'framework':<11} {'path':<68} {'median µs':>10} {'range µs':>17}"]
    for fw, row in summary.items():
        if "error" in row:
            lines.append(f"{fw:<11} failed: {row['error'][-300:]}")
            continue
        for arm in (*LOOPS, "extra", *PARTS):
            d = row[arm]
            label = "harness − plain (paired blocks)" if arm == "extra" else LABELS[arm]
            lines.append(f"{fw:<11} {label:<68} {d['median_us']:>10.2f} "
                         f"{d['min_us']:>8.2f}..{d['max_us']:<8.2f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                   help=f"comma-separated, of {', '.join(FRAMEWORKS)} (default: all)")
    p.add_argument("--model", default="dcgan-mnist", help="whose family's losses the no-op returns")
    p.add_argument("--processes", type=int, default=3, help="fresh processes per framework (default 3)")
    p.add_argument("--reps", type=int, default=5, help="blocks per arm in each process (default 5)")
    p.add_argument("--steps", type=int, default=2000, help="no-op steps per block (default 2000)")
    p.add_argument("--threads", type=int, default=2, help="intra- and inter-op threads (default 2)")
    p.add_argument("--json", metavar="PATH", help="also write every block and the summary here")
    p.add_argument("--child", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.framework_list = [f.strip() for f in a.frameworks.split(",") if f.strip()]
    bad = [f for f in a.framework_list if f not in FRAMEWORKS]
    if bad or not a.framework_list:
        p.error(f"--frameworks: unknown {', '.join(bad) or '(none given)'}; valid: {', '.join(FRAMEWORKS)}")
    if min(a.processes, a.reps, a.steps, a.threads) < 1:
        p.error("--processes, --reps, --steps and --threads must be >= 1")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.model, args.reps, args.steps, args.threads)))
        return 0
    results = []
    for k in range(args.processes):
        for fw in args.framework_list:
            results.append(run_child(fw, args))
            print(f"[{len(results)}/{args.processes * len(args.framework_list)}] {fw} process {k + 1}"
                  + (f": {results[-1]['error'][-200:]}" if "error" in results[-1] else ""), file=sys.stderr)
    summary = summarize(results)
    title = (f"timing path per step, no-op step, CPU, {args.threads} threads; {args.processes} process(es) "
             f"x {args.reps} blocks x {args.steps} steps per framework; median of block medians")
    print(format_table(summary, title))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": {k: v for k, v in vars(args).items()},
                                               "results": results, "summary": summary}, indent=1) + "\n",
                                   encoding="utf-8")
    return 0 if all("error" not in row for row in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
