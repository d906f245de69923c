"""The VAE's encoder and decoder as framework-free lists of layers: the one architecture.

``tf_vae`` and ``torch_vae`` build their layers from these lists, ``weights`` draws and re-lays-out the
parameters from them and ``flops`` counts their work, so the frameworks cannot drift apart on shapes,
padding or parameter names (the same design as models/gan/arch.py, kept separate so that each family's
contract stands on its own).

Shapes are per example and channels-last (the canonical layout, models/vae/CONTRACT.md). Padding is
TensorFlow's, ``"same"`` or ``"valid"``; ``pads`` is its explicit meaning in pixels ``(before, after)``,
the same for height and width (square kernels and images): zero pads added to a convolution's input, or
rows/columns cropped from a transposed convolution's full ``(in - 1) * stride + kernel`` output.
TensorFlow puts the odd pixel *after* (bottom/right), which torch's symmetric ``padding=`` cannot say:
a 3×3 stride-2 'same' convolution of 28 pixels pads (0, 1), not (1, 1).

The encoder ends in two Dense *heads* on the same 16 features (``HEADS``: z_mean, z_log_var), which
the implementations build as two layers side by side after the sequential trunk.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import VAESpec

WEIGHT_KINDS = ("dense", "conv", "convt")
PARAMS = ("kernel", "bias")  # every weight layer keeps Keras' default use_bias=True, as the example
HEADS = ("z_mean", "z_log_var")


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str  # dense | conv | convt | relu | flatten | reshape
    in_shape: tuple[int, ...]  # per example, channels last
    out_shape: tuple[int, ...]
    filters: int = 0  # dense: units; conv/convt: output channels
    kernel: int = 0
    stride: int = 1
    padding: str = "valid"  # TF padding of conv/convt
    pads: tuple[int, int] = (0, 0)  # explicit meaning of `padding` (see module docstring)
    # A Dense whose input comes from Flatten of this image / whose output is reshaped to it: canonical
    # feature order is (h, w, c) (Keras' Flatten/Reshape), torch's is (c, h, w).
    in_hwc: tuple[int, int, int] | None = None
    out_hwc: tuple[int, int, int] | None = None

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical (Keras-layout) shapes of this layer's parameters, in canonical order."""
        if self.kind == "dense":
            kernel: tuple[int, ...] = (self.in_shape[-1], self.filters)
        elif self.kind == "conv":
            kernel = (self.kernel, self.kernel, self.in_shape[-1], self.filters)
        elif self.kind == "convt":  # Keras stores transposed kernels as (kh, kw, out, in)
            kernel = (self.kernel, self.kernel, self.filters, self.in_shape[-1])
        else:
            return {}
        return {"kernel": kernel, "bias": (self.filters,)}

    def param_count(self) -> int:
        return sum(_prod(s) for s in self.param_shapes().values())


def _prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding of a convolution over ``size`` pixels: (before, after), odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _Builder:
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.layers: list[Layer] = []

    def add(self, name: str, kind: str, out_shape: tuple[int, ...] | None = None, **kw) -> None:
        out = self.shape if out_shape is None else out_shape
        self.layers.append(Layer(name=name, kind=kind, in_shape=self.shape, out_shape=out, **kw))
        self.shape = out

    def dense(self, name: str, units: int, **kw) -> None:
        self.add(name, "dense", (units,), filters=units, **kw)

    def conv(self, name: str, filters: int, k: int, s: int) -> None:  # 'same'
        pads = same_pads(self.shape[0], k, s)
        out = (self.shape[0] + sum(pads) - k) // s + 1
        self.add(name, "conv", (out, out, filters), filters=filters, kernel=k, stride=s,
                 padding="same", pads=pads)

    def convt(self, name: str, filters: int, k: int, s: int) -> None:  # 'same'
        h = self.shape[0]
        out = h * s  # the adjoint of a 'SAME' convolution from h * s pixels down to h
        crops = same_pads(out, k, s)
        assert (h - 1) * s + k - sum(crops) == out
        self.add(name, "convt", (out, out, filters), filters=filters, kernel=k, stride=s,
                 padding="same", pads=crops)


def encoder_layers(spec: VAESpec) -> list[Layer]:
    """Conv 32 k3 s2 → ReLU → Conv 64 k3 s2 → ReLU → Flatten → Dense 16 → ReLU, then the two heads."""
    b = _Builder(spec.image_shape)
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
    b = _Builder((spec.latent_dim,))
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


def weight_layers(layers: list[Layer]) -> list[Layer]:
    return [ly for ly in layers if ly.kind in WEIGHT_KINDS]


def param_count(spec: VAESpec) -> int:
    """Trainable parameters of the whole VAE (the Keras example's summary: 69,076 + 65,089)."""
    return sum(ly.param_count() for layers in networks(spec).values() for ly in layers)
