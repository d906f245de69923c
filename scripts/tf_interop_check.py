"""TensorFlow's inter-op thread pool, 1 vs 2 threads, on one model's tf.function step (CPU).

The harness gives every framework one inter-op thread by default (torch's eager step has no op-level
parallelism to match), and offers TF ``interop-2`` as a variant. This measures the choice outside the
harness: fresh processes, interleaved (1, 2, 1, 2, ... in a seeded random order within each pair),
each one building the model family's TF implementation, tracing ``tf.function(train_step)`` and timing
``--steps`` steps on the host clock, each ended by ``tf.test.experimental.sync_devices()`` and the
read of its losses (the harness's method). The answer per setting is the median of the process
medians, with every process median listed, and the ratio 2-thread / 1-thread.

    python scripts/tf_interop_check.py                       # dcgan-mnist, 5 processes each, 15 steps
    python scripts/tf_interop_check.py --processes 1 --steps 2 --warmup 1 --batch 32   # smoke check

Run it on an otherwise idle machine: it is a measurement. Never imports torch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(model: str, inter_op: int, batch: int | None, warmup: int, steps: int, seed: int) -> dict:
    """One process: build, trace, warm up, time ``steps`` steps; returns its figures."""
    import tensorflow as tf

    sys.path.insert(0, str(ROOT))
    from models.registry import family_of, get_spec

    tf.config.set_visible_devices([], "GPU")
    tf.config.threading.set_intra_op_parallelism_threads(len(os.sched_getaffinity(0)))
    tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    import keras

    keras.utils.set_random_seed(seed)
    family, spec = family_of(model), get_spec(model)
    batch = batch or spec.batch_size
    with tf.device("/CPU:0"):
        m = family.implementation("tensorflow").build(spec, batch_size=batch, precision="fp32", seed=seed,
                                                      device="cpu")
        batches = m.to_framework_batches(*family.make_inputs(spec, batch, 4, seed, "synthetic"))
        step = tf.function(m.train_step)

        def run(i: int) -> float:
            t0 = time.perf_counter()
            out = step(*batches[i % len(batches)])
            tf.test.experimental.sync_devices()
            _ = [float(v) for v in out.values()]
            return time.perf_counter() - t0

        first = run(0)
        for i in range(1, 1 + warmup):
            run(i)
        times = [run(i) for i in range(1 + warmup, 1 + warmup + steps)]
    return {"inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(), "batch": batch,
            "first_step_s": first, "median_s": statistics.median(times), "times_s": times}


def _spawn(args: argparse.Namespace, inter_op: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(inter_op), "--model", args.model, "--warmup",
           str(args.warmup), "--steps", str(args.steps), "--seed", str(args.seed)]
    if args.batch:
        cmd += ["--batch", str(args.batch)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=False)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        raise SystemExit(f"child (inter-op {inter_op}) failed:\n{p.stderr[-3000:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dcgan-mnist")
    ap.add_argument("--processes", type=int, default=5, help="fresh processes per setting")
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=None, help="default: the model's batch size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", default="1,2", help="inter-op pool sizes to compare")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.model, args.child, args.batch, args.warmup, args.steps, args.seed)))
        return 0

    settings = [int(t) for t in args.threads.split(",")]
    rng = random.Random(args.seed)
    order: list[int] = []
    for _ in range(args.processes):  # interleaved: each round runs every setting once, shuffled
        round_ = settings[:]
        rng.shuffle(round_)
        order += round_
    results: dict[int, list[dict]] = {t: [] for t in settings}
    for k, t in enumerate(order, 1):
        r = _spawn(args, t)
        results[t].append(r)
        print(f"[{k}/{len(order)}] inter-op {t}: median {r['median_s'] * 1e3:.1f} ms "
              f"(first step {r['first_step_s']:.2f} s)", flush=True)
    summary = {t: statistics.median(r["median_s"] for r in rs) for t, rs in results.items()}
    print(f"\n{args.model} TF function, CPU, batch {results[settings[0]][0]['batch']}, "
          f"{args.processes} process(es) per setting, {args.steps} timed steps each")
    for t in settings:
        meds = ", ".join(f"{r['median_s'] * 1e3:.1f}" for r in results[t])
        print(f"  inter-op {t}: median of process medians {summary[t] * 1e3:.1f} ms  [{meds}]")
    if len(settings) == 2:
        a, b = settings
        print(f"  ratio inter-op {b} / inter-op {a}: {summary[b] / summary[a]:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "order": order,
                                         "results": results, "median_of_medians_s": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
