"""How much does the harness itself add to a measured train step? (A benchmark, not a test.)

Times the same torch eager dcgan-mnist train step two ways, alternating blocks in ONE process so
that machine noise (other processes, thermal state) hits both alike:

* harness: the worker's own timing path, ``Backend.time_steps`` of bench.frameworks.torch (per-step
  ``perf_counter`` around the step plus the loss fetch that synchronises it), with the worker's
  memory sampler thread running as it does during a real cell;
* bare: ``for`` loop calling the model's ``train_step`` between two ``time.perf_counter()`` calls;
* timing: ``Backend.time_steps`` without the sampler thread (splits the overhead in two parts).

Prints the medians (with bootstrap 95% CIs) and the overhead in percent (target: < 2%).
``--markdown PATH`` also writes a small Markdown report (e.g. reports/benchmarks/harness_overhead.md).

    python scripts/harness_overhead.py --batch-size 64 --rounds 6 --block 5

The measurement is started in a child process (``--child``), spawned like a cell, so the calling
process never imports a framework.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_PCT = 2.0


def measure(batch_size: int, rounds: int, block: int, warmup: int, threads: int, seed: int) -> dict:
    """Runs in the child process: imports torch via the worker's backend."""
    from bench.frameworks import load_backend
    from bench.results.records import Cell, RunSettings
    from bench.worker import flags as flagplan
    from bench.worker.memory import MemorySampler
    from models.registry import family_of

    cell = Cell("dcgan-mnist", "torch", "eager", "cpu", "fp32", batch_size, "default")
    settings = RunSettings(steps=block, warmup=warmup, window_steps=0, seed=seed, intra_op_threads=threads)
    with tempfile.TemporaryDirectory() as work:
        plan = flagplan.plan_flags(cell, settings, work)
        backend = load_backend("torch")(cell, settings, plan)
        backend.setup()
        family = family_of(cell.model)
        spec = family.specs[cell.model]
        inputs = family.make_inputs(spec, batch_size, settings.n_batches, seed, "synthetic")
        backend.build(family, spec, batch_size, inputs)
        backend.wrap()
        backend.first_step()
        backend.time_steps(1, warmup)

        train_step = backend.model.train_step
        batches = backend.batches
        step = 1 + warmup

        def timing_block() -> list[float]:
            nonlocal step
            times = [t for t, _ in backend.time_steps(step, block)]
            step += block
            return times

        def harness_block() -> list[float]:
            # As in a CUDA cell: the worker's memory sampler thread runs during the timed steps (a CPU
            # cell runs none any more; this block measures the worst case).
            sampler = MemorySampler(settings.memory_sample_interval_s, None).start()
            sampler.measuring = True
            try:
                return timing_block()
            finally:
                sampler.stop()

        def bare_block() -> list[float]:
            nonlocal step
            times = []
            for i in range(step, step + block):
                batch = batches[i % len(batches)]
                t0 = time.perf_counter()
                train_step(*batch)
                times.append(time.perf_counter() - t0)
            step += block
            return times

        arms = {"harness": harness_block, "timing": timing_block, "bare": bare_block}
        times: dict[str, list[float]] = {a: [] for a in arms}
        rounds_medians: list[dict[str, float]] = []  # per round: each arm's block median
        order = list(arms)
        for k in range(rounds):
            # Rotate the order every round, so no arm always runs first or after the same one.
            rot = order[k % len(order):] + order[:k % len(order)]
            medians = {}
            for a in rot:
                t = arms[a]()
                times[a].extend(t)
                medians[a] = statistics.median(t)
            rounds_medians.append(medians)
        import torch

        return {**times, "rounds": rounds_medians, "torch": torch.__version__,
                "threads": torch.get_num_threads()}


ARM_LABELS = {
    "harness": "harness: `Backend.time_steps` + memory sampler (a real cell)",
    "timing": "`Backend.time_steps` only (no sampler thread)",
    "bare": "bare `for` loop + `perf_counter`",
}


