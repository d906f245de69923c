"""TensorFlow (Keras 3) backend of the worker (imports TF: only ever inside a TF cell's process).

Modes: eager (the model's train_step as is), function (tf.function) and xla
(tf.function(jit_compile=True)). Timing is the shared host-clock path of ``bench.frameworks.base``
(this class overrides none of it). ``sync`` is ``tf.test.experimental.sync_devices()``: a
SyncDevice op on each logical device (it drains a GPU's streams) and then the eager executor's queue
(``async_wait``: it matters where ops run asynchronously, which a CPU does only under
``set_synchronous_execution(False)``). A CUDA cell calls it after every step. A CPU cell calls it
only while TF's executor is asynchronous: under the default synchronous executor a step's call
returns after its last op has run, so there is nothing to wait for (as torch's CPU sync, which is
no call at all), and the call was ~12 µs of the ~14 µs the timing path added to a plain loop's clock
(``python scripts/timing_path_overhead.py``). Whether the executor is synchronous is read at every
sync (~1.6 µs), so a model that switches it cannot escape the sync. The step's losses are then read
(``.numpy()``), which waits for them in any case.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bench.frameworks.base import Backend, Losses
from bench.frameworks.tensorflow.distribute import make_strategy, replicated
from bench.frameworks.tensorflow.onednn import onednn_enabled
from models.common.tf_common import tf_device


class TensorflowBackend(Backend):
    framework = "tensorflow"
    generate_hooks = "bench.frameworks.tensorflow.generate"  # the generate scenario's modes
    # MultiWorkerMirroredStrategy's own modules: raising there, it cannot run the family's model.
    unsupported_sources = ("tensorflow/python/distribute/",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cuda = self.cell.device == "cuda"
        self.tf_device = tf_device(self.cell.device, self.device_index)
        self.tf_memory_device = self.tf_device.lstrip("/")  # what get_memory_info names: "GPU:<k>"
        self._device_scope: Any = None
        self.strategy: Any = None  # MultiWorkerMirroredStrategy of a cell of several ranks (setup)

    def setup(self) -> None:
        p = self.plan
        f = self.flags
        gpus = tf.config.list_physical_devices("GPU")
        if not self.cuda and gpus:
            # A CPU cell must not place anything on a GPU (nor reserve its memory).
            tf.config.set_visible_devices([], "GPU")
        elif self.cuda:
            for gpu in gpus:
                tf.config.experimental.set_memory_growth(gpu, True)
            f["memory_growth"] = bool(gpus) and all(
                tf.config.experimental.get_memory_growth(g) for g in gpus)
        # Must happen before the runtime initialises (the first op).
        tf.config.threading.set_intra_op_parallelism_threads(p["intra_op_threads"])
        tf.config.threading.set_inter_op_parallelism_threads(p["inter_op_threads"])
        f["intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        f["inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
        if self.world_size > 1:  # before any op: the strategy configures the runtime's collectives
            self.strategy, dist_flags = make_strategy(self.rank, self.world_size)
            f.update(dist_flags, threads_per_rank=f["intra_op_threads"],
                     threads_total=f["intra_op_threads"] * self.world_size)
        keras.utils.set_random_seed(p["seed"])  # Python, NumPy and TF generators
        f["seed"] = p["seed"]
        tf.config.experimental.enable_tensor_float_32_execution(bool(p["tf32"]))
        f["tf32"] = bool(tf.config.experimental.tensor_float_32_execution_enabled())
        f["tf32_label"] = p.get("tf32_label")
        if p["deterministic"]:
            tf.config.experimental.enable_op_determinism()
        f["deterministic"] = bool(p["deterministic"])
        f["cudnn_autotune"] = p["cudnn_autotune"]
        f["onednn_requested"] = p["onednn_requested"]
        f["onednn_effective"] = onednn_enabled()
        f["TF_ENABLE_ONEDNN_OPTS"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
        f["precision"] = p["precision"]
        f["sync"] = p["sync"]

    def versions(self) -> dict[str, Any]:
        info = dict(tf.sysconfig.get_build_info())
        v: dict[str, Any] = {
            "framework": "tensorflow",
            "framework_version": tf.__version__,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "cuda": info.get("cuda_version"),
            "cudnn": info.get("cudnn_version"),
            "cuda_build": bool(info.get("is_cuda_build", False)),
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
        if self.cuda:
            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                try:
                    details = tf.config.experimental.get_device_details(gpus[self.device_index])
                    v["gpu"] = details.get("device_name")
                    cap = details.get("compute_capability")
                    v["gpu_capability"] = f"{cap[0]}.{cap[1]}" if cap else None
                except Exception:
                    pass
        return v

    def device_available(self) -> str | None:
        if not self.cuda:
            return None
        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            build = "a CUDA build" if tf.test.is_built_with_cuda() else "a CPU-only build"
            return f"no CUDA device visible to tensorflow {tf.__version__} ({build})"
        if self.device_index >= len(gpus):
            return f"no CUDA device {self.device_index} ({len(gpus)} visible to tensorflow)"
        return None

    def build(self, family: Any, spec: Any, batch_size: int, inputs: Sequence[Any]) -> None:
        # Everything (variables, batches, steps) lives on the cell's device: entered once, kept.
        self._device_scope = tf.device(self.tf_device)
        self._device_scope.__enter__()
        with self.strategy.scope() if self.strategy is not None else contextlib.nullcontext():
            self.build_model(family, spec, batch_size, inputs)
        with contextlib.suppress(Exception):
            # The models set a dtype policy per layer (not globally): record what the layers use,
            # over every Keras model and optimizer the family's model holds.
            parts = list(vars(self.model).values())
            layers = [ly for m in parts if isinstance(m, keras.Model) for ly in m.layers]
            self.flags["keras_dtype_policies"] = sorted({layer.dtype_policy.name for layer in layers})
            optimizers = [o for o in parts if isinstance(o, keras.optimizers.Optimizer)]
            self.flags["loss_scale_optimizer"] = bool(optimizers) and all(
                isinstance(o, keras.optimizers.LossScaleOptimizer) for o in optimizers)
        self.sync()

    def wrap(self) -> None:
        mode = self.cell.mode
        step = self.model.train_step
        if self.strategy is not None:
            step = replicated(self.strategy, step)
        if mode == "eager":
            self.step_fn = step
        elif mode in ("function", "xla"):
            # Kept apart from step_fn (which the worker may wrap) to read the tracing count.
            self.traced_fn = tf.function(step, jit_compile=(mode == "xla"))
            self.step_fn = self.traced_fn
            self.flags["jit_compile"] = mode == "xla"
        else:
            raise ValueError(f"unknown tensorflow mode {mode!r}")

    def fetch(self, handle: Any) -> Losses:
        return {name: float(np.asarray(handle[name])) for name in self.loss_names}

    def sync(self) -> None:
        # A CPU step under the synchronous executor has already finished (see the module docstring).
        if self.cuda or not tf.config.experimental.get_synchronous_execution():
            tf.test.experimental.sync_devices()

    def compile_counters(self) -> dict[str, Any]:
        traced = getattr(self, "traced_fn", None)
        if self.cell.mode == "eager" or traced is None:
            return {}
        return {"traces": int(traced.experimental_get_tracing_count())}

    def compile_report(self, before: dict[str, Any], after: dict[str, Any]) -> tuple[int | None, list[str]]:
        if self.cell.mode == "eager" or not after:
            return None, []
        recompiles = after["traces"] - before.get("traces", 0)
        self.flags["tf_function_traces"] = after["traces"]
        warnings = []
        if recompiles > 0:
            warnings.append(f"tf.function retraced {recompiles} time(s) during the timed steps")
        return recompiles, warnings

    def memory_peaks(self) -> dict[str, int | None]:
        if not self.cuda:
            return super().memory_peaks()
        try:
            peak = int(tf.config.experimental.get_memory_info(self.tf_memory_device)["peak"])
        except Exception:
            peak = None
        return {"device_alloc_peak_bytes": peak, "device_reserved_peak_bytes": None}

    def reset_memory_peaks(self) -> bool:
        if not self.cuda:
            return False
        try:
            tf.config.experimental.reset_memory_stats(self.tf_memory_device)
        except Exception:  # a TF without the call, or no GPU: the peak stays whole-process
            return False
        return True

    def unsupported(self, exc: BaseException) -> bool:
        # A lost or unreachable peer (a rank killed, a port taken) fails the slot; no limit of the strategy.
        lost = {"UnavailableError", "DeadlineExceededError", "CancelledError", "AbortedError"}
        return super().unsupported(exc) and not lost & {c.__name__ for c in type(exc).__mro__}

    def is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, tf.errors.ResourceExhaustedError)


BACKEND = TensorflowBackend
