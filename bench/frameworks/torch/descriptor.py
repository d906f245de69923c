"""PyTorch as the rest of framebench sees it (no torch import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..descriptor import FrameworkDescriptor, Mode, Variant

DESCRIPTOR_NAME = "torch"

# The Adam implementation each optimizer variant asks for (flags.plan puts it in the cell's plan; the
# model's build option ``optimizer``): the same update, other kernels. torch's default is foreach on
# CUDA and the single-tensor loop on CPU, so "adam-foreach" is a variant on CPU only.
OPTIMIZER_VARIANTS = {"adam-foreach": "foreach", "adam-fused": "fused"}
# Modes that run the optimizer variants in the full profile: the update is eager Python in every mode
# (compiled modes compile the modules only), so eager and the default compile mode show it.
OPTIMIZER_VARIANT_MODES = ("eager", "compile")


def _extra_variants(profile: str, mode: str, device: str, probe: Mapping[str, Any]) -> tuple[str, ...]:
    if profile != "full":
        return ()
    extra: list[str] = ["channels-last"]  # CPU (oneDNN's NHWC kernels) and CUDA
    if mode in OPTIMIZER_VARIANT_MODES:
        extra += [v for v in OPTIMIZER_VARIANTS if not (device == "cuda" and v == "adam-foreach")]
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
        Variant("adam-foreach", description="Adam(foreach=True): multi-tensor kernels (CPU's default is "
                                            "a per-parameter loop; CUDA's default already)"),
        Variant("adam-fused", description="Adam(fused=True): one fused kernel for the whole update"),
        Variant("warm-cache", compiled_only=True,
                description="compile with an Inductor cache primed by an earlier process"),
    ),
    # bf16 CPU cells (where the CPU runs bf16 natively): autocast(cpu, bfloat16), eager in quick.
    cpu_reduced_precision_modes={"quick": ("eager",), "full": ("eager", "compile")},
    import_names=("torch",),
    slower_compiled_notes={"cpu": (
        "the compiled modules' convolutions are the same oneDNN calls as eager's, but Inductor's "
        "generated CPU kernels draw dropout's random numbers element by element and transpose "
        "activations to channels-last and back around the convolutions; and the compiled backward of "
        "a module called once with two gradients wanted (a GAN's discriminator on the fake batch) runs "
        "twice in full: +4.7% FLOPs on dcgan-mnist, +10.3% on dcgan-64, none on the VAE and the U-Net "
        "(`python scripts/count_step_flops.py --model dcgan-mnist --batch 64 --modes eager,compile "
        "--breakdown`; kernel profile and figures in models/gan/CONTRACT.md, \"Compiled modes\"). "
        "No graph break and no recompile (the cell's flags)."),
    },
    speed_env_vars=(
        "CUBLAS_WORKSPACE_CONFIG", "PYTORCH_CUDA_ALLOC_CONF", "CUDA_MODULE_LOADING",
    ),
    speed_env_prefixes=("TORCHINDUCTOR_", "TORCH_COMPILE", "TORCHDYNAMO_", "TRITON_"),
    extra_variants=_extra_variants,
    allocator_peak="max_memory_allocated",
    oom_exception_names=("OutOfMemoryError",),
    oom_messages=("CUDA out of memory", "CUDA error: out of memory"),
    roofline_priority=0,  # preferred for the device roofline (bench/frameworks/torch/roofline.py)
)
