"""A harness-free TensorFlow / Keras 3 DCGAN training loop, written as the TensorFlow tutorial does.

The reference that the project's TensorFlow cells are checked against (issue 10): the SAME models and
algorithm as ``models/gan`` (architecture, initialisation, Adam settings, the tutorial's step: one
forward of G, D(real) and D(fake) under two GradientTapes; g_loss and d_loss; both gradients; then
both Adam updates), written directly in Keras 3, without importing ``models`` or ``bench``.

    python scripts/idiomatic/tf_dcgan.py --model dcgan-mnist --batch 256 --mode function
    python scripts/idiomatic/tf_dcgan.py --model dcgan-mnist --batch 256 --mode eager

``--mode``: ``function`` (``@tf.function``, as the tutorial), ``eager`` (the same Python function
called as is), ``xla`` (``tf.function(jit_compile=True)``). The noise is an argument of the step
(the tutorial draws it inside; the harness feeds pre-drawn batches, so this does too).

Steps: one first step (tracing included), ``--warmup`` more, then ``--steps`` timed ones (the
harness's 1 + warm-up + timed). Each step is timed on the host clock and ends when both losses have
been read with ``.numpy()``. Synthetic data from numpy with a fixed seed, ``--n-batches`` distinct
batches resident as tensors and cycled (as the harness does). Prints ONE JSON line on stdout.
Weights are drawn by Keras' own initialisers (the same distributions as models/gan), so losses
match in value range, not bit for bit.
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

# The models' hyper-parameters (models/gan/spec.py), repeated here on purpose: no import of models/.
MODELS = {
    "dcgan-mnist": dict(image=(28, 28, 1), noise=100, lr=1e-4, beta_1=0.9, beta_2=0.999, eps=1e-7,
                        slope=0.3, bn_eps=1e-3, bn_momentum=0.99, dropout=0.3),
    "dcgan-64": dict(image=(64, 64, 3), noise=100, lr=2e-4, beta_1=0.5, beta_2=0.999, eps=1e-8,
                     slope=0.2, bn_eps=1e-5, bn_momentum=0.9, dropout=0.0),
}


def mnist_models(h: dict) -> tuple[keras.Model, keras.Model]:
    """The TensorFlow DCGAN tutorial's make_generator_model / make_discriminator_model."""
    s = h["slope"]
    g = keras.Sequential([
        keras.Input(shape=(h["noise"],)),
        layers.Dense(7 * 7 * 256, use_bias=False),
        layers.BatchNormalization(momentum=h["bn_momentum"], epsilon=h["bn_eps"]),
        layers.LeakyReLU(negative_slope=s),
        layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
        layers.BatchNormalization(momentum=h["bn_momentum"], epsilon=h["bn_eps"]),
        layers.LeakyReLU(negative_slope=s),
        layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(momentum=h["bn_momentum"], epsilon=h["bn_eps"]),
        layers.LeakyReLU(negative_slope=s),
        layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, activation="tanh"),
    ], name="generator")
    d = keras.Sequential([
        keras.Input(shape=h["image"]),
        layers.Conv2D(64, 5, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=s),
        layers.Dropout(h["dropout"]),
        layers.Conv2D(128, 5, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=s),
        layers.Dropout(h["dropout"]),
        layers.Flatten(),
        layers.Dense(1),
    ], name="discriminator")
    return g, d


