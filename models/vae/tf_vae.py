"""The VAE in TensorFlow / Keras 3, written as the Keras example writes it. Imports TF and Keras only.

``build(spec, ...)`` returns a :class:`TFVAE`: a functional encoder (images → [z_mean, z_log_var]) and
a sequential decoder (z → logits), with the ReLUs as the layers' ``activation="relu"``, one Adam over
both. ``vae.train_step(images, eps)`` is the example's ``train_step`` (one tape, one update) with the
reparameterisation noise ε given as an input and the reconstruction term taken from logits; the harness
runs it eagerly or wraps it in ``tf.function`` (``jit_compile=True`` for XLA). Every Keras setting
that differs from torch's default is listed in models/vae/CONTRACT.md.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from ..common.tf_common import POLICIES, chain_variables, get_weights, np_dtype, set_weights, tf_device
from ..common.tf_common import make_adam as make_optimizer
from ..common.weights import Weights
from .arch import Layer, heads, networks, trunk, weight_layers
from .spec import VAESpec
from .weights import initial_weights

# get_weights/set_weights (canonical weights by Keras layer name) are models.common.tf_common's.
__all__ = ["TFVAE", "build", "forward", "get_weights", "gradients", "layer_param_counts", "make_optimizer",
           "set_weights"]


def _keras_layers(layers: list[Layer], policy: str) -> list[keras.layers.Layer]:
    """Keras layers for a chain; a ReLU right after a weight layer becomes its ``activation``."""
    out: list[keras.layers.Layer] = []
    for i, ly in enumerate(layers):
        kw = {"name": ly.name, "dtype": policy}
        if ly.kind == "relu":
            if i > 0 and layers[i - 1].kind in ("dense", "conv", "convt"):
                continue  # folded into the previous layer
            out.append(keras.layers.ReLU(**kw))
            continue
        nxt = layers[i + 1].kind if i + 1 < len(layers) else None
        act = "relu" if nxt == "relu" else None
        if ly.kind == "dense":
            out.append(keras.layers.Dense(ly.filters, activation=act, **kw))
        elif ly.kind in ("conv", "convt"):
            cls = keras.layers.Conv2D if ly.kind == "conv" else keras.layers.Conv2DTranspose
            out.append(cls(ly.filters, ly.kernel, strides=ly.stride, padding=ly.padding, activation=act,
                           **kw))
        elif ly.kind == "flatten":
            out.append(keras.layers.Flatten(**kw))
        elif ly.kind == "reshape":
            out.append(keras.layers.Reshape(ly.out_shape, **kw))
        else:
            raise ValueError(f"unknown layer kind {ly.kind!r}")
    return out


def _input(layers: list[Layer], precision: str) -> keras.KerasTensor:
    # A functional model casts its inputs to the Input's dtype (float32 by default).
    return keras.Input(shape=layers[0].in_shape, dtype="float64" if precision == "fp64" else "float32")


def build_encoder(layers: list[Layer], precision: str = "fp32") -> keras.Model:
    policy = POLICIES[precision]
    inputs = _input(layers, precision)
    x = inputs
    for k in _keras_layers(trunk(layers), policy):
        x = k(x)
    outputs = [keras.layers.Dense(ly.filters, name=ly.name, dtype=policy)(x) for ly in heads(layers)]
    return keras.Model(inputs, outputs, name="encoder")


def build_decoder(layers: list[Layer], precision: str = "fp32") -> keras.Model:
    return keras.Sequential([_input(layers, precision), *_keras_layers(layers, POLICIES[precision])],
                            name="decoder")


class TFVAE:
    framework = "tensorflow"

    def __init__(self, spec: VAESpec, *, batch_size: int, precision: str = "fp32", seed: int = 0,
                 device: str | None = None) -> None:
        if precision not in POLICIES:
            raise ValueError(f"unknown precision {precision!r}; valid choices: {', '.join(POLICIES)}")
        self.spec, self.batch_size, self.precision, self.device = spec, batch_size, precision, device
        self.dtype = tf.float64 if precision == "fp64" else tf.float32  # inputs, latents, losses
        self.layers = networks(spec)
        self.encoder = build_encoder(self.layers["encoder"], precision)
        self.decoder = build_decoder(self.layers["decoder"], precision)
        self.networks = {"encoder": self.encoder, "decoder": self.decoder}
        self.variables = [*self.encoder.trainable_variables, *self.decoder.trainable_variables]
        self.optimizer = make_optimizer(spec, precision)
        # Build the optimizer slots now: variables must not be created inside tf.function's trace.
        self.optimizer.build(self.variables)
        set_weights(self, initial_weights(spec, seed))

    def to_framework_batches(self, images: np.ndarray, eps: np.ndarray) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """(n, B, H, W, C) / (n, B, latent_dim) numpy -> one (images, eps) pair of tensors per batch."""
        with tf.device(tf_device(self.device)):
            return [(tf.constant(x, self.dtype), tf.constant(e, self.dtype))
                    for x, e in zip(images, eps, strict=True)]

    def forward(self, images, eps) -> dict[str, tf.Tensor]:
        """Encoder, reparameterisation, decoder and the example's losses (latents and losses in
        float32 under a mixed policy: the heads' and decoder's low-precision outputs are cast)."""
        z_mean, z_log_var = (tf.cast(t, self.dtype) for t in self.encoder(images, training=True))
        z = z_mean + tf.exp(0.5 * z_log_var) * eps
        logits = tf.cast(self.decoder(z, training=True), self.dtype)
        # Per image: the sum over pixels of BCE from logits; then the batch mean.
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits)
        reconstruction = tf.reduce_mean(tf.reduce_sum(bce, axis=(1, 2, 3)))
        kl_terms = -0.5 * (1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
        kl = tf.reduce_mean(tf.reduce_sum(kl_terms, axis=1))
        return {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl,
                "z_mean": z_mean, "z_log_var": z_log_var, "z": z, "logits": logits}

    def losses_and_gradients(self, images, eps):
        """The named losses and the (loss-scaled under fp16) gradients, before any update."""
        with tf.GradientTape() as tape:
            out = self.forward(images, eps)
            scaled = self.optimizer.scale_loss(out["loss"])  # identity unless fp16
        grads = tape.gradient(scaled, self.variables)
        return {k: out[k] for k in ("loss", "reconstruction", "kl")}, grads

    def train_step(self, images, eps) -> dict[str, tf.Tensor]:
        """One step of the example; returns {"loss", "reconstruction", "kl"} as float32 scalar tensors."""
        losses, grads = self.losses_and_gradients(images, eps)
        self.optimizer.apply_gradients(zip(grads, self.variables, strict=True))
        return losses


def build(spec: VAESpec, *, batch_size: int, precision: str = "fp32", seed: int = 0,
          device: str | None = None) -> TFVAE:
    """A VAE with weights from ``initial_weights(spec, seed)``. ``device`` only places the input
    batches; TensorFlow places the model itself (hide GPUs for a CPU cell)."""
    return TFVAE(spec, batch_size=batch_size, precision=precision, seed=seed, device=device)


# -- canonical weights ------------------------------------------------------------------------
def layer_param_counts(vae: TFVAE) -> dict[str, dict[str, int]]:
    """Per network, per weight layer: trainable parameters as Keras counts them (none is non-trainable)."""
    out: dict[str, dict[str, int]] = {}
    for net, model in vae.networks.items():
        assert not model.non_trainable_weights, f"{net} has non-trainable weights"
        out[net] = {ly.name: sum(int(np.prod(w.shape)) for w in model.get_layer(ly.name).trainable_weights)
                    for ly in weight_layers(vae.layers[net])}
    return out


# -- for the equivalence checks (not used by the timed step) ---------------------------------
def forward(vae: TFVAE, images, eps) -> dict[str, np.ndarray]:
    """z_mean, z_log_var, z (B, latent) and the decoder's logits (B, H, W, C) as numpy."""
    out = vae.forward(images, eps)
    return {k: np.asarray(out[k], np_dtype(vae.precision)) for k in ("z_mean", "z_log_var", "z", "logits")}


def gradients(vae: TFVAE, images, eps) -> tuple[dict[str, float], Weights]:
    """({loss name: value}, canonical gradients of every parameter) of one step, no update."""
    losses, grads = vae.losses_and_gradients(images, eps)
    scale = float(np.asarray(vae.optimizer.scale_loss(1.0))) if vae.precision == "fp16" else 1.0
    dt = np_dtype(vae.precision)
    by_var = {id(v): np.asarray(g, dt) / scale for v, g in zip(vae.variables, grads, strict=True)}
    out: Weights = {net: {f"{ly.name}.{p}": by_var[id(v)] for ly in weight_layers(vae.layers[net])
                          for p, v in chain_variables(model, ly).items()}
                    for net, model in vae.networks.items()}
    return {k: float(v) for k, v in losses.items()}, out


# -- the generate scenario (models.generate) -------------------------------------------------
def generate_module(vae: TFVAE) -> keras.Model:
    """The decoder and a sigmoid (it outputs logits): latent -> images in [0, 1], NHWC."""
    z = _input(vae.layers["decoder"], vae.precision)
    images = keras.layers.Activation("sigmoid", name="sigmoid", dtype=POLICIES[vae.precision])(vae.decoder(z))
    return keras.Model(z, images, name="generate")
