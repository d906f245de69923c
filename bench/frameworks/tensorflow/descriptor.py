"""TensorFlow as the rest of framebench sees it (no TensorFlow import)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.frameworks.descriptor import FrameworkDescriptor, Mode, Variant
from bench.frameworks.tensorflow.onednn import opposite_onednn_variant

# TF modes that also run with oneDNN flipped from this machine's default, per profile (CPU only). Not
# in quick: the 15-minute default matrix cannot afford 3 more processes per model for a switch
# whose answer on this kind of CPU is known (oneDNN on is about 2x faster); full keeps it.
ONEDNN_FLIP_MODES: dict[str, tuple[str, ...]] = {"quick": (), "full": ("eager", "function", "xla")}
# TF modes that also run with a 2-thread inter-op pool, per profile (CPU only): op-level parallelism
# inside a traced graph, which eager execution (one op at a time) cannot use.
INTEROP_MODES: dict[str, tuple[str, ...]] = {"full": ("function", "xla")}
# The inter-op pool size each variant asks for (flags.plan puts it in the cell's plan).
INTEROP_THREADS = {"interop-1": 1}
# Modes that also run with TF32 on in the full profile (CUDA, fp32 cells).
TF32_VARIANT_MODES = ("eager", "function")

# The deployed runtimes (modes of the generate scenario only) and what a reader must know about each.
RUNTIME_SCENARIOS = ("generate",)
# Runtimes installed as CPU builds here (onnxruntime, ai-edge-litert): skipped on CUDA cells.
CPU_ONLY_RUNTIMES = ("litert", "onnx")
RUNTIME_NOTES = {
    "savedmodel": "Keras model.export() -> tf.saved_model.load -> the serving_default signature",
    "litert": "tf.lite.TFLiteConverter from the SavedModel, run by the ai-edge-litert interpreter",
    "onnx": "Keras model.export(format='onnx') (tf2onnx), run in ONNX Runtime",
}

CUDA_NOTE = (
    "fp32 cells run with TF32 off (`tf.config.experimental.enable_tensor_float_32_execution(False)`) "
    "in both frameworks; TensorFlow ships TF32 on for matmuls and convolutions alike (Ampere and "
    "later), which the `tf32` variant measures. fp16 cells scale the loss with Keras' "
    "LossScaleOptimizer: inside a traced step (`function`, `xla`) its finite check and scale update stay "
    "on the device; in `eager` mode its `ops.cond` on the finite check is decided by the host, one "
    "synchronisation per step, as GradScaler's in PyTorch.")


def _extra_variants(profile: str, mode: str, device: str, probe: Mapping[str, Any]) -> tuple[str, ...]:
    if device == "cuda":
        return ("tf32",) if profile == "full" and mode in TF32_VARIANT_MODES else ()
    if device != "cpu":
        return ()
    extras: tuple[str, ...] = ()
    if mode in ONEDNN_FLIP_MODES.get(profile, ()):
        extras += (opposite_onednn_variant(probe),)
    if mode in INTEROP_MODES.get(profile, ()):
        extras += tuple(INTEROP_THREADS)
    return extras


DESCRIPTOR = FrameworkDescriptor(
    name="tensorflow",
    label="TensorFlow",
    colour="#ff8f00",
    package="bench.frameworks.tensorflow",
    modes=(
        Mode("eager"),
        # Tracing (and XLA's compile) has no persistent cache: every process pays it. CPU: about twice the
        # first steps of the committed quick run reports/runs/20261125T043336Z at quick's CPU batches
        # (tracing 0.7-1.7 s, XLA 1.9-3.7 s; earlier runs at the models' default batches: up to 15 and
        # 23 s); CUDA ones not measured yet.
        Mode("function", compiles=True,  # tf.function
             cold_compile_s={"cpu": 3.0, "cuda": 5.0}, warm_compile_s={"cpu": 3.0, "cuda": 5.0}),
        Mode("xla", compiles=True,  # tf.function(jit_compile=True)
             cold_compile_s={"cpu": 6.0, "cuda": 12.0}, warm_compile_s={"cpu": 6.0, "cuda": 12.0}),
        # Deployed runtimes (bench/frameworks/tensorflow/runtimes.py), for the generate scenario only: the
        # export runs once per cell, before and outside any timed call.
        *(Mode(name, scenarios=RUNTIME_SCENARIOS, runtime=True, note=note, cpu_only=name in CPU_ONLY_RUNTIMES)
          for name, note in RUNTIME_NOTES.items()),
    ),
    variants=(
        Variant("default"),
        Variant("onednn-on", env={"TF_ENABLE_ONEDNN_OPTS": "1"}, devices=("cpu",),
                description="oneDNN kernels forced on"),
        Variant("onednn-off", env={"TF_ENABLE_ONEDNN_OPTS": "0"}, devices=("cpu",),
                description="oneDNN kernels forced off"),
        # The run's settings give every framework its default inter-op pool (one thread per physical
        # core); this variant pins TF's graph executor to one thread, the harness's setting before
        # it was measured (scripts/tf_interop_check.py: 7% slower on dcgan-mnist, 2 cores).
        Variant("interop-1", compiled_only=True,
                description="inter-op thread pool of 1: the traced step's independent ops run one at a time"),
        Variant("tf32", devices=("cuda",), precisions=("fp32",),
                description="TF32 on for matmuls and convolutions (TensorFlow's shipped default on CUDA; "
                            "fp32 cells run with it off in both frameworks)"),
    ),
    # The gpu profile (30 minutes on one H100 with both frameworks): XLA, what Keras' fit runs on a GPU
    # (default_mode), on every model in fp32 and bf16; eager and tf.function on one model (fp32).
    cuda_reduced_precision_modes={"gpu": ("xla",)},
    one_model_modes={"gpu": ("eager", "function")},
    # quick (15 minutes on 2 CPU cores) keeps what answers the headline: training in the shipped default
    # (tf.function) and the tuned candidate (XLA); generation in the shipped graph mode and every
    # deployed runtime. Eager cells run in full and when named (--modes eager).
    profile_modes={"quick": {"train": ("function", "xla"),
                             "generate": ("function", "savedmodel", "litert", "onnx")}},
    # CPU: 4-7 s in the committed quick run (Keras import included); CUDA: plus GPU init (~2 s).
    process_start_s={"cpu": 6.0, "cuda": 8.0},
    launchers=("engine",),  # cells of several workers: MultiWorkerMirroredStrategy (ranks.py)
    import_names=("tensorflow", "keras"),
    report_notes={"cuda": CUDA_NOTE, "cpu": (
        "Keras 3's BatchNormalization runs unfused (`ops.moments` + `tf.nn.batch_normalization`: 99 traced "
        "ops per layer, never TF's FusedBatchNormV3 kernel, which takes 29: `python "
        "scripts/tf_batchnorm_check.py` counts them and times both on your machine). The models keep it: "
        "it is what a Keras 3 user gets. On a "
        "CPU without AMX, bf16 matmuls are no faster than fp32 (the roofline's `matmul_flops_by_precision`), "
        "so the bf16 cells measure the conversions' cost rather than a speed-up."),
    },
    speed_env_vars=(
        "TF_ENABLE_ONEDNN_OPTS", "TF_XLA_FLAGS", "XLA_FLAGS", "TF_GPU_ALLOCATOR", "TF_FORCE_GPU_ALLOW_GROWTH",
        "TF_CUDNN_DETERMINISTIC", "TF_DETERMINISTIC_OPS", "TF_INTRA_OP_PARALLELISM_THREADS",
        "TF_INTER_OP_PARALLELISM_THREADS", "NVIDIA_TF32_OVERRIDE", "TF_CUDNN_USE_AUTOTUNE",
    ),
    speed_env_prefixes=("DNNL_", "ONEDNN_"),
    extra_variants=_extra_variants,
    # bf16 CPU cells (where the CPU runs bf16 natively): the mixed_bfloat16 policy in tf.function. Not in
    # quick: its 15 minutes on 2 cores go to the tuned candidates of both frameworks and more pairs.
    cpu_reduced_precision_modes={"full": ("function",)},
    allocator_peak="get_memory_info peak",
    oom_exception_names=("ResourceExhaustedError",),
    # TF's runtime, and XLA's allocator under jit_compile.
    oom_messages=("RESOURCE_EXHAUSTED", "OOM when allocating", "Out of memory while trying to allocate"),
    roofline_priority=1,  # host clock around device syncs
    # Keras 3 (3.15: keras/src/trainers/trainer.py, _resolve_auto_jit_compile) traces the train step with
    # tf.function unless run_eagerly=True, and its default jit_compile="auto" turns XLA on only where
    # TensorFlow sees a non-CPU device: tf.function on a CPU-only machine, XLA on a GPU one.
    default_mode={"cpu": "function", "cuda": "xla"},
    compiled_scopes={
        "eager": "nothing: every op runs eagerly, the Adam updates included",
        "function": "the whole train step: forward, gradients and both Adam updates in one tf.function graph",
        "xla": "the whole train step, as function, compiled by XLA (jit_compile=True)",
        "savedmodel": "the whole inference model, exported by Keras' model.export() as a SavedModel and "
                      "called through its serving signature",
        "litert": "the whole inference model, converted from that SavedModel by TFLiteConverter and run "
                  "by the LiteRT interpreter (XNNPACK delegate)",
        "onnx": "the whole inference model, exported by Keras' model.export(format='onnx') (tf2onnx) and "
                "run by ONNX Runtime's CPU execution provider",
    },
)