def dcgan64_models(h: dict) -> tuple[keras.Model, keras.Model]:
    """pytorch/examples dcgan (ngf = ndf = 64) in Keras: N(0, 0.02) kernels, BN gamma N(1, 0.02), logits."""
    s = h["slope"]

    def init() -> keras.initializers.Initializer:
        return keras.initializers.RandomNormal(0.0, 0.02)

    def bn() -> layers.Layer:
        return layers.BatchNormalization(momentum=h["bn_momentum"], epsilon=h["bn_eps"],
                                         gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02))

    g_layers: list[layers.Layer] = [keras.Input(shape=(h["noise"],)), layers.Reshape((1, 1, h["noise"]))]
    for i, f in enumerate([512, 256, 128, 64]):
        g_layers += [layers.Conv2DTranspose(f, 4, strides=1 if i == 0 else 2,
                                            padding="valid" if i == 0 else "same",
                                            use_bias=False, kernel_initializer=init()),
                     bn(), layers.ReLU()]
    g_layers += [layers.Conv2DTranspose(3, 4, strides=2, padding="same", use_bias=False,
                                        kernel_initializer=init()), layers.Activation("tanh")]
    d_layers: list[layers.Layer] = [keras.Input(shape=h["image"]),
                                    layers.Conv2D(64, 4, strides=2, padding="same", use_bias=False,
                                                  kernel_initializer=init()),
                                    layers.LeakyReLU(negative_slope=s)]
    for f in [128, 256, 512]:
        d_layers += [layers.Conv2D(f, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=init()), bn(), layers.LeakyReLU(negative_slope=s)]
    d_layers += [layers.Conv2D(1, 4, strides=1, padding="valid", use_bias=False, kernel_initializer=init()),
                 layers.Flatten()]
    return keras.Sequential(g_layers, name="generator"), keras.Sequential(d_layers, name="discriminator")


def make_data(h: dict, batch: int, n_batches: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_batches`` (images NHWC in [-1, 1], noise) pairs of float32 numpy arrays."""
    rng = np.random.default_rng(seed)
    return [(np.tanh(rng.standard_normal((batch, *h["image"]), dtype=np.float32)),
             rng.standard_normal((batch, h["noise"]), dtype=np.float32)) for _ in range(n_batches)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), default="dcgan-mnist")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=15, help="timed steps (default 15)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after the first one (default 3)")
    p.add_argument("--threads", type=int, default=2, help="TF intra-op threads (default 2)")
    p.add_argument("--interop", type=int, default=1, help="TF inter-op threads (default 1, as the harness)")
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
    h = MODELS[a.model]
    generator, discriminator = mnist_models(h) if a.model == "dcgan-mnist" else dcgan64_models(h)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    g_opt = keras.optimizers.Adam(h["lr"], beta_1=h["beta_1"], beta_2=h["beta_2"], epsilon=h["eps"])
    d_opt = keras.optimizers.Adam(h["lr"], beta_1=h["beta_1"], beta_2=h["beta_2"], epsilon=h["eps"])
    # Slots built up front: a tf.function must not create variables after its first trace.
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)
    data = [(tf.constant(x), tf.constant(z)) for x, z in make_data(h, a.batch, a.n_batches, a.seed)]

    def train_step(images: tf.Tensor, noise: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                         + cross_entropy(tf.zeros_like(fake_output), fake_output))
        g_grads = gen_tape.gradient(gen_loss, generator.trainable_variables)
        d_grads = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        g_opt.apply_gradients(zip(g_grads, generator.trainable_variables, strict=True))
        d_opt.apply_gradients(zip(d_grads, discriminator.trainable_variables, strict=True))
        return gen_loss, disc_loss

    step = train_step if a.mode == "eager" else tf.function(train_step, jit_compile=a.mode == "xla")

    def timed(i: int) -> tuple[float, float, float]:
        images, noise = data[i % len(data)]
        t0 = time.perf_counter()
        gen_loss, disc_loss = step(images, noise)
        g, d = float(gen_loss.numpy()), float(disc_loss.numpy())
        return time.perf_counter() - t0, g, d

    first_s, g0, d0 = timed(0)
    warm = [timed(1 + i)[0] for i in range(a.warmup)]
    runs = [timed(1 + a.warmup + i) for i in range(a.steps)]
    times = [t for t, _, _ in runs]
    print(json.dumps({
        "median_s": statistics.median(times), "steps": a.steps, "times_s": times,
        "first_step_s": first_s, "warmup_times_s": warm,
        "losses_first": {"g": g0, "d": d0}, "losses_last": {"g": runs[-1][1], "d": runs[-1][2]},
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
