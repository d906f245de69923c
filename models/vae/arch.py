"""The VAE's encoder and decoder as framework-free chains of layers: the one architecture.

``tf_vae`` and ``torch_vae`` build their layers from these lists, ``weights`` draws the parameters from
them and ``flops`` counts their work, so the frameworks cannot drift apart on shapes, padding or
parameter names. The layer, its TF padding in explicit pixels and the builder are
``models.common.chain``'s (shared with the GANs); shapes are per example and channels-last, the
canonical layout of models/vae/CONTRACT.md. TensorFlow puts the odd pixel of 'same' padding *after*
(bottom/right), which torch's symmetric ``padding=`` cannot say: a 3×3 stride-2 'same' convolution of
28 pixels pads (0, 1), not (1, 1).

The encoder ends in two Dense *heads* on the same 16 features (``HEADS``: z_mean, z_log_var), which
the implementations build as two layers side by side after the sequential trunk.
"""

from __future__ import annotations

from ..common.chain import ChainBuilder, Layer, weight_layers
from .spec import VAESpec

__all__ = ["HEADS", "Layer", "decoder_layers", "encoder_layers", "heads", "networks", "param_count", "trunk",
           "weight_layers"]

HEADS = ("z_mean", "z_log_var")  # every weight layer keeps Keras' default use_bias=True, as the example


def encoder_layers(spec: VAESpec) -> list[Layer]:
    """Conv 32 k3 s2 → ReLU → Conv 64 k3 s2 → ReLU → Flatten → Dense 16 → ReLU, then the two heads."""
    b = ChainBuilder(spec.image_shape)
    b.conv("conv0", 32, 3, 2)
    b.add("relu0", "relu")
    b.conv("conv1", 64, 3, 2)
    b.add("relu1", "relu")
    hwc = b.shape
    b.add("flatten", "flatten", (hwc[0] * hwc[1] * hwc[2],))
    b.dense("dense", spec.hidden, in_hwc=hwc)
    b.add("relu2", "relu")
    features = b.shape
    for head in HEADS:  # both read the same features: not a chain
        b.shape = features
        b.dense(head, spec.latent_dim)
    return b.layers


def decoder_layers(spec: VAESpec) -> list[Layer]:
    """Dense 7·7·64 → ReLU → Reshape → ConvT 64 k3 s2 → ReLU → ConvT 32 k3 s2 → ReLU → ConvT 1 k3 (logits)."""
    h, w, c = spec.image_shape
    hwc = (h // 4, w // 4, 64)
    b = ChainBuilder((spec.latent_dim,))
    b.dense("dense", hwc[0] * hwc[1] * hwc[2], out_hwc=hwc)
    b.add("relu0", "relu")
    b.add("reshape", "reshape", hwc)
    b.convt("convt0", 64, 3, 2)
    b.add("relu1", "relu")
    b.convt("convt1", 32, 3, 2)
    b.add("relu2", "relu")
    b.convt("convt2", c, 3, 1)  # logits: the example's sigmoid lives in the loss (from_logits)
    assert b.shape == spec.image_shape, (b.shape, spec.image_shape)
    return b.layers


def networks(spec: VAESpec) -> dict[str, list[Layer]]:
    return {"encoder": encoder_layers(spec), "decoder": decoder_layers(spec)}


def trunk(layers: list[Layer]) -> list[Layer]:
    """The sequential part of a network (the encoder without its heads; the whole decoder)."""
    return [ly for ly in layers if ly.name not in HEADS]


def heads(layers: list[Layer]) -> list[Layer]:
    return [ly for ly in layers if ly.name in HEADS]


def param_count(spec: VAESpec) -> int:
    """Trainable parameters of the whole VAE (the Keras example's summary: 69,076 + 65,089)."""
    return sum(ly.param_count() for layers in networks(spec).values() for ly in layers)
