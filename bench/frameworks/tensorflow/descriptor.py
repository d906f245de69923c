"""TensorFlow as the rest of framebench sees it (no TensorFlow import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..descriptor import FrameworkDescriptor, Mode, Variant
from .onednn import opposite_onednn_variant

# TF modes that also run with oneDNN flipped from this machine's default, per profile (CPU only).
ONEDNN_FLIP_MODES = {"quick": ("function",), "full": ("eager", "function", "xla")}


def _extra_variants(profile: str, mode: str, device: str, probe: Mapping[str, Any]) -> tuple[str, ...]:
    if device == "cpu" and mode in ONEDNN_FLIP_MODES.get(profile, ()):
        return (opposite_onednn_variant(probe),)
    return ()


DESCRIPTOR = FrameworkDescriptor(
    name="tensorflow",
    label="TensorFlow",
    colour="#ff8f00",
    package="bench.frameworks.tensorflow",
    modes=(
        Mode("eager"),
        Mode("function", compiles=True),  # tf.function
        Mode("xla", compiles=True),  # tf.function(jit_compile=True)
    ),
    variants=(
        Variant("default"),
        Variant("onednn-on", env={"TF_ENABLE_ONEDNN_OPTS": "1"}, devices=("cpu",),
                description="oneDNN kernels forced on"),
        Variant("onednn-off", env={"TF_ENABLE_ONEDNN_OPTS": "0"}, devices=("cpu",),
                description="oneDNN kernels forced off"),
    ),
    import_names=("tensorflow", "keras"),
    speed_env_vars=(
        "TF_ENABLE_ONEDNN_OPTS", "TF_XLA_FLAGS", "XLA_FLAGS", "TF_GPU_ALLOCATOR", "TF_FORCE_GPU_ALLOW_GROWTH",
        "TF_CUDNN_DETERMINISTIC", "TF_DETERMINISTIC_OPS", "TF_INTRA_OP_PARALLELISM_THREADS",
        "TF_INTER_OP_PARALLELISM_THREADS", "NVIDIA_TF32_OVERRIDE", "TF_CUDNN_USE_AUTOTUNE",
    ),
    speed_env_prefixes=("DNNL_", "ONEDNN_"),
    extra_variants=_extra_variants,
    allocator_peak="get_memory_info peak",
    oom_exception_names=("ResourceExhaustedError",),
    # TF's runtime, and XLA's allocator under jit_compile.
    oom_messages=("RESOURCE_EXHAUSTED", "OOM when allocating", "Out of memory while trying to allocate"),
    roofline_priority=1,  # host clock around device syncs
)
