"""The two networks of each model as a framework-free list of layers: the one architecture.

``tf_dcgan`` and ``torch_dcgan`` (in ``models.gan``) build their layers from these lists, ``weights``
draws and re-lays-out the parameters from them and ``flops`` counts their work, so the frameworks
cannot drift apart on shapes, padding or parameter names.

Shapes are per example and channels-last (NHWC minus the batch), the canonical layout of
models/gan/CONTRACT.md. Padding is TensorFlow's: ``"same"`` or ``"valid"``; ``pads`` is what that means in
explicit pixels (``(before, after)``, the same for height and width because all kernels and images are
square). For a convolution these are zero pads added to the input; for a transposed convolution they
are the rows/columns cropped from the full ``(in - 1) * stride + kernel`` output. TensorFlow puts the
odd pixel *after* (bottom/right), which a symmetric torch ``padding=`` cannot express.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import ModelSpec

# Parameter names per layer kind, in canonical order; the first ``TRAINABLE[kind]`` are trainable.
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
    use_bias: bool = False
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

    def trainable_count(self) -> int:
        return sum(_prod(s) for p, s in self.param_shapes().items() if p in TRAINABLE[self.kind])

    def non_trainable_count(self) -> int:
        return sum(_prod(s) for p, s in self.param_shapes().items() if p not in TRAINABLE[self.kind])


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

    def dense(self, name: str, units: int, use_bias: bool, **kw) -> None:
        self.add(name, "dense", (units,), filters=units, use_bias=use_bias, **kw)

    def conv(self, name: str, filters: int, k: int, s: int, padding: str, use_bias: bool) -> None:
        h = self.shape[0]
        pads = same_pads(h, k, s) if padding == "same" else (0, 0)
        out = (h + sum(pads) - k) // s + 1
        self.add(name, "conv", (out, out, filters), filters=filters, kernel=k, stride=s,
                 padding=padding, pads=pads, use_bias=use_bias)

    def convt(self, name: str, filters: int, k: int, s: int, padding: str, use_bias: bool) -> None:
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


def generator_layers(spec: ModelSpec) -> list[Layer]:
    b = _Builder((spec.noise_dim,))
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
    b = _Builder(spec.image_shape)
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


def weight_layers(layers: list[Layer]) -> list[Layer]:
    return [layer for layer in layers if layer.kind in PARAMS]
