"""The DCGANs in TensorFlow / Keras 3. Imports TensorFlow and Keras only (never torch).

``build(spec, ...)`` returns a :class:`TFGAN`; ``gan.train_step(real, noise)`` is the TensorFlow DCGAN
tutorial's step (one forward pass under two tapes, both gradients, then both updates) as a plain
Python function: the harness runs it eagerly or wraps it in ``tf.function`` (``jit_compile=True`` for
XLA). Layers, padding and parameter names come from ``models.gan.arch``; every Keras setting that differs
from torch's default is listed in models/gan/CONTRACT.md.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..common.tf_common import POLICIES, chain_variables, get_weights, np_dtype, set_weights, tf_device
from ..common.tf_common import make_adam as make_optimizer
from ..common.weights import Weights
from .arch import Layer, networks, weight_layers
from .spec import ModelSpec
from .weights import initial_weights

# get_weights/set_weights (canonical weights by Keras layer name) are models.common.tf_common's.
__all__ = ["TFGAN", "build", "forward", "get_weights", "gradients", "layer_param_counts", "make_optimizer",
           "set_weights"]


def _keras_layer(layer: Layer, spec: ModelSpec, dtype: str) -> keras.layers.Layer:
    kw = {"name": layer.name, "dtype": dtype}
    if layer.kind == "dense":
        return keras.layers.Dense(layer.filters, use_bias=layer.use_bias, **kw)
    if layer.kind in ("conv", "convt"):
        cls = keras.layers.Conv2D if layer.kind == "conv" else keras.layers.Conv2DTranspose
        return cls(layer.filters, layer.kernel, strides=layer.stride, padding=layer.padding,
                   use_bias=layer.use_bias, **kw)
    if layer.kind == "bn":
        # Keras' momentum is the fraction of the running statistic kept (torch's is 1 - that).
        return keras.layers.BatchNormalization(momentum=spec.bn_keep, epsilon=spec.bn_epsilon, **kw)
    if layer.kind == "lrelu":  # explicit: Keras 3's default negative_slope is 0.3, torch's 0.01
        return keras.layers.LeakyReLU(negative_slope=layer.slope, **kw)
    if layer.kind == "relu":
        return keras.layers.ReLU(**kw)
    if layer.kind == "tanh":
        return keras.layers.Activation("tanh", **kw)
    if layer.kind == "dropout":
        return keras.layers.Dropout(layer.rate, **kw)
    if layer.kind == "reshape":
        return keras.layers.Reshape(layer.out_shape, **kw)
    if layer.kind == "flatten":
        return keras.layers.Flatten(**kw)
    raise ValueError(f"unknown layer kind {layer.kind!r}")


def build_network(layers: list[Layer], spec: ModelSpec, name: str, precision: str = "fp32") -> keras.Model:
    policy = POLICIES[precision]
    return keras.Sequential(
        # The Input's dtype matters: a functional model casts its inputs to it (float32 by default).
        [keras.Input(shape=layers[0].in_shape, dtype="float64" if precision == "fp64" else "float32")]
        + [_keras_layer(ly, spec, policy) for ly in layers],
        name=name,
    )


def _bce_logits(logits: tf.Tensor, target: float, dtype=tf.float32) -> tf.Tensor:
    # tf.keras.losses.BinaryCrossentropy(from_logits=True): mean over the batch, in float32
    # (float64 in the fp64 checks).
    logits = tf.cast(logits, dtype)
    labels = tf.fill(tf.shape(logits), tf.constant(target, dtype))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


class TFGAN:
    framework = "tensorflow"

    def __init__(self, spec: ModelSpec, *, batch_size: int, precision: str = "fp32", dropout: bool = True,
                 seed: int = 0, device: str | None = None) -> None:
        if precision not in POLICIES:
            raise ValueError(f"unknown precision {precision!r}; valid choices: {', '.join(POLICIES)}")
        self.spec, self.batch_size, self.precision, self.device = spec, batch_size, precision, device
        self.dtype = tf.float64 if precision == "fp64" else tf.float32  # inputs, losses, weights out
        self.layers = networks(spec, dropout=dropout)
        self.generator = build_network(self.layers["generator"], spec, "generator", precision)
        self.discriminator = build_network(self.layers["discriminator"], spec, "discriminator", precision)
        self.networks = {"generator": self.generator, "discriminator": self.discriminator}
        self.g_opt = make_optimizer(spec, precision)
        self.d_opt = make_optimizer(spec, precision)
        # Build the optimizer slots now: variables must not be created inside tf.function's trace.
        self.g_opt.build(self.generator.trainable_variables)
        self.d_opt.build(self.discriminator.trainable_variables)
        set_weights(self, initial_weights(spec, seed))

    # -- data ---------------------------------------------------------------------------------
    def to_framework_batches(self, real: np.ndarray, noise: np.ndarray) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """(n, B, H, W, C) / (n, B, noise_dim) numpy -> one (real, noise) pair of tensors per batch."""
        with tf.device(tf_device(self.device)):
            return [(tf.constant(r, self.dtype), tf.constant(z, self.dtype))
                    for r, z in zip(real, noise, strict=True)]

    # -- the step -----------------------------------------------------------------------------
    def losses_and_gradients(self, real, noise):
        """The tutorial's forward pass and both gradients (unscaled), before any update."""
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(noise, training=True)
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            g_loss = _bce_logits(fake_logits, 1.0, self.dtype)
            d_loss = _bce_logits(real_logits, 1.0, self.dtype) + _bce_logits(fake_logits, 0.0, self.dtype)
            # Loss scaling (fp16 only; identity otherwise); LossScaleOptimizer unscales in apply.
            g_scaled = self.g_opt.scale_loss(g_loss)
            d_scaled = self.d_opt.scale_loss(d_loss)
        g_grads = g_tape.gradient(g_scaled, g_vars)
        d_grads = d_tape.gradient(d_scaled, d_vars)
        return g_loss, d_loss, g_grads, d_grads

    def train_step(self, real, noise) -> dict[str, tf.Tensor]:
        """One tutorial train step; returns the named losses {"g", "d"} as float32 scalar tensors."""
        g_loss, d_loss, g_grads, d_grads = self.losses_and_gradients(real, noise)
        self.g_opt.apply_gradients(zip(g_grads, self.generator.trainable_variables, strict=True))
        self.d_opt.apply_gradients(zip(d_grads, self.discriminator.trainable_variables, strict=True))
        return {"g": g_loss, "d": d_loss}


