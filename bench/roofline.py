"""Device roofline probe: achieved matmul FLOP/s and copy bandwidth, once per run.

``python -m bench.roofline --device cuda [--framework torch] [--tf32]`` prints ONE JSON line
{"device", "framework", "peak_flops", "peak_flops_by_precision", "bandwidth_bytes_s", ...}.
``peak_flops`` is the fp32 matmul figure (TF32 as the run sets it); cells of another precision use
``peak_flops_by_precision[precision]``. On CUDA each measurement is timed with CUDA events (torch) or
bracketed by device syncs (TensorFlow); on CPU small sizes are used so that it also runs in tests.
Measured, not datasheet numbers: a fraction of peak relative to what this device really reaches.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

DEFAULT_SIZES = {"cuda": 8192, "cpu": 512}
DEFAULT_COPY_BYTES = {"cuda": 1 << 30, "cpu": 1 << 24}


def _best_rate(timed_fn: Any, work: float, repeats: int) -> float:
    """Work per second of the fastest of ``repeats`` runs (the least disturbed one)."""
    return max(work / max(timed_fn(), 1e-12) for _ in range(repeats))


def roofline_torch(device: str, size: int, copy_bytes: int, iters: int, repeats: int,
                   tf32: bool) -> dict[str, Any]:
    import torch

    cuda = device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("no CUDA device visible to torch")
    dev = torch.device("cuda:0" if cuda else "cpu")
    from .frameworks.torch import apply_tf32

    tf32_flags = apply_tf32(tf32)

    def timer(fn: Any) -> Any:
        def run() -> float:
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(iters):
                    fn()
                end.record()
                end.synchronize()
                return start.elapsed_time(end) / 1e3
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            return time.perf_counter() - t0
        return run

    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if cuda:
        dtypes["fp16"] = torch.float16
    by_precision: dict[str, float] = {}
    for name, dtype in dtypes.items():
        a = torch.randn(size, size, device=dev, dtype=dtype)
        b = torch.randn(size, size, device=dev, dtype=dtype)
        out = torch.empty(size, size, device=dev, dtype=dtype)
        run = timer(lambda a=a, b=b, out=out: torch.matmul(a, b, out=out))
        run()  # warm-up: library initialisation, kernel selection
        by_precision[name] = _best_rate(run, 2.0 * size**3 * iters, repeats)
        del a, b, out
    n = copy_bytes // 4
    src = torch.empty(n, device=dev, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    run = timer(lambda: dst.copy_(src))
    run()
    bandwidth = _best_rate(run, 2.0 * n * 4 * iters, repeats)  # each byte read once and written once
    name = torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine()
    return {"framework_version": torch.__version__, "device_name": name,
            "peak_flops_by_precision": by_precision, "bandwidth_bytes_s": bandwidth, "tf32": tf32_flags,
            "timing": "cuda-events" if cuda else "host"}


def roofline_tensorflow(device: str, size: int, copy_bytes: int, iters: int, repeats: int,
                        tf32: bool) -> dict[str, Any]:
    import tensorflow as tf

    cuda = device == "cuda"
    if cuda and not tf.config.list_physical_devices("GPU"):
        raise RuntimeError("no CUDA device visible to tensorflow")
    tf.config.experimental.enable_tensor_float_32_execution(tf32)
    tf_dev = "/GPU:0" if cuda else "/CPU:0"

    def timer(fn: Any) -> Any:
        def run() -> float:
            tf.test.experimental.sync_devices()
            t0 = time.perf_counter()
            for _ in range(iters):
                r = fn()
            tf.test.experimental.sync_devices()
            _ = r.shape
            return time.perf_counter() - t0
        return run

    by_precision: dict[str, float] = {}
    dtypes = {"fp32": tf.float32, "bf16": tf.bfloat16}
    if cuda:
        dtypes["fp16"] = tf.float16
    with tf.device(tf_dev):
        for name, dtype in dtypes.items():
            a = tf.cast(tf.random.normal((size, size)), dtype)
            b = tf.cast(tf.random.normal((size, size)), dtype)
            run = timer(lambda a=a, b=b: tf.linalg.matmul(a, b))
            run()
            by_precision[name] = _best_rate(run, 2.0 * size**3 * iters, repeats)
        n = copy_bytes // 4
        src = tf.ones((n,), tf.float32)
        run = timer(lambda: tf.identity(src) + 0.0)  # identity alone may alias: the add forces a copy
        run()
        bandwidth = _best_rate(run, 2.0 * n * 4 * iters, repeats)
    return {"framework_version": tf.__version__, "device_name": tf_dev,
            "peak_flops_by_precision": by_precision, "bandwidth_bytes_s": bandwidth, "tf32": bool(tf32),
            "timing": "host + sync_devices"}


def measure(device: str = "cuda", framework: str = "torch", size: int | None = None,
            copy_bytes: int | None = None, iters: int = 10, repeats: int = 3,
            tf32: bool = False) -> dict[str, Any]:
    size = size or DEFAULT_SIZES[device]
    copy_bytes = copy_bytes or DEFAULT_COPY_BYTES[device]
    fn = roofline_torch if framework == "torch" else roofline_tensorflow
    out: dict[str, Any] = {"device": device, "framework": framework, "matmul_size": size,
                           "copy_bytes": copy_bytes, "iters": iters}
    out.update(fn(device, size, copy_bytes, iters, repeats, tf32))
    out["peak_flops"] = out["peak_flops_by_precision"]["fp32"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.roofline", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--framework", choices=("torch", "tensorflow"), default="torch")
    p.add_argument("--size", type=int, default=None, help="square matmul size (default: 8192 cuda, 512 cpu)")
    p.add_argument("--copy-bytes", type=int, default=None, help="bytes copied device to device")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tf32", action="store_true", help="allow TF32 for the fp32 matmul (as the run's tf32)")
    args = p.parse_args(argv)
    try:
        out = measure(args.device, args.framework, args.size, args.copy_bytes, args.iters, args.repeats,
                      args.tf32)
    except Exception as e:  # one line, never a bare traceback
        msg = next((ln for ln in str(e).splitlines() if ln.strip()), "")
        out = {"device": args.device, "framework": args.framework, "peak_flops": None,
               "bandwidth_bytes_s": None, "error": f"{type(e).__name__}: {msg}"}
        print(json.dumps(out))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
