"""Is torch usable here, and with which CUDA devices? (``python -m bench.worker.probe torch``)"""

from __future__ import annotations

from typing import Any


def probe(out: dict[str, Any]) -> None:
    """Fill ``out`` (see bench.worker.probe); imports torch, so an ImportError means "fails to import"."""
    import torch

    out["version"] = torch.__version__
    out["cuda_build"] = torch.version.cuda is not None
    if torch.cuda.is_available():
        out["cuda"] = True
        out["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        props = [torch.cuda.get_device_properties(i) for i in range(torch.cuda.device_count())]
        # SM counts for the machine's identity (NVML does not report them for whole GPUs).
        out["device_properties"] = [
            {"name": p.name, "sm_count": p.multi_processor_count,
             "compute_capability": f"{p.major}.{p.minor}", "memory_total_bytes": p.total_memory}
            for p in props]
    else:
        out["reason"] = "no CUDA device" + ("" if out["cuda_build"] else " (torch built without CUDA)")
