"""A network as a framework-free chain of layers, the one architecture both frameworks build.

A family's ``arch`` lists its networks as ``Layer`` chains made with ``ChainBuilder``; its
``tf_*``/``torch_*`` modules build the layers from them, its ``weights`` draws and re-lays-out the
parameters and its ``flops`` counts their work, so the frameworks cannot drift apart on shapes, padding
or parameter names.

Shapes are per example and channels-last (NHWC minus the batch), the canonical layout. Padding is
TensorFlow's: ``"same"`` or ``"valid"``; ``pads`` is what that means in explicit pixels ``(before,
after)``, the same for height and width because all kernels and images are square. For a convolution
these are zero pads added to the input; for a transposed convolution they are the rows/columns cropped
from the full ``(in - 1) * stride + kernel`` output. TensorFlow puts the odd pixel *after*
(bottom/right), which a symmetric torch ``padding=`` cannot express.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Parameter names per weight-layer kind, in canonical order; TRAINABLE[kind] are the trainable ones.
PARAMS: dict[str, tuple[str, ...]] = {
    "dense": ("kernel", "bias"),
    "conv": ("kernel", "bias"),
    "convt": ("kernel", "bias"),
    "bn": ("gamma", "beta", "moving_mean", "moving_variance"),
}
TRAINABLE: dict[str, tuple[str, ...]] = {
    "dense": ("kernel", "bias"),
    "conv": ("kernel", "bias"),
    "convt": ("kernel", "bias"),
    "bn": ("gamma", "beta"),
}


def prod(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding of a convolution over ``size`` pixels: (before, after), odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str  # dense | conv | convt | bn | lrelu | relu | tanh | dropout | reshape | flatten
    in_shape: tuple[int, ...]  # per example, channels last
    out_shape: tuple[int, ...]
    filters: int = 0  # dense: units; conv/convt: output channels
    kernel: int = 0
    stride: int = 1
    padding: str = "valid"  # TF padding of conv/convt
    pads: tuple[int, int] = (0, 0)  # explicit meaning of `padding` (see module docstring)
    use_bias: bool = True  # Keras' default
    slope: float = 0.0  # lrelu
    rate: float = 0.0  # dropout
    # Dense/BN layers on flat features that are (or come from) an H×W×C image: the image shape.
    # Canonical feature order is (h, w, c) (Keras' Flatten/Reshape); torch's is (c, h, w).
    in_hwc: tuple[int, int, int] | None = None  # dense input came from Flatten of this image
    out_hwc: tuple[int, int, int] | None = None  # dense output / BN features become this image

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical (Keras-layout) shapes of this layer's parameters, in canonical order."""
        if self.kind == "dense":
            shapes = {"kernel": (self.in_shape[-1], self.filters)}
        elif self.kind == "conv":
            shapes = {"kernel": (self.kernel, self.kernel, self.in_shape[-1], self.filters)}
        elif self.kind == "convt":  # Keras stores transposed kernels as (kh, kw, out, in)
            shapes = {"kernel": (self.kernel, self.kernel, self.filters, self.in_shape[-1])}
        elif self.kind == "bn":
            n = self.in_shape[-1]
            return {p: (n,) for p in PARAMS["bn"]}
        else:
            return {}
        if self.use_bias:
            shapes["bias"] = (self.filters,)
        return shapes

    def param_count(self) -> int:
        return sum(prod(s) for s in self.param_shapes().values())

    def trainable_count(self) -> int:
        return sum(prod(s) for p, s in self.param_shapes().items() if p in TRAINABLE[self.kind])

    def non_trainable_count(self) -> int:
        return sum(prod(s) for p, s in self.param_shapes().items() if p not in TRAINABLE[self.kind])


class ChainBuilder:
    """Appends layers to a chain, each taking the previous one's output shape as its input."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.layers: list[Layer] = []

    def add(self, name: str, kind: str, out_shape: tuple[int, ...] | None = None, **kw: Any) -> None:
        out = self.shape if out_shape is None else out_shape
        self.layers.append(Layer(name=name, kind=kind, in_shape=self.shape, out_shape=out, **kw))
        self.shape = out

    def dense(self, name: str, units: int, use_bias: bool = True, **kw: Any) -> None:
        self.add(name, "dense", (units,), filters=units, use_bias=use_bias, **kw)

    def conv(self, name: str, filters: int, k: int, s: int, padding: str = "same",
             use_bias: bool = True) -> None:
        h = self.shape[0]
        pads = same_pads(h, k, s) if padding == "same" else (0, 0)
        out = (h + sum(pads) - k) // s + 1
        self.add(name, "conv", (out, out, filters), filters=filters, kernel=k, stride=s,
                 padding=padding, pads=pads, use_bias=use_bias)

    def convt(self, name: str, filters: int, k: int, s: int, padding: str = "same",
              use_bias: bool = True) -> None:
        h = self.shape[0]
        full = (h - 1) * s + k
        if padding == "same":  # the adjoint of a 'SAME' convolution from h * s pixels down to h
            out = h * s
            crops = same_pads(out, k, s)
        else:
            out, crops = full, (0, 0)
        assert full - sum(crops) == out
        self.add(name, "convt", (out, out, filters), filters=filters, kernel=k, stride=s,
                 padding=padding, pads=crops, use_bias=use_bias)


def layer_flops(layer: Layer, batch_size: int) -> int:
    """Forward FLOPs of one layer (= its input-gradient FLOPs = its weight-gradient FLOPs), in
    torch.utils.flop_counter's convention: matmuls and (transposed) convolutions only, 2 per
    multiply-accumulate; S the spatial size of a convolution's *non-upsampled* side (its output, a
    transposed one's input), so that padding and cropping do not change it."""
    if layer.kind == "dense":
        return 2 * batch_size * layer.in_shape[-1] * layer.filters
    if layer.kind in ("conv", "convt"):
        side = layer.out_shape if layer.kind == "conv" else layer.in_shape
        return 2 * batch_size * layer.in_shape[-1] * layer.filters * layer.kernel**2 * side[0] * side[1]
    return 0


def weight_layers(layers: list[Layer]) -> list[Layer]:
    return [layer for layer in layers if layer.kind in PARAMS]


def canonical_shapes(layers: list[Layer]) -> dict[str, tuple[int, ...]]:
    """``{"<layer>.<param>": shape}`` of a chain's parameters, in canonical order."""
    return {f"{ly.name}.{p}": s for ly in weight_layers(layers) for p, s in ly.param_shapes().items()}
