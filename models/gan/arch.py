"""The two networks of each model as a framework-free chain of layers: the one architecture.

``tf_dcgan`` and ``torch_dcgan`` (in ``models.gan``) build their layers from these lists, ``weights``
draws and re-lays-out the parameters from them and ``flops`` counts their work, so the frameworks
cannot drift apart on shapes, padding or parameter names. The layer, its TF padding in explicit pixels
and the builder are ``models.common.chain``'s; shapes are per example and channels-last, the canonical
layout of models/gan/CONTRACT.md.
"""

from __future__ import annotations

from ..common.chain import PARAMS, TRAINABLE, ChainBuilder, Layer, weight_layers
from .spec import ModelSpec

__all__ = ["PARAMS", "TRAINABLE", "Layer", "discriminator_layers", "generator_layers", "networks",
           "weight_layers"]


def generator_layers(spec: ModelSpec) -> list[Layer]:
    b = ChainBuilder((spec.noise_dim,))
    if spec.name == "dcgan-mnist":
        # TensorFlow DCGAN tutorial: no biases in the generator, LeakyReLU with Keras' default slope.
        hwc = (7, 7, 256)
        b.dense("dense", 7 * 7 * 256, use_bias=False, out_hwc=hwc)
        # BatchNorm over the 12,544 dense features (before the Reshape), not over 256 channels.
        b.add("bn0", "bn", out_hwc=hwc)
        b.add("lrelu0", "lrelu", slope=spec.leaky_relu_slope)
        b.add("reshape", "reshape", hwc)
        for i, (f, s) in enumerate([(128, 1), (64, 2)], start=1):
            b.convt(f"convt{i}", f, 5, s, "same", use_bias=False)
            b.add(f"bn{i}", "bn")
            b.add(f"lrelu{i}", "lrelu", slope=spec.leaky_relu_slope)
        b.convt("convt3", spec.image_shape[2], 5, 2, "same", use_bias=False)
        b.add("tanh", "tanh")
    elif spec.name == "dcgan-64":
        # pytorch/examples dcgan/main.py Generator (ngf = 64): 1 -> 4 -> 8 -> 16 -> 32 -> 64 pixels.
        ngf = spec.features
        b.add("reshape", "reshape", (1, 1, spec.noise_dim))
        b.convt("convt0", ngf * 8, 4, 1, "valid", use_bias=False)
        b.add("bn0", "bn")
        b.add("relu0", "relu")
        for i, mult in enumerate([4, 2, 1], start=1):
            b.convt(f"convt{i}", ngf * mult, 4, 2, "same", use_bias=False)
            b.add(f"bn{i}", "bn")
            b.add(f"relu{i}", "relu")
        b.convt("convt4", spec.image_shape[2], 4, 2, "same", use_bias=False)
        b.add("tanh", "tanh")
    else:
        raise ValueError(f"no architecture for model {spec.name!r}")
    assert b.shape == spec.image_shape, (b.shape, spec.image_shape)
    return b.layers


def discriminator_layers(spec: ModelSpec, dropout: bool = True) -> list[Layer]:
    """``dropout=False`` leaves the Dropout layers out (used by the equivalence checks)."""
    b = ChainBuilder(spec.image_shape)
    if spec.name == "dcgan-mnist":
        for i, f in enumerate([64, 128]):
            b.conv(f"conv{i}", f, 5, 2, "same", use_bias=True)  # Keras default use_bias=True
            b.add(f"lrelu{i}", "lrelu", slope=spec.leaky_relu_slope)
            if dropout and spec.dropout_rate > 0:
                b.add(f"dropout{i}", "dropout", rate=spec.dropout_rate)
        hwc = b.shape
        b.add("flatten", "flatten", (hwc[0] * hwc[1] * hwc[2],))
        b.dense("dense", 1, use_bias=True, in_hwc=hwc)
    elif spec.name == "dcgan-64":
        # pytorch/examples Discriminator (ndf = 64), final Sigmoid dropped: it outputs logits.
        ndf = spec.features
        b.conv("conv0", ndf, 4, 2, "same", use_bias=False)
        b.add("lrelu0", "lrelu", slope=spec.leaky_relu_slope)
        for i, mult in enumerate([2, 4, 8], start=1):
            b.conv(f"conv{i}", ndf * mult, 4, 2, "same", use_bias=False)
            b.add(f"bn{i}", "bn")
            b.add(f"lrelu{i}", "lrelu", slope=spec.leaky_relu_slope)
        b.conv("conv4", 1, 4, 1, "valid", use_bias=False)
        b.add("flatten", "flatten", (1,))
    else:
        raise ValueError(f"no architecture for model {spec.name!r}")
    assert b.shape == (1,), b.shape
    return b.layers


def networks(spec: ModelSpec, dropout: bool = True) -> dict[str, list[Layer]]:
    return {"generator": generator_layers(spec), "discriminator": discriminator_layers(spec, dropout)}