def summarize(raw: dict, args: argparse.Namespace) -> dict:
    import numpy as np

    from bench.host.machine import cpu_model
    from bench.stats import bootstrap_median_ci

    out = dict(raw)
    for arm in ARM_LABELS:
        out[f"{arm}_median_s"] = float(np.median(raw[arm]))
        out[f"{arm}_ci95_s"] = bootstrap_median_ci(raw[arm])
    # Overhead vs bare: the median over rounds of the paired ratio. Blocks of one round run back to
    # back and share the machine's state, so load from other processes mostly cancels out.
    for arm in ("harness", "timing"):
        ratios = [r[arm] / r["bare"] - 1.0 for r in raw["rounds"]]
        out[f"{arm}_overhead_pct"] = 100.0 * float(np.median(ratios))
        lo, hi = bootstrap_median_ci(ratios)
        out[f"{arm}_overhead_ci95_pct"] = (100.0 * lo, 100.0 * hi)
    out["overhead_pct"] = out["harness_overhead_pct"]
    out["cpu"] = cpu_model()
    out["python"] = platform.python_version()
    out["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    out["config"] = {k: getattr(args, k) for k in ("batch_size", "rounds", "block", "warmup", "threads")}
    try:
        out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        out["load_avg_1m"] = None
    return out


def _ms(v: float) -> str:
    return f"{v * 1e3:.2f} ms"


def markdown(s: dict) -> str:
    c = s["config"]
    ok = s["overhead_pct"] < TARGET_PCT
    lines = [
        "# Harness overhead",
        "",
        f"torch {s['torch']} eager, dcgan-mnist, batch {c['batch_size']}, CPU ({s['cpu']}, "
        f"{s['threads']} threads, load average {s['load_avg_1m']}), {c['rounds']} rounds of {c['block']} "
        f"steps per arm, arms rotated each round; {s['date']}. "
        f"Generated by `python scripts/harness_overhead.py --batch-size {c['batch_size']} "
        f"--rounds {c['rounds']} --block {c['block']} --markdown reports/benchmarks/harness_overhead.md`.",
        "",
        "| timing path | steps | median step | 95% CI of the median | overhead vs bare (paired) |",
        "|---|---:|---:|---|---|",
    ]
    for arm, label in ARM_LABELS.items():
        lo, hi = s[f"{arm}_ci95_s"]
        if arm == "bare":
            over = "—"
        else:
            olo, ohi = s[f"{arm}_overhead_ci95_pct"]
            over = f"{s[f'{arm}_overhead_pct']:+.2f}% (95% CI {olo:+.2f}% to {ohi:+.2f}%)"
        median = _ms(s[f"{arm}_median_s"])
        lines.append(f"| {label} | {len(s[arm])} | {median} | {_ms(lo)}–{_ms(hi)} | {over} |")
    lines += [
        "",
        f"**Harness overhead: {s['overhead_pct']:+.2f}%** (target < {TARGET_PCT:g}%: "
        f"{'met' if ok else 'NOT met'}). Overhead = median over rounds of (arm's block median / bare "
        "block median − 1). On a machine busy with other work the spread is wide; measure on a quiet one.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=12, help="alternating rounds (each: one block per arm)")
    p.add_argument("--block", type=int, default=3, help="steps per block")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: physical cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", metavar="PATH", help="also write a Markdown report here")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        raw = measure(args.batch_size, args.rounds, args.block, args.warmup, args.threads, args.seed)
        print(json.dumps(raw))
        return 0

    from bench.host.processes import child_env

    forwarded = argv if argv is not None else sys.argv[1:]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *forwarded]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env())
    if proc.returncode != 0:
        print(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "measurement failed",
              file=sys.stderr)
        return 1
    s = summarize(json.loads(proc.stdout.strip().splitlines()[-1]), args)
    if args.json:
        print(json.dumps(s, indent=2))
    for arm in ARM_LABELS:
        lo, hi = s[f"{arm}_ci95_s"]
        extra = "" if arm == "bare" else (
            f"; overhead {s[f'{arm}_overhead_pct']:+.2f}% (95% CI {s[f'{arm}_overhead_ci95_pct'][0]:+.2f}% "
            f"to {s[f'{arm}_overhead_ci95_pct'][1]:+.2f}%)")
        print(f"{arm:8s} median step {_ms(s[f'{arm}_median_s'])} (95% CI {_ms(lo)}–{_ms(hi)}){extra}")
    print(f"harness overhead: {s['overhead_pct']:+.2f}% (target < {TARGET_PCT:g}%)")
    if args.markdown:
        from bench.results.write import atomic_write_text

        atomic_write_text(args.markdown, markdown(s))
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
