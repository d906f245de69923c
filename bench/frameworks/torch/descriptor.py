"""PyTorch as the rest of framebench sees it (no torch import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..descriptor import FrameworkDescriptor, Mode, Variant

DESCRIPTOR_NAME = "torch"


def _extra_variants(profile: str, mode: str, device: str, probe: Mapping[str, Any]) -> tuple[str, ...]:
    if profile != "full":
        return ()
    extra: list[str] = []
    if device == "cuda":
        extra.append("channels-last")
    if DESCRIPTOR.compiles(mode):
        extra.append("warm-cache")
    return tuple(extra)


DESCRIPTOR = FrameworkDescriptor(
    name=DESCRIPTOR_NAME,
    label="PyTorch",
    colour="#3b5bdb",
    package="bench.frameworks.torch",
    modes=(
        Mode("eager"),
        Mode("compile", compiles=True),  # torch.compile()
        Mode("reduce-overhead", compiles=True, needs_cuda=True),  # CUDA graphs
        Mode("max-autotune", compiles=True, needs_cuda=True),  # GPU kernel autotuning
    ),
    variants=(
        Variant("default"),
        Variant("channels-last", description="NHWC memory format for images and conv weights"),
        Variant("warm-cache", compiled_only=True,
                description="compile with an Inductor cache primed by an earlier process"),
    ),
    import_names=("torch",),
    speed_env_vars=(
        "CUBLAS_WORKSPACE_CONFIG", "PYTORCH_CUDA_ALLOC_CONF", "CUDA_MODULE_LOADING",
    ),
    speed_env_prefixes=("TORCHINDUCTOR_", "TORCH_COMPILE", "TORCHDYNAMO_", "TRITON_"),
    extra_variants=_extra_variants,
    allocator_peak="max_memory_allocated",
    oom_exception_names=("OutOfMemoryError",),
    oom_messages=("CUDA out of memory", "CUDA error: out of memory"),
    roofline_priority=0,  # CUDA events: the most precise timing
)
