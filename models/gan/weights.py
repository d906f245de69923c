"""Framework-free weights: the canonical format, initial weights, and torch's layout of them.

Canonical format (models/gan/CONTRACT.md): ``{"generator": {name: ndarray}, "discriminator": {...}}`` with
``name = "<layer>.<param>"`` (layer names from ``models.gan.arch``), float32 arrays in Keras' layout:
dense kernel (in, out), conv kernel (kh, kw, in, out), transposed-conv kernel (kh, kw, out, in), BN
``gamma``/``beta``/``moving_mean``/``moving_variance``; flat features in (h, w, c) order. TensorFlow
uses it as is; torch's layout is derived here (pure numpy) so that no module imports both frameworks.
"""

from __future__ import annotations

import numpy as np

from .arch import PARAMS, TRAINABLE, Layer, networks, weight_layers
from .spec import ModelSpec

Weights = dict[str, dict[str, np.ndarray]]

# torch state_dict suffix for each canonical parameter name.
TORCH_PARAM = {
    "kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
    "moving_mean": "running_mean", "moving_variance": "running_var",
}


def canonical_names(layers: list[Layer]) -> list[str]:
    return [f"{layer.name}.{p}" for layer in weight_layers(layers) for p in layer.param_shapes()]


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    # keras.src.initializers.random_initializers.compute_fans
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def _init_layer(layer: Layer, init: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for param, shape in layer.param_shapes().items():
        if param == "kernel":
            if init == "glorot_uniform":  # Keras' default kernel initializer
                fan_in, fan_out = _fans(shape)
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                value = rng.uniform(-limit, limit, shape)
            elif init == "dcgan_normal":  # pytorch/examples weights_init: N(0, 0.02)
                value = rng.normal(0.0, 0.02, shape)
            else:
                raise ValueError(f"unknown init {init!r}")
        elif param == "gamma":
            value = rng.normal(1.0, 0.02, shape) if init == "dcgan_normal" else np.ones(shape)
        elif param == "moving_variance":
            value = np.ones(shape)
        else:  # bias, beta, moving_mean: zeros in both conventions
            value = np.zeros(shape)
        out[f"{layer.name}.{param}"] = value.astype(np.float32)
    return out


def initial_weights(spec: ModelSpec, seed: int) -> Weights:
    """Canonical initial weights, drawn with numpy per ``spec.init``; identical for both frameworks."""
    result: Weights = {}
    for i, (net, layers) in enumerate(networks(spec).items()):
        rng = np.random.default_rng([seed, i])  # one stream per network
        result[net] = {}
        for layer in weight_layers(layers):
            result[net].update(_init_layer(layer, spec.init, rng))
    return result


def _hwc_to_chw(hwc: tuple[int, int, int]) -> np.ndarray:
    """Index array: torch feature j (c, h, w order) is canonical feature ``idx[j]`` (h, w, c order)."""
    h, w, c = hwc
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


def to_torch(layers: list[Layer], canonical: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One network's canonical weights -> torch ``state_dict`` arrays (``num_batches_tracked`` aside)."""
    out: dict[str, np.ndarray] = {}
    for layer in weight_layers(layers):
        for param in layer.param_shapes():
            a = np.asarray(canonical[f"{layer.name}.{param}"])
            if param == "kernel":
                if layer.kind == "dense":
                    if layer.in_hwc is not None:  # torch flattens (c, h, w)
                        a = a[_hwc_to_chw(layer.in_hwc), :]
                    if layer.out_hwc is not None:  # torch reshapes (c, h, w)
                        a = a[:, _hwc_to_chw(layer.out_hwc)]
                    a = a.T  # Linear.weight is (out, in)
                else:  # conv (kh,kw,in,out) -> (out,in,kh,kw); convt (kh,kw,out,in) -> (in,out,kh,kw)
                    a = a.transpose(3, 2, 0, 1)
            elif layer.out_hwc is not None:  # dense bias / BN vectors over image features
                a = a[_hwc_to_chw(layer.out_hwc)]
            out[f"{layer.name}.{TORCH_PARAM[param]}"] = np.ascontiguousarray(a)
    return out


def from_torch(layers: list[Layer], state: dict[str, np.ndarray],
               trainable_only: bool = False) -> dict[str, np.ndarray]:
    """The inverse of :func:`to_torch`; ``trainable_only`` for gradients (no running statistics)."""
    out: dict[str, np.ndarray] = {}
    for layer in weight_layers(layers):
        for param in layer.param_shapes():
            if trainable_only and param not in TRAINABLE[layer.kind]:
                continue
            a = np.asarray(state[f"{layer.name}.{TORCH_PARAM[param]}"])
            if param == "kernel":
                if layer.kind == "dense":
                    a = a.T
                    if layer.out_hwc is not None:
                        a = a[:, np.argsort(_hwc_to_chw(layer.out_hwc))]
                    if layer.in_hwc is not None:
                        a = a[np.argsort(_hwc_to_chw(layer.in_hwc)), :]
                else:
                    a = a.transpose(2, 3, 1, 0)
            elif layer.out_hwc is not None:
                a = a[np.argsort(_hwc_to_chw(layer.out_hwc))]
            out[f"{layer.name}.{param}"] = np.ascontiguousarray(a)
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


__all__ = ["PARAMS", "TORCH_PARAM", "Weights", "canonical_names", "check_canonical", "from_torch",
           "initial_weights", "to_torch"]
