"""The DDPM U-Net in TensorFlow / Keras 3. Imports TensorFlow and Keras only (never torch).

``build(spec, ...)`` returns a :class:`TFDDPM`; ``model.train_step(images, t, eps)`` noises the images
at t with ε (constants from ``models.ddpm.schedule``), predicts ε with a functional Keras U-Net built
by walking ``models.ddpm.arch.program`` and takes one AdamW step on the MSE, as a plain Python
function the harness runs eagerly or wraps in ``tf.function`` (``jit_compile=True`` for XLA).
Attention is ``keras.ops.dot_product_attention``. Every Keras setting that differs from torch's
default is listed in models/ddpm/CONTRACT.md.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ..common.tf_common import POLICIES, loss_scaled, np_dtype, tf_device
from . import arch
from .schedule import embedding_frequencies, noising_tables
from .spec import DDPMSpec
from .weights import NET, Weights, check_canonical, initial_weights


class TimestepEmbedding(keras.layers.Layer):
    """[sin(t·f), cos(t·f)] (Ho et al.'s order). Kept in float32 (float64 in the checks) under a mixed
    policy: sin/cos of t·f up to 999 would be meaningless in bfloat16."""

    def __init__(self, frequencies: np.ndarray, **kw: Any) -> None:
        super().__init__(**kw)
        self.frequencies = np.asarray(frequencies, np.float64)

    def call(self, t):
        f = ops.convert_to_tensor(self.frequencies, self.compute_dtype)
        args = ops.cast(t, self.compute_dtype)[:, None] * f[None, :]
        return ops.concatenate([ops.sin(args), ops.cos(args)], axis=-1)


class DotProductAttention(keras.layers.Layer):
    """Single-head attention over the H·W positions of NHWC q, k, v (no weights)."""

    def __init__(self, scale: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.scale = scale

    def call(self, q, k, v):
        _, h, w, c = q.shape
        # NHWC -> (B, H·W tokens, 1 head, C): keras.ops' (batch, seq, heads, dim) layout; tokens in
        # (h, w) row-major order, as torch's NCHW view(B, C, H·W).transpose(1, 2).
        q, k, v = (ops.reshape(x, (-1, h * w, 1, c)) for x in (q, k, v))
        return ops.reshape(ops.dot_product_attention(q, k, v, scale=self.scale), (-1, h, w, c))


class _Builder:
    """Keras layers for the canonical weight layers (named as in ``arch``), in one dtype policy."""

    def __init__(self, spec: DDPMSpec, policy: str) -> None:
        self.spec, self.policy = spec, policy

    def __call__(self, layer: arch.Layer) -> keras.layers.Layer:
        kw = {"name": layer.name, "dtype": self.policy}
        if layer.kind == "conv":  # stride-2 'same' on an even size pads (0, 1): TF's convention
            return keras.layers.Conv2D(layer.cout, layer.kernel, strides=layer.stride, padding="same", **kw)
        if layer.kind in ("dense", "nin"):  # nin: a Dense over the channels of every position
            return keras.layers.Dense(layer.cout, **kw)
        # Explicit epsilon: Keras' default is 1e-3.
        return keras.layers.GroupNormalization(groups=layer.groups, epsilon=self.spec.gn_epsilon, **kw)

    def silu(self, x):
        return keras.layers.Activation("silu", dtype=self.policy)(x)

    def res(self, blk: arch.ResBlock, x, temb):
        ly = blk.layers
        h = self(ly["conv1"])(self.silu(self(ly["norm1"])(x)))
        e = self(ly["temb"])(self.silu(temb))
        h = h + ops.expand_dims(ops.expand_dims(e, 1), 1)
        h = self(ly["conv2"])(self.silu(self(ly["norm2"])(h)))
        if blk.shortcut is not None:
            x = self(blk.shortcut)(x)
        return x + h

    def attn(self, blk: arch.AttnBlock, x):
        ly = blk.layers
        h = self(ly["norm"])(x)
        q, k, v = (self(ly[s])(h) for s in ("q", "k", "v"))
        o = DotProductAttention(blk.channels ** -0.5, name=f"{blk.name}_sdpa", dtype=self.policy)(q, k, v)
        return x + self(ly["proj_out"])(o)


def build_unet(spec: DDPMSpec, precision: str = "fp32") -> keras.Model:
    net = arch.unet(spec)
    b = _Builder(spec, POLICIES[precision])
    float_dtype = "float64" if precision == "fp64" else "float32"
    # The Input dtype matters: a functional model casts its inputs to it.
    x = keras.Input(shape=spec.image_shape, dtype=float_dtype, name="x_t")
    t = keras.Input(shape=(), dtype="int32", name="t")
    emb = TimestepEmbedding(embedding_frequencies(spec), name="temb_sinusoid", dtype=float_dtype)(t)
    temb = b(net.temb[1])(b.silu(b(net.temb[0])(emb)))
    blocks = {blk.name: blk for blk in net.blocks()}
    resample = {ly.block: ly for lvl in (*net.down, *net.up) if (ly := lvl.resample) is not None}
    hs, h = [], x
    for op, name in arch.program(net):
        if op == "conv_in":
            h = b(net.conv_in)(x)
        elif op == "push":
            hs.append(h)
        elif op == "concat":
            h = keras.layers.Concatenate(axis=-1, dtype=b.policy)([h, hs.pop()])  # [h, skip]
        elif op == "res":
            h = b.res(blocks[name], h, temb)
        elif op == "attn":
            h = b.attn(blocks[name], h)
        elif op == "down":
            h = b(resample[name])(h)
        elif op == "up":
            h = keras.layers.UpSampling2D(2, interpolation="nearest", dtype=b.policy)(h)
            h = b(resample[name])(h)
        else:  # out
            h = b(net.conv_out)(b.silu(b(net.norm_out)(h)))
    return keras.Model([x, t], h, name="unet")


def make_optimizer(spec: DDPMSpec, precision: str = "fp32") -> keras.optimizers.Optimizer:
    # Explicit: Keras AdamW's defaults are weight_decay=0.004 and epsilon=1e-7 ("epsilon hat").
    opt = keras.optimizers.AdamW(learning_rate=spec.learning_rate, weight_decay=spec.weight_decay,
                                 beta_1=spec.adam_beta1, beta_2=spec.adam_beta2, epsilon=spec.adam_epsilon)
    return loss_scaled(opt, precision)


class TFDDPM:
    framework = "tensorflow"

    def __init__(self, spec: DDPMSpec, *, batch_size: int, precision: str = "fp32", seed: int = 0,
                 device: str | None = None) -> None:
        if precision not in POLICIES:
            raise ValueError(f"unknown precision {precision!r}; valid choices: {', '.join(POLICIES)}")
        self.spec, self.batch_size, self.precision, self.device = spec, batch_size, precision, device
        self.dtype = tf.float64 if precision == "fp64" else tf.float32  # inputs, loss, weights out
        self.unet = build_unet(spec, precision)
        a, b = noising_tables(spec)
        self.sqrt_ab = tf.constant(a, self.dtype)
        self.sqrt_1mab = tf.constant(b, self.dtype)
        self.opt = make_optimizer(spec, precision)
        # Build the optimizer slots now: variables must not be created inside tf.function's trace.
        self.opt.build(self.unet.trainable_variables)
        set_weights(self, initial_weights(spec, seed))
        # Recorded in the cell's flags by the harness (bench/frameworks/base.py reads model.flags).
        self.flags: dict[str, Any] = {
            "attention_op": "keras.ops.dot_product_attention",
            "sdpa_kernel": "none: einsum, softmax, einsum (Keras' TensorFlow backend has no fused attention)",
        }

    # -- data ---------------------------------------------------------------------------------
    def to_framework_batches(self, images: np.ndarray, t: np.ndarray, eps: np.ndarray) -> list[tuple]:
        """(n, B, H, W, C) / (n, B) / (n, B, H, W, C) numpy -> one (x0, t int32, ε) per batch."""
        with tf.device(tf_device(self.device)):
            return [(tf.constant(x, self.dtype), tf.constant(s, tf.int32), tf.constant(e, self.dtype))
                    for x, s, e in zip(images, t, eps, strict=True)]

    # -- the step -----------------------------------------------------------------------------
    def noised(self, x0, t, eps):
        a = tf.reshape(tf.gather(self.sqrt_ab, t), (-1, 1, 1, 1))
        b = tf.reshape(tf.gather(self.sqrt_1mab, t), (-1, 1, 1, 1))
        return a * x0 + b * eps

    def losses_and_gradients(self, x0, t, eps):
        """The loss and its gradients (scaled by the loss scale in fp16), before any update."""
        variables = self.unet.trainable_variables
        with tf.GradientTape() as tape:
            pred = self.unet([self.noised(x0, t, eps), t], training=True)
            # Mean over every element, in float32 (float64 in the checks).
            loss = tf.reduce_mean(tf.square(eps - tf.cast(pred, self.dtype)))
            scaled = self.opt.scale_loss(loss)  # identity unless fp16
        return loss, tape.gradient(scaled, variables)

    def train_step(self, x0, t, eps) -> dict[str, tf.Tensor]:
        """One step; returns the named losses {"mse": float32 scalar tensor}."""
        loss, grads = self.losses_and_gradients(x0, t, eps)
        self.opt.apply_gradients(zip(grads, self.unet.trainable_variables, strict=True))
        return {"mse": loss}


def build(spec: DDPMSpec, *, batch_size: int, precision: str = "fp32", seed: int = 0,
          device: str | None = None) -> TFDDPM:
    """A DDPM with weights from ``initial_weights(spec, seed)``. ``device`` only places the input
    batches; TensorFlow places the model itself (hide GPUs for a CPU cell)."""
    return TFDDPM(spec, batch_size=batch_size, precision=precision, seed=seed, device=device)


# -- canonical weights ------------------------------------------------------------------------
def _variables(model: TFDDPM, layer: arch.Layer) -> dict[str, keras.Variable]:
    k = model.unet.get_layer(layer.name)
    if layer.kind == "gn":
        return {"gamma": k.gamma, "beta": k.beta}
    return {"kernel": k.kernel, "bias": k.bias}


def get_weights(model: TFDDPM) -> Weights:
    dt = np_dtype(model.precision)
    return {NET: {f"{ly.name}.{p}": np.array(v.numpy(), dtype=dt)
                  for ly in arch.unet(model.spec).layers() for p, v in _variables(model, ly).items()}}


def set_weights(model: TFDDPM, weights: Weights) -> None:
    check_canonical(model.spec, weights[NET])
    for ly in arch.unet(model.spec).layers():
        for p, v in _variables(model, ly).items():
            v.assign(np.asarray(weights[NET][f"{ly.name}.{p}"], dtype=np_dtype(model.precision)))


def layer_param_counts(model: TFDDPM) -> dict[str, int]:
    """Parameters per canonical weight layer, as Keras sees them."""
    return {ly.name: sum(int(np.prod(w.shape)) for w in model.unet.get_layer(ly.name).weights)
            for ly in arch.unet(model.spec).layers()}


# -- for the equivalence checks (not used by the timed step) ---------------------------------
def forward(model: TFDDPM, x0, t, eps) -> np.ndarray:
    """The ε prediction on x_t as numpy NHWC (the model's dtype)."""
    return np.asarray(model.unet([model.noised(x0, t, eps), t], training=True), np_dtype(model.precision))


def gradients(model: TFDDPM, x0, t, eps) -> tuple[float, Weights]:
    """(loss, canonical gradients) of one step, no update."""
    loss, grads = model.losses_and_gradients(x0, t, eps)
    scale = float(np.asarray(model.opt.scale_loss(1.0))) if model.precision == "fp16" else 1.0
    by_var = {id(v): np.asarray(g, np_dtype(model.precision)) / scale
              for v, g in zip(model.unet.trainable_variables, grads, strict=True)}
    return float(loss), {NET: {f"{ly.name}.{p}": by_var[id(v)] for ly in arch.unet(model.spec).layers()
                               for p, v in _variables(model, ly).items()}}


# -- the generate scenario (models.generate) -------------------------------------------------
class AncestralUpdate(keras.layers.Layer):
    """The update of Ho et al.'s Algorithm 2: x ← c1·(x − c2·ε) + σ·z, [c1, c2, σ] per image."""

    def call(self, x, eps, z, c):
        c1, c2, sigma = (keras.ops.reshape(c[:, i], (-1, 1, 1, 1)) for i in range(3))
        return c1 * (x - c2 * eps) + sigma * z


def generate_module(model: TFDDPM) -> keras.Model:
    """One denoising step as a functional model (x_t, t, z, coefs) -> x_{t-1}: the U-Net and the update."""
    dt = "float64" if model.precision == "fp64" else "float32"
    shape = model.spec.image_shape
    x = keras.Input(shape=shape, dtype=dt, name="x")
    t = keras.Input(shape=(), dtype="int32", name="t")
    z = keras.Input(shape=shape, dtype=dt, name="z")
    c = keras.Input(shape=(3,), dtype=dt, name="coefs")
    eps = keras.ops.cast(model.unet([x, t]), dt)
    out = AncestralUpdate(name="ancestral_update", dtype=dt)(x, eps, z, c)
    return keras.Model([x, t, z, c], out, name="denoising_step")