def build(spec: ModelSpec, *, batch_size: int, precision: str = "fp32", dropout: bool = True,
          seed: int = 0, device: str | None = None) -> TFGAN:
    """A GAN with weights from ``initial_weights(spec, seed)``. ``device`` only places the input
    batches; TensorFlow places the model itself (hide GPUs for a CPU cell)."""
    return TFGAN(spec, batch_size=batch_size, precision=precision, dropout=dropout, seed=seed, device=device)


# -- canonical weights ------------------------------------------------------------------------
def layer_param_counts(gan: TFGAN) -> dict[str, dict[str, tuple[int, int]]]:
    """Per network, per weight layer: (trainable, non-trainable) parameter counts as Keras sees them."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for net, model in gan.networks.items():
        out[net] = {}
        for ly in weight_layers(gan.layers[net]):
            k = model.get_layer(ly.name)
            out[net][ly.name] = (sum(int(np.prod(w.shape)) for w in k.trainable_weights),
                                sum(int(np.prod(w.shape)) for w in k.non_trainable_weights))
    return out


# -- for the equivalence checks (not used by the timed step) ---------------------------------
def forward(gan: TFGAN, real, noise, training: bool = True) -> dict[str, np.ndarray]:
    """Generator and discriminator outputs as numpy: fake images NHWC, logits (B,)."""
    dt = np_dtype(gan.precision)
    fake = gan.generator(noise, training=training)
    return {"fake": np.asarray(fake, dt),
            "real_logits": np.asarray(gan.discriminator(real, training=training), dt).reshape(-1),
            "fake_logits": np.asarray(gan.discriminator(fake, training=training), dt).reshape(-1)}


def gradients(gan: TFGAN, real, noise) -> tuple[float, float, Weights]:
    """(g_loss, d_loss, canonical gradients of the trainable parameters) of one step, no update."""
    g_loss, d_loss, g_grads, d_grads = gan.losses_and_gradients(real, noise)
    out: Weights = {}
    for net, model, grads in (("generator", gan.generator, g_grads),
                              ("discriminator", gan.discriminator, d_grads)):
        by_var = {id(v): np.asarray(g, np_dtype(gan.precision))
                  for v, g in zip(model.trainable_variables, grads, strict=True)}
        if gan.precision == "fp16":  # losses_and_gradients returns scaled gradients
            scale = float(np.asarray((gan.g_opt if net == "generator" else gan.d_opt).scale_loss(1.0)))
            by_var = {k: g / scale for k, g in by_var.items()}
        out[net] = {f"{ly.name}.{p}": by_var[id(v)]
                    for ly in weight_layers(gan.layers[net]) for p, v in chain_variables(model, ly).items()
                    if v.trainable}
    return float(g_loss), float(d_loss), out


# -- the generate scenario (models.generate) -------------------------------------------------
def generate_module(gan: TFGAN) -> keras.Model:
    """The generator; the harness calls it with ``training=False`` (BatchNorm on its running
    statistics, dropout off)."""
    return gan.generator
