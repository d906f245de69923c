"""Count the FLOPs one torch train step executes, per mode, beside the family's analytic count.

    python scripts/count_step_flops.py --model dcgan-mnist --batch 64 --modes eager,compile,compile-step

Modes: ``eager`` and every torch compile mode the harness runs (``compile``; ``reduce-overhead`` and
``max-autotune`` on CUDA), built exactly as the worker builds them
(``bench.frameworks.torch.backend.compiled_step``: the family's modules compiled, the step eager);
``compile-step`` is the former harness structure, ``torch.compile(model.train_step)``, kept for the
comparison. Each mode gets a fresh model and a fresh Dynamo state; two steps run first (compilation,
Adam's first step), then one step is counted.

How it counts (bench/frameworks/torch/flopcount.py): ``FlopCounterMode`` cannot be used around a
compiled step (Dynamo runs frames eagerly under a dispatch mode, so it would count the eager step); the
profiler records the aten ops the compiled code calls, with shapes and arguments, and each matmul,
convolution and attention op is replayed on meta tensors under ``FlopCounterMode``. The convention is
the analytic count's (models/<family>/flops.py): matmuls, convolutions and attention, 2 FLOPs per
multiply-accumulate. ``--breakdown`` prints the FLOPs per aten op and the ``convolution_backward``
output masks (input, weight, bias gradients: ``xx-`` computes input and weight gradients).

Keep batches small on a shared machine: the count does not depend on speed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LEGACY = "compile-step"


def count_mode(model_name: str, mode: str, batch: int, precision: str, device: str, seed: int) -> dict:
    import torch

    from bench.frameworks.torch.backend import COMPILE_MODES, compiled_step
    from bench.frameworks.torch.flopcount import count_flops
    from models.registry import family_of, get_spec

    family, spec = family_of(model_name), get_spec(model_name)
    torch._dynamo.reset()
    model = family.implementation("torch").build(spec, batch_size=batch, precision=precision, seed=seed,
                                                 device=device)
    batches = model.to_framework_batches(*family.make_inputs(spec, batch, 3, seed, "synthetic"))
    if mode == LEGACY:
        step = torch.compile(model.train_step, mode=COMPILE_MODES["compile"])
    else:
        step, _ = compiled_step(model, mode)
    for b in batches[:2]:
        step(*b)
    counted = count_flops(lambda: step(*batches[2]))
    return {"mode": mode, "counted": counted.total, "analytic": family.train_step_flops(spec, batch),
            "by_op": dict(counted.by_op), "calls": dict(counted.calls),
            "conv_backward_masks": dict(counted.conv_backward_masks)}


def table(rows: list[dict]) -> str:
    eager = next((r["counted"] for r in rows if r["mode"] == "eager"), None)
    lines = ["| mode | counted GFLOP | analytic GFLOP | counted / analytic | counted - eager (GFLOP) |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        extra = f"{(r['counted'] - eager) / 1e9:+.4f}" if eager is not None else "n/a"
        lines.append(f"| {r['mode']} | {r['counted'] / 1e9:.4f} | {r['analytic'] / 1e9:.4f} | "
                     f"{r['counted'] / r['analytic']:.4f} | {extra} |")
    return "\n".join(lines)


def breakdown(rows: list[dict]) -> str:
    out = []
    for r in rows:
        ops = ", ".join(f"{op.removeprefix('aten::')} {r['by_op'][op] / 1e9:.4f} G ({r['calls'][op]} calls)"
                        for op in sorted(r["by_op"]))
        masks = ", ".join(f"{m}: {n}" for m, n in sorted(r["conv_backward_masks"].items()))
        out.append(f"{r['mode']}: {ops}; convolution_backward masks (input, weight, bias) {masks or 'none'}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="dcgan-mnist")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--modes", default="eager,compile",
                   help=f"comma-separated torch modes, and {LEGACY!r} (the whole step compiled)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the count does not "
                                                          "depend on it; 1 spares a shared machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--breakdown", action="store_true", help="FLOPs per aten op and conv-backward masks")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    rows = [count_mode(args.model, m.strip(), args.batch, args.precision, args.device, args.seed)
            for m in args.modes.split(",") if m.strip()]
    print(f"{args.model}, batch {args.batch}, {args.precision}, {args.device}, torch {torch.__version__}")
    print(table(rows))
    if args.breakdown:
        print(breakdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
