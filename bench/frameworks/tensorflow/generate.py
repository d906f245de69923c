"""The TensorFlow side of the ``generate`` scenario (bench/scenarios/generate.py): what each mode calls.

Every mode calls the family's generative Keras model with ``training=False`` (BatchNorm on its
running statistics, no dropout), as a Keras user serves it: eager as is, ``function`` through
``tf.function`` and ``xla`` through ``tf.function(jit_compile=True)`` (one trace per input shape:
batch 1 and batch N, before anything is timed). A sampler's loop over its S network calls stays
Python, as torch's. The call's value is the images' mean, read like a train step's loss.

Another mode (an exported runtime, ``bench.frameworks.base.Backend.build_generate``) calls a callable
built from the same module, on the numpy arrays of ``module_arrays`` (the module's layout: NHWC).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from models.generate import run_loop

NATIVE_MODES = ("eager", "function", "xla")


def network(backend: Any, module: Any) -> Any:
    """The callable one network call of the cell's mode runs (on the cell's device)."""
    if backend._device_scope is None:  # everything on the cell's device, as the train scenario
        backend._device_scope = tf.device(backend.tf_device)
        backend._device_scope.__enter__()

    def call(x: Any, *extra: Any) -> Any:
        return module([x, *extra] if extra else x, training=False)

    mode = backend.cell.mode
    if mode == "eager":
        return call
    if mode in ("function", "xla"):
        backend.traced_fn = tf.function(call, jit_compile=(mode == "xla"))  # its trace count is read
        backend.flags["jit_compile"] = mode == "xla"
        return backend.traced_fn
    raise ValueError(f"tensorflow mode {mode!r} has no generate callable")


def generate_call(backend: Any, net: Any) -> Any:
    backend.flags["inference"] = "keras training=False"

    def call(first: Any, per_step: list[tuple[Any, ...]]) -> dict[str, Any]:
        images = run_loop(net, first, per_step)
        if isinstance(images, np.ndarray):  # a runtime's numpy output
            return {"image_mean": np.float64(np.mean(images))}
        return {"image_mean": tf.reduce_mean(tf.cast(images, tf.float32))}
    return call


def module_arrays(first: np.ndarray, per_step: list[tuple[np.ndarray, ...]]) -> tuple[Any, Any]:
    return first, per_step  # the Keras models take NHWC, as the inputs are drawn


def tensor(backend: Any, a: np.ndarray) -> tf.Tensor:
    dtype = backend.model.dtype if np.issubdtype(a.dtype, np.floating) else tf.as_dtype(a.dtype)
    return tf.constant(a, dtype)


def to_inputs(backend: Any, first: np.ndarray, per_step: list[tuple[np.ndarray, ...]]) -> tuple[Any, Any]:
    with tf.device(backend.tf_device):
        return tensor(backend, first), [tuple(tensor(backend, a) for a in extra) for extra in per_step]


def images_nhwc(out: Any) -> np.ndarray:
    return np.asarray(out)


def module_output(module: Any, first: Any, extra: tuple[Any, ...]) -> np.ndarray:
    """One call of the Keras model itself (training=False), as float64 numpy (a runtime's parity check)."""
    return np.asarray(module([first, *extra] if extra else first, training=False), dtype=np.float64)
