"""PyTorch as the rest of framebench sees it (no torch import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.frameworks.descriptor import FrameworkDescriptor, Mode, Variant

DESCRIPTOR_NAME = "torch"

# The Adam implementation each optimizer variant asks for (flags.plan puts it in the cell's plan; the
# model's build option ``optimizer``): the same update, other kernels. torch's default is foreach on
# CUDA and the single-tensor loop on CPU, so "adam-foreach" is a variant on CPU only.
OPTIMIZER_VARIANTS = {"adam-foreach": "foreach", "adam-fused": "fused"}
# Modes that run the optimizer variants in the full profile: the update is eager Python in every mode
# (compiled modes compile the modules only), so eager and the default compile mode show it.
OPTIMIZER_VARIANT_MODES = ("eager", "compile")
# The variant that also compiles the optimizer step (torch.compile of ``opt.step``, as PyTorch's recipe
# "Compiling the optimizer with torch.compile" does): with a compiled mode, the modules and the update
# are compiled, the scope of TensorFlow's traced step (forward, gradients and Adam).
COMPILED_OPTIMIZER = "adam-compiled"
# The tuned candidates of the quick profile (CPU): the fused Adam kernel in eager mode, and modules plus
# optimizer compiled; bench.analysis.headline picks among them with a Bonferroni-widened interval.
QUICK_TUNED = {"eager": ("adam-fused",), "compile": (COMPILED_OPTIMIZER,)}
# Modes that also run with TF32 on in the full profile (CUDA, fp32 cells: the variant's precisions).
TF32_VARIANT_MODES = ("eager", "compile")

# The deployed runtimes (modes of the generate scenario only) and what a reader must know about each.
RUNTIME_SCENARIOS = ("generate",)
# Runtimes installed as CPU builds here (onnxruntime, ai-edge-litert): skipped on CUDA cells.
CPU_ONLY_RUNTIMES = ("onnx",)
RUNTIME_NOTES = {
    "aoti": "torch.export + AOTInductor (aoti_compile_and_package / aoti_load_package)",
    "onnx": "torch.onnx.export(dynamo=True), run in ONNX Runtime",
    "torchscript": "legacy: torch.jit.trace + torch.jit.freeze; TorchScript is deprecated upstream in "
                   "favour of torch.export, but many deployments still run it",
}

# What the report says about CUDA cells (the matching TensorFlow note is in its descriptor).
CUDA_NOTE = (
    "fp32 cells run with TF32 off in both frameworks (\"TF32 off (both)\"), so that fp32 means IEEE "
    "fp32 on each side; the `tf32` variant turns TF32 on for matmuls and convolutions in both. What "
    "PyTorch ships: cuDNN convolutions in TF32 (`torch.backends.cudnn.allow_tf32` True), matmuls in "
    "fp32 (`torch.backends.cuda.matmul.allow_tf32` False); the cell's flags record every switch as "
    "set. fp16 cells scale the loss with `torch.amp.GradScaler`: each `scaler.step()` of a non-fused "
    "optimizer reads `found_inf` on the host (`.item()`), and `get_scale()` reads the scale, so the "
    "host waits on the device inside every step and the throughput window of those cells is not "
    "\"one sync at its end\" (flag `grad_scaler_host_syncs`); fused Adam takes `found_inf` on the "
    "device.")


def _extra_variants(profile: str, mode: str, device: str, probe: Mapping[str, Any]) -> tuple[str, ...]:
    if mode in RUNTIME_NOTES:
        return ()  # an exported artefact runs as exported: no training switch applies to it
    if profile == "quick":
        return QUICK_TUNED.get(mode, ()) if device == "cpu" else ()
    if profile != "full":
        return ()
    extra: list[str] = ["channels-last"]  # CPU (oneDNN's NHWC kernels) and CUDA
    if device == "cuda" and mode in TF32_VARIANT_MODES:
        extra.append("tf32")
    if mode in OPTIMIZER_VARIANT_MODES:
        extra += [v for v in OPTIMIZER_VARIANTS if not (device == "cuda" and v == "adam-foreach")]
    if mode == "compile":
        extra.append(COMPILED_OPTIMIZER)
    if DESCRIPTOR.compiles(mode):
        extra.append("warm-cache")
    return tuple(extra)


DESCRIPTOR = FrameworkDescriptor(
    name=DESCRIPTOR_NAME,
    label="PyTorch",
    colour="#3b5bdb",
    package="bench.frameworks.torch",
    # Compile estimates: CPU from the committed runs (2 cores; Inductor's C++ compiles dominate): cold
    # 19-24 s at quick's CPU batches in reports/runs/20261125T043336Z, 36 s in 20261123T160704Z (AMD
    # EPYC), up to 180 s at the models' default batches; warm processes of the shared cache 2.2-3.3 s
    # (043336Z), 5.3 s on a busy 2-core AMD EPYC. CUDA: not measured
    # yet, read from the figures for one H100 (max-autotune minutes per model); the first GPU
    # run (scripts/gpu_evidence.sh) stores the real ones, which bench.plan.estimates then prefers.
    modes=(
        Mode("eager"),
        Mode("compile", compiles=True,  # torch.compile()
             cold_compile_s={"cpu": 40.0, "cuda": 25.0}, warm_compile_s={"cpu": 6.0, "cuda": 6.0}),
        Mode("reduce-overhead", compiles=True, needs_cuda=True,  # CUDA graphs
             cold_compile_s={"cuda": 30.0}, warm_compile_s={"cuda": 8.0}),
        Mode("max-autotune", compiles=True, needs_cuda=True,  # GPU kernel autotuning
             cold_compile_s={"cuda": 150.0}, warm_compile_s={"cuda": 15.0}),
        # Deployed runtimes (bench/frameworks/torch/runtimes.py), for the generate scenario only: the
        # export runs once per cell, before and outside any timed call.
        *(Mode(name, scenarios=RUNTIME_SCENARIOS, runtime=True, note=note, cpu_only=name in CPU_ONLY_RUNTIMES)
          for name, note in RUNTIME_NOTES.items()),
    ),
    variants=(
        Variant("default"),
        Variant("channels-last", description="NHWC memory format for images and conv weights"),
        Variant("adam-foreach", description="Adam(foreach=True): multi-tensor kernels (CPU's default is "
                                            "a per-parameter loop; CUDA's default already)",
                scope="Adam in multi-tensor kernels (not compiled)"),
        Variant("adam-fused", description="Adam(fused=True): one fused kernel for the whole update",
                scope="Adam as one fused kernel (not compiled)"),
        Variant(COMPILED_OPTIMIZER, compiled_only=True,
                description="the optimizer step compiled too: torch.compile(fullgraph=False) of a function "
                            "calling opt.step(), as PyTorch's recipe \"Compiling the optimizer\" does",
                scope="+ the optimizer step (torch.compile of opt.step)",
                # dcgan-mnist on a loaded 2-core CPU: first step 62 s against 54 s for the modules alone.
                extra_compile_s={"cpu": 10.0, "cuda": 10.0}),
        Variant("warm-cache", compiled_only=True,
                description="compile with an Inductor cache primed by an earlier process"),
        Variant("tf32", devices=("cuda",), precisions=("fp32",),
                description="TF32 on for CUDA matmuls and cuDNN convolutions (fp32 cells run with "
                            "TF32 off in both frameworks by default)"),
    ),
    # The gpu profile (30 minutes on one H100): reduced precision in eager and compile (TensorFlow's in
    # XLA, its default on a GPU), reduce-overhead in fp32; max-autotune (minutes of kernel benchmarking
    # per compile) on one model only.
    cuda_reduced_precision_modes={"gpu": ("eager", "compile")},
    one_model_modes={"gpu": ("max-autotune",)},
    # quick (15 minutes on 2 CPU cores) keeps what answers the headline: training in the shipped default
    # (eager) and the tuned candidates (fused Adam; modules and optimizer compiled, the scope of TF's
    # traced step: the modules-only compile cell runs in full and when named); generation eagerly and in
    # every deployed runtime (torch.compile of the generator in full).
    profile_modes={"quick": {"generate": ("eager", "aoti", "onnx", "torchscript")}},
    extras_only_modes={"quick": ("compile",)},
    # CPU: 3-5 s measured in the committed quick run; CUDA: that plus the device context (~1 s).
    process_start_s={"cpu": 4.5, "cuda": 5.5},
    report_notes={"cuda": CUDA_NOTE},
    # bf16 CPU cells (where the CPU runs bf16 natively): autocast(cpu, bfloat16); full profile only.
    cpu_reduced_precision_modes={"full": ("eager", "compile")},
    import_names=("torch",),
    launchers=("engine",),  # cells of several workers: torchrun + DDP (ranks.py, ddp.py)
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
    # PyTorch runs eagerly unless the user compiles something.
    default_mode={},
    compiled_scopes={
        "eager": "nothing: eager Python; Adam is torch's default (a per-parameter loop on CPU, foreach "
                 "kernels on CUDA)",
        "compile": "the modules (torch.compile of each network); losses, backward and the Adam update "
                   "stay eager",
        "reduce-overhead": "the modules, as compile, replayed as CUDA graphs; the Adam update stays eager",
        "max-autotune": "the modules, as compile, with GPU kernel autotuning and CUDA graphs; the Adam "
                        "update stays eager",
        "aoti": "the whole inference module, exported by torch.export and compiled ahead of time by "
                "AOTInductor into a .pt2 package (once per cell, outside the timed calls)",
        "onnx": "the whole inference module, exported by torch.onnx.export(dynamo=True) and run by ONNX "
                "Runtime's CPU execution provider",
        "torchscript": "the whole inference module, traced by torch.jit.trace and frozen (legacy)",
    },
)
