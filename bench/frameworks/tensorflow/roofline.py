"""TensorFlow's roofline measurement (``python -m bench.host.roofline --framework tensorflow``): matmul
FLOP/s per precision and copy bandwidth, on the host clock between full device syncs (the timing
method of every cell, ``bench.frameworks.base``)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import tensorflow as tf

from bench.frameworks.peak import best_rate

DTYPES = {"fp32": tf.float32, "bf16": tf.bfloat16, "fp16": tf.float16}


def measure(device: str, size: int, copy_bytes: int, iters: int, repeats: int, tf32: bool,
            precisions: Iterable[str] = ("fp32", "bf16")) -> dict[str, Any]:
    cuda = device == "cuda"
    if cuda and not tf.config.list_physical_devices("GPU"):
        raise RuntimeError("no CUDA device visible to tensorflow")
    if not cuda and tf.config.list_physical_devices("GPU"):
        tf.config.set_visible_devices([], "GPU")
    tf.config.experimental.enable_tensor_float_32_execution(tf32)
    tf_dev = "/GPU:0" if cuda else "/CPU:0"

    def timer(fn: Any) -> Any:
        def run() -> float:
            tf.test.experimental.sync_devices()
            t0 = time.perf_counter()
            for _ in range(iters):
                r = fn()
            tf.test.experimental.sync_devices()
            _ = r.shape  # sync_devices drained the GPU streams and the eager executor's queue
            return time.perf_counter() - t0
        return run

    by_precision: dict[str, float] = {}
    with tf.device(tf_dev):
        for name in precisions:
            a = tf.cast(tf.random.normal((size, size)), DTYPES[name])
            b = tf.cast(tf.random.normal((size, size)), DTYPES[name])
            run = timer(lambda a=a, b=b: tf.linalg.matmul(a, b))
            run()
            by_precision[name] = best_rate(run, 2.0 * size**3 * iters, repeats)
            del a, b
        n = copy_bytes // 4
        src = tf.ones((n,), tf.float32)
        run = timer(lambda: tf.identity(src) + 0.0)  # identity alone may alias: the add forces a copy
        run()
        bandwidth = best_rate(run, 2.0 * n * 4 * iters, repeats)
    return {"framework_version": tf.__version__, "device_name": tf_dev,
            "peak_flops_by_precision": by_precision, "bandwidth_bytes_s": bandwidth, "tf32": bool(tf32),
            "timing": "host + sync_devices"}
