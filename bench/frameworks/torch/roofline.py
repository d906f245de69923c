"""torch's roofline measurement (``python -m bench.roofline --framework torch``): matmul FLOP/s per
precision and copy bandwidth, timed with CUDA events on a GPU and the host clock on CPU."""

from __future__ import annotations

import platform
import time
from typing import Any

import torch

from ...roofline import best_rate
from .backend import apply_tf32


def measure(device: str, size: int, copy_bytes: int, iters: int, repeats: int, tf32: bool) -> dict[str, Any]:
    cuda = device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("no CUDA device visible to torch")
    dev = torch.device("cuda:0" if cuda else "cpu")
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
            "timing": "cuda-events" if cuda else "host"}
