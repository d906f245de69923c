"""A harness-free TensorFlow / Keras 3 serving loop for a DCGAN's generator, as a Keras user serves it.

The reference that the project's TensorFlow ``generate`` cells are checked against (issue 20). The
generator, its weights and the noise are the project's (``models.gan``: the same Keras model the
harness serves, so the same shapes, weights and first image); nothing of ``bench`` is imported.

    python scripts/idiomatic/tf_serve_dcgan.py --mode function --threads 2
    python scripts/idiomatic/tf_serve_dcgan.py --mode savedmodel --threads 2

Modes: ``eager`` (``generator(z, training=False)`` as is), ``function`` (that call wrapped in
``tf.function``, the shipped graph way), ``xla`` (``tf.function(jit_compile=True)``) and
``savedmodel`` (``generator.export()`` into a temporary directory, ``tf.saved_model.load`` and its
``serving_default`` signature, as TF Serving calls it). Export and load happen before the first call.

What one timed call includes, the harness's timed call exactly (bench/frameworks/tensorflow/generate.py,
runtimes.py):

- eager, function, xla: the generator on the batch-1 z tensor (made from numpy once, before any call),
  then ``tf.reduce_mean`` of the images outside the function, read as a float (``.numpy()``);
- savedmodel: ``tf.constant`` of the numpy z, the signature's call, its output copied out with
  ``.numpy()``, and the images' numpy mean.

Calls: one first call, then warm-up calls until both ``--warmup`` calls and ``--warmup-s`` seconds of
calls, then timed calls until both ``--calls`` and ``--min-s`` (the quick profile's generate settings
by default: 3 / 0.5 s, 5 / 1 s). Each call is timed with ``time.perf_counter``. z is drawn with numpy
from the seed as the harness draws it. Prints ONE JSON line on stdout: ``median_s`` is the p50.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter off stderr

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project's models/ (not bench)

from models.gan import tf_dcgan
from models.gan.spec import SPECS

MODES = ("eager", "function", "xla", "savedmodel")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (no usage block)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(SPECS), default="dcgan-mnist")
    p.add_argument("--mode", choices=MODES, default="function")
    p.add_argument("--threads", type=int, default=2, help="TF intra-op threads (default 2)")
    p.add_argument("--interop", type=int, default=None, help="TF inter-op threads (default: --threads)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up calls at least (default 3)")
    p.add_argument("--warmup-s", type=float, default=0.5, help="warm-up seconds at least (default 0.5)")
    p.add_argument("--calls", type=int, default=5, help="timed calls at least (default 5)")
    p.add_argument("--min-s", type=float, default=1.0, help="timed seconds at least (default 1)")
    p.add_argument("--seed", type=int, default=0, help="weights and z (default 0)")
    a = p.parse_args(argv)
    a.interop = a.threads if a.interop is None else a.interop
    if a.threads < 1 or a.interop < 1 or a.calls < 1 or a.warmup < 0 or a.warmup_s < 0 or a.min_s < 0 \
            or a.seed < 0:
        p.error("--threads, --interop, --calls must be >= 1; --warmup, --warmup-s, --min-s, --seed >= 0")
    return a


def saved_model(generator: keras.Model, work: Path, info: dict) -> Callable[[np.ndarray], np.ndarray]:
    path = work / "generator"
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # Keras prints the endpoint; stdout is the JSON line
        generator.export(str(path), format="tf_saved_model", verbose=False)
    t1 = time.perf_counter()
    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures["serving_default"]
    (name,) = serve.structured_input_signature[1]
    (output,) = serve.structured_outputs
    info.update(export_s=t1 - t0, load_s=time.perf_counter() - t1)

    def call(z: np.ndarray) -> np.ndarray:
        return serve(**{name: tf.constant(z)})[output].numpy()

    call.loaded = loaded  # type: ignore[attr-defined]  # the signature needs its restored variables alive
    return call


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    tf.config.set_visible_devices([], "GPU")  # a CPU loop, as the CPU cells it is compared with
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.interop)
    keras.utils.set_random_seed(a.seed)
    spec = SPECS[a.model]
    generator = tf_dcgan.build(spec, batch_size=1, seed=a.seed).generator
    z = np.random.default_rng([a.seed, 23]).standard_normal((1, spec.noise_dim), dtype=np.float32)
    info: dict = {}
    work = tempfile.TemporaryDirectory(prefix="tf_serve_")

    if a.mode == "savedmodel":
        serve = saved_model(generator, Path(work.name), info)

        def generate() -> float:
            return float(np.mean(serve(z)))
    else:
        def call(x: tf.Tensor) -> tf.Tensor:
            return generator(x, training=False)

        net = call if a.mode == "eager" else tf.function(call, jit_compile=a.mode == "xla")
        z_t = tf.constant(z)

        def generate() -> float:
            return float(tf.reduce_mean(net(z_t)).numpy())

    def timed() -> tuple[float, float]:
        t0 = time.perf_counter()
        value = generate()
        return time.perf_counter() - t0, value

    def calls(count: int, min_s: float) -> list[float]:
        times: list[float] = []
        while len(times) < count or sum(times) < min_s:
            times.append(timed()[0])
        return times

    first_s, first_value = timed()
    warm = calls(a.warmup, a.warmup_s)
    times = calls(a.calls, a.min_s)
    work.cleanup()
    print(json.dumps({
        "median_s": statistics.median(times), "calls": len(times), "times_s": times,
        "first_call_s": first_s, "warmup_times_s": warm, "losses_first": {"image_mean": first_value},
        "framework": "tensorflow", "version": tf.__version__, "keras": keras.__version__,
        "python": platform.python_version(), "model": a.model, "batch": 1, "mode": a.mode,
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "interop": tf.config.threading.get_inter_op_parallelism_threads(),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "seed": a.seed, "warmup": a.warmup,
        "warmup_s": a.warmup_s, "min_calls": a.calls, "min_s": a.min_s, **info,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
