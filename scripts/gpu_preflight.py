"""GPU preflight of scripts/gpu_evidence.sh: do the torch APIs the CUDA paths call exist on this torch,
do the TF32 switches govern the kernels, and does NVML account this process's memory?

Every check is independent: a failing one records its error and the rest go on. Without a CUDA device
the CUDA checks say "skipped: no CUDA device" (the API checks still run).

    python scripts/gpu_preflight.py OUT.json      (from the repo root, the repo on PYTHONPATH)
"""

from __future__ import annotations

import inspect
import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

NO_CUDA = "skipped: no CUDA device"
RESULTS: dict[str, Any] = {"seconds": {}}


def check(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    def run(fn: Callable[[], Any]) -> Callable[[], Any]:
        t0 = time.perf_counter()
        try:
            RESULTS[name] = fn()
        except BaseException as e:  # record everything, go on
            RESULTS[name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}",
                             "traceback": traceback.format_exc()[-1500:]}
        RESULTS["seconds"][name] = round(time.perf_counter() - t0, 2)
        return fn
    return run


def cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@check("torch")
def _torch() -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {"torch": torch.__version__, "cuda_build": torch.version.cuda,
                           "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        out["device"] = torch.cuda.get_device_name(0)
        out["capability"] = list(torch.cuda.get_device_capability(0))
        out["cudnn"] = torch.backends.cudnn.version()
        out["bf16_supported"] = torch.cuda.is_bf16_supported()
    return out


@check("apis")
def _apis() -> dict[str, Any]:
    """What bench/frameworks/torch/backend.py calls: Inductor's mode options, the cudagraph-tree
    manager (the CUDA-graph count), the step marker, the fp32-precision setter, GradScaler."""
    import torch
    import torch._inductor as inductor
    from torch._inductor import cudagraph_trees

    from bench.frameworks.torch.backend import _count_cuda_graphs, read_tf32_switches, uses_cuda_graphs

    modes = ("reduce-overhead", "max-autotune")
    out = {"list_mode_options": {m: inductor.list_mode_options(m) for m in modes},
           "get_manager": str(inspect.signature(cudagraph_trees.get_manager)),
           "cudagraph_mark_step_begin": callable(getattr(torch.compiler, "cudagraph_mark_step_begin", None)),
           "_set_fp32_precision_setter": hasattr(torch._C, "_set_fp32_precision_setter"),
           "GradScaler": str(inspect.signature(torch.amp.GradScaler.__init__)),
           "tf32_switches": read_tf32_switches(),
           "uses_cuda_graphs": {m: uses_cuda_graphs(m, "cuda") for m in ("compile", "reduce-overhead",
                                                                         "max-autotune")}}
    out["count_cuda_graphs"] = list(_count_cuda_graphs()) if cuda() else NO_CUDA
    return out


@check("tf32")
def _tf32() -> Any:
    """Relative error against float64: ~1e-6 with TF32 off, ~1e-4 on (matmul and convolution)."""
    if not cuda():
        return NO_CUDA
    import torch
    import torch.nn.functional as F

    from bench.frameworks.torch.backend import apply_tf32

    def rel(x: Any, ref: Any) -> float:
        return float((x.double() - ref).norm() / ref.norm())

    rows = []
    for enabled in (False, True):
        apply_tf32(enabled)
        g = torch.Generator(device="cuda").manual_seed(1)
        a, b = (torch.randn(2048, 2048, device="cuda", generator=g) for _ in range(2))
        x = torch.randn(16, 64, 32, 32, device="cuda", generator=g)
        w = torch.randn(64, 64, 3, 3, device="cuda", generator=g)
        mm = rel(a @ b, a.double() @ b.double())
        conv = rel(F.conv2d(x, w, padding=1), F.conv2d(x.double(), w.double(), padding=1))
        ok = all((e > 1e-5) == enabled for e in (mm, conv))
        rows.append({"tf32": enabled, "matmul_rel_err": mm, "conv_rel_err": conv,
                     "verdict": "ok" if ok else "MISMATCH: the switches do not govern the kernels"})
    apply_tf32(False)
    return rows


@check("nvml")
def _nvml() -> Any:
    """The sampler's two sources for a 256 MiB allocation: this PID as the driver lists it, and the
    device's used memory above a baseline taken before the CUDA context."""
    from bench.worker import memory

    baseline = memory.device_used_bytes(0)
    if baseline is None:
        return "skipped: NVML unavailable"
    if not cuda():
        return NO_CUDA
    import torch

    held = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    sampler = memory.MemorySampler(interval_s=0.01, gpu_index=0, baseline_used=baseline).start()
    source = sampler.decide_source()
    report = sampler.stop()
    del held
    return {"source": source, "nvml_peak_mib": (report.nvml_peak_bytes or 0) / 2**20,
            "candidates_mib": {k: [None if v is None else v / 2**20 for v in vs]
                               for k, vs in report.candidates.items()}}


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "preflight.json"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(RESULTS, f, indent=1, default=str)
    for key in ("torch", "tf32", "nvml"):
        print(f"preflight {key}: {json.dumps(RESULTS.get(key), default=str)[:400]}")
    apis = RESULTS.get("apis")
    failed = isinstance(apis, dict) and "error" in apis
    print("preflight apis:", f"error: {apis['error']}" if failed else "ok")
    print("preflight seconds:", RESULTS["seconds"])
