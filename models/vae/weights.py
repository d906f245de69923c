"""Framework-free weights: the canonical format, initial weights, and torch's layout of them.

Canonical format (models/vae/CONTRACT.md): ``{"encoder": {name: ndarray}, "decoder": {...}}`` with
``name = "<layer>.<param>"`` (layer names from ``models.vae.arch``, params ``kernel`` and ``bias``),
float32 arrays in Keras' layout: Dense kernel (in, out), Conv2D kernel (kh, kw, in, out),
Conv2DTranspose kernel (kh, kw, out, in); flat features in (h, w, c) order. TensorFlow uses it as is;
torch's layout (``"<layer>.weight"``/``"<layer>.bias"``) is derived here in pure numpy, so that no module
but the tests imports both frameworks.
"""

from __future__ import annotations

import numpy as np

from .arch import Layer, networks, weight_layers
from .spec import VAESpec

Weights = dict[str, dict[str, np.ndarray]]

TORCH_PARAM = {"kernel": "weight", "bias": "bias"}


def canonical_names(layers: list[Layer]) -> list[str]:
    return [f"{ly.name}.{p}" for ly in weight_layers(layers) for p in ly.param_shapes()]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    # keras.src.initializers.random_initializers.compute_fans
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def initial_weights(spec: VAESpec, seed: int) -> Weights:
    """Keras' default initialisation (glorot_uniform kernels, zero biases), drawn with numpy from
    ``seed`` (one stream per network); identical for both frameworks, unlike their own defaults."""
    if spec.init != "glorot_uniform":
        raise ValueError(f"unknown init {spec.init!r}")
    out: Weights = {}
    for i, (net, layers) in enumerate(networks(spec).items()):
        rng = np.random.default_rng([seed, i])
        out[net] = {}
        for ly in weight_layers(layers):
            shapes = ly.param_shapes()
            fan_in, fan_out = _fans(shapes["kernel"])
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            out[net][f"{ly.name}.kernel"] = rng.uniform(-limit, limit, shapes["kernel"]).astype(np.float32)
            out[net][f"{ly.name}.bias"] = np.zeros(shapes["bias"], np.float32)
    return out


def _hwc_to_chw(hwc: tuple[int, int, int]) -> np.ndarray:
    """Index array: torch feature j (c, h, w order) is canonical feature ``idx[j]`` (h, w, c order)."""
    h, w, c = hwc
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


def to_torch(layers: list[Layer], canonical: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One network's canonical weights -> ``{"<layer>.weight"/"<layer>.bias": array}`` in torch's layout."""
    out: dict[str, np.ndarray] = {}
    for ly in weight_layers(layers):
        for param in ly.param_shapes():
            a = np.asarray(canonical[f"{ly.name}.{param}"])
            if param == "kernel":
                if ly.kind == "dense":
                    if ly.in_hwc is not None:  # torch's Flatten yields (c, h, w) features
                        a = a[_hwc_to_chw(ly.in_hwc), :]
                    if ly.out_hwc is not None:  # torch's reshape reads (c, h, w) features
                        a = a[:, _hwc_to_chw(ly.out_hwc)]
                    a = a.T  # Linear.weight is (out, in)
                else:  # conv (kh,kw,in,out) -> (out,in,kh,kw); convt (kh,kw,out,in) -> (in,out,kh,kw)
                    a = a.transpose(3, 2, 0, 1)
            elif ly.out_hwc is not None:  # the bias of a Dense that becomes an image
                a = a[_hwc_to_chw(ly.out_hwc)]
            out[f"{ly.name}.{TORCH_PARAM[param]}"] = np.ascontiguousarray(a)
    return out


def from_torch(layers: list[Layer], state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse of :func:`to_torch` (also used for gradients, which have the parameters' layout)."""
    out: dict[str, np.ndarray] = {}
    for ly in weight_layers(layers):
        for param in ly.param_shapes():
            a = np.asarray(state[f"{ly.name}.{TORCH_PARAM[param]}"])
            if param == "kernel":
                if ly.kind == "dense":
                    a = a.T
                    if ly.out_hwc is not None:
                        a = a[:, np.argsort(_hwc_to_chw(ly.out_hwc))]
                    if ly.in_hwc is not None:
                        a = a[np.argsort(_hwc_to_chw(ly.in_hwc)), :]
                else:
                    a = a.transpose(2, 3, 1, 0)
            elif ly.out_hwc is not None:
                a = a[np.argsort(_hwc_to_chw(ly.out_hwc))]
            out[f"{ly.name}.{param}"] = np.ascontiguousarray(a)
    return out


def check_canonical(layers: list[Layer], canonical: dict[str, np.ndarray], net: str) -> None:
    """Raise ValueError (one line) unless ``canonical`` has exactly this network's names and shapes."""
    expected = {f"{ly.name}.{p}": s for ly in weight_layers(layers) for p, s in ly.param_shapes().items()}
    missing = sorted(set(expected) - set(canonical))
    extra = sorted(set(canonical) - set(expected))
    if missing or extra:
        raise ValueError(f"{net} weights: missing {missing}, unexpected {extra}")
    for name, shape in expected.items():
        if tuple(np.shape(canonical[name])) != shape:
            raise ValueError(f"{net} weight {name}: shape {np.shape(canonical[name])}, expected {shape}")
