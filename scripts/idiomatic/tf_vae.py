"""A harness-free TensorFlow / Keras 3 VAE training loop, written as the Keras VAE example does.

The reference that the project's TensorFlow vae-mnist cells are checked against (issue 27): the SAME
model and algorithm as ``models/vae`` (the Keras example "Variational AutoEncoder": Conv 32 k3 s2 →
Conv 64 k3 s2 → Dense 16, two Dense heads z_mean / z_log_var; decoder Dense 7·7·64 → ConvT 64 →
ConvT 32 → ConvT 1 giving logits; one tape, BCE-from-logits summed per image plus the KL term, one
Adam), written directly in Keras 3, without importing ``models`` or ``bench``.

    python scripts/idiomatic/tf_vae.py --batch 128 --mode function

``--mode``: ``function`` (``@tf.function``), ``eager`` (the same Python function called as is),
``xla`` (``tf.function(jit_compile=True)``). The reparameterisation noise ε is an argument of the step
(the example draws it inside; the harness feeds pre-drawn batches, so this does too).

Steps: one first step (tracing included), ``--warmup`` more, then ``--steps`` timed ones (the
harness's 1 + warm-up + timed). Each step is timed on the host clock and ends when its three losses
have been read with ``.numpy()``. Synthetic images in [0, 1] from numpy with a fixed seed,
``--n-batches`` distinct batches resident as tensors and cycled (as the harness does). Prints ONE
JSON line on stdout. Weights are drawn by Keras' own initialisers (glorot-uniform kernels, zero
biases: the distributions of models/vae), so losses match in value range, not bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter off stderr

import keras
import numpy as np
import tensorflow as tf
from keras import layers

# models/vae/spec.py, repeated here on purpose: no import of models/.
IMAGE, LATENT, HIDDEN, LR, EPS = (28, 28, 1), 2, 16, 1e-3, 1e-7


def vae_models() -> tuple[keras.Model, keras.Model]:
    """The Keras example's encoder (functional, two heads) and decoder (logits, no sigmoid)."""
    x_in = keras.Input(shape=IMAGE)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x_in)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(HIDDEN, activation="relu")(x)
    encoder = keras.Model(x_in, [layers.Dense(LATENT, name="z_mean")(x),
                                 layers.Dense(LATENT, name="z_log_var")(x)], name="encoder")
    decoder = keras.Sequential([
        keras.Input(shape=(LATENT,)),
        layers.Dense(7 * 7 * 64, activation="relu"),
        layers.Reshape((7, 7, 64)),
        layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(1, 3, padding="same"),
    ], name="decoder")
    return encoder, decoder


def make_data(batch: int, n_batches: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_batches`` (images NHWC in [0, 1], ε) pairs of float32 numpy arrays."""
    rng = np.random.default_rng(seed)
    return [((np.tanh(rng.standard_normal((batch, *IMAGE), dtype=np.float32)) + 1.0) / 2.0,
             rng.standard_normal((batch, LATENT), dtype=np.float32)) for _ in range(n_batches)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("vae-mnist",), default="vae-mnist")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=15, help="timed steps (default 15)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after the first one (default 3)")
    p.add_argument("--threads", type=int, default=2, help="TF intra-op threads (default 2)")
    p.add_argument("--interop", type=int, default=2, help="TF inter-op threads (default 2)")
    p.add_argument("--mode", choices=("function", "eager", "xla"), default="function")
    p.add_argument("--n-batches", type=int, default=4, help="distinct batches, cycled (default 4)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.batch < 1 or a.steps < 1 or a.warmup < 0 or a.threads < 1 or a.interop < 1 or a.n_batches < 1:
        p.error("--batch, --steps, --threads, --interop, --n-batches must be >= 1 and --warmup >= 0")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    tf.config.set_visible_devices([], "GPU")  # a CPU loop, as the CPU cells it is compared with
    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(a.interop)
    keras.utils.set_random_seed(a.seed)
    encoder, decoder = vae_models()
    variables = [*encoder.trainable_variables, *decoder.trainable_variables]
    optimizer = keras.optimizers.Adam(LR, epsilon=EPS)
    optimizer.build(variables)  # a tf.function must not create variables after its first trace
    data = [(tf.constant(x), tf.constant(e)) for x, e in make_data(a.batch, a.n_batches, a.seed)]

    def train_step(images: tf.Tensor, eps: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            z_mean, z_log_var = encoder(images, training=True)
            z = z_mean + tf.exp(0.5 * z_log_var) * eps
            logits = decoder(z, training=True)
            bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits)
            reconstruction = tf.reduce_mean(tf.reduce_sum(bce, axis=(1, 2, 3)))
            kl = tf.reduce_mean(tf.reduce_sum(
                -0.5 * (1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var)), axis=1))
            total = reconstruction + kl
        grads = tape.gradient(total, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return total, reconstruction, kl

    step = train_step if a.mode == "eager" else tf.function(train_step, jit_compile=a.mode == "xla")

    def timed(i: int) -> tuple[float, dict[str, float]]:
        images, eps = data[i % len(data)]
        t0 = time.perf_counter()
        total, reconstruction, kl = step(images, eps)
        losses = {"loss": float(total.numpy()), "reconstruction": float(reconstruction.numpy()),
                  "kl": float(kl.numpy())}
        return time.perf_counter() - t0, losses

    first_s, losses0 = timed(0)
    warm = [timed(1 + i)[0] for i in range(a.warmup)]
    runs = [timed(1 + a.warmup + i) for i in range(a.steps)]
    times = [t for t, _ in runs]
    print(json.dumps({
        "median_s": statistics.median(times), "steps": a.steps, "times_s": times,
        "first_step_s": first_s, "warmup_times_s": warm, "losses_first": losses0, "losses_last": runs[-1][1],
        "framework": "tensorflow", "version": tf.__version__, "keras": keras.__version__,
        "python": platform.python_version(), "model": a.model, "batch": a.batch, "mode": a.mode,
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "interop": tf.config.threading.get_inter_op_parallelism_threads(),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "n_batches": a.n_batches, "seed": a.seed, "warmup": a.warmup,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
