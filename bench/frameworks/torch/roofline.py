"""torch's roofline measurement (``python -m bench.host.roofline --framework torch``): matmul FLOP/s per
precision and copy bandwidth, on the host clock between full device syncs (the timing method of
every cell, ``bench.frameworks.base``; over ``iters`` large matmuls the launch cost is negligible)."""

from __future__ import annotations

import platform
import time
from collections.abc import Iterable
from typing import Any

import torch

from bench.frameworks.peak import best_rate
from bench.frameworks.torch.backend import apply_tf32

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def measure(device: str, size: int, copy_bytes: int, iters: int, repeats: int, tf32: bool,
            precisions: Iterable[str] = ("fp32", "bf16")) -> dict[str, Any]:
    cuda = device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("no CUDA device visible to torch")
    dev = torch.device("cuda:0" if cuda else "cpu")
    tf32_flags = apply_tf32(tf32)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def timer(fn: Any) -> Any:
        def run() -> float:
            sync()
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            sync()
            return time.perf_counter() - t0
        return run

    by_precision: dict[str, float] = {}
    for name in precisions:
        dtype = DTYPES[name]
        a = torch.randn(size, size, device=dev, dtype=dtype)
        b = torch.randn(size, size, device=dev, dtype=dtype)
        out = torch.empty(size, size, device=dev, dtype=dtype)
        run = timer(lambda a=a, b=b, out=out: torch.matmul(a, b, out=out))
        run()  # warm-up: library initialisation, kernel selection
        by_precision[name] = best_rate(run, 2.0 * size**3 * iters, repeats)
        del a, b, out
    n = copy_bytes // 4
    src = torch.empty(n, device=dev, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    run = timer(lambda: dst.copy_(src))
    run()
    bandwidth = best_rate(run, 2.0 * n * 4 * iters, repeats)  # each byte read once and written once
    name = torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine()
    return {"framework_version": torch.__version__, "device_name": name,
            "peak_flops_by_precision": by_precision, "bandwidth_bytes_s": bandwidth, "tf32": tf32_flags,
            "timing": "host + cuda.synchronize" if cuda else "host"}
