"""Canonical weights, framework-free: initialiser fans, Keras' layouts to torch's and back, the check.

The canonical format of every family is ``{network: {"<layer>.<param>": ndarray}}``, float32 arrays in
Keras' layout: dense kernel (in, out), conv kernel (kh, kw, in, out), transposed-conv kernel (kh, kw,
out, in), BN ``gamma``/``beta``/``moving_mean``/``moving_variance``; flat features in (h, w, c) order.
TensorFlow uses it as is; torch's layout of a chain network (``models.common.chain``) is derived here
in pure numpy, so that no module imports both frameworks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .chain import TRAINABLE, Layer, canonical_shapes, weight_layers

Weights = dict[str, dict[str, np.ndarray]]

# torch state_dict suffix for each canonical parameter name.
TORCH_PARAM = {
    "kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
    "moving_mean": "running_mean", "moving_variance": "running_var",
}


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    # keras.src.initializers.random_initializers.compute_fans
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_limit(shape: tuple[int, ...]) -> float:
    """The bound of Keras' default kernel initializer, glorot_uniform: U(-limit, limit)."""
    fan_in, fan_out = fans(shape)
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


def _init_layer(layer: Layer, init: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for param, shape in layer.param_shapes().items():
        if param == "kernel":
            if init == "glorot_uniform":  # Keras' default kernel initializer
                limit = glorot_limit(shape)
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


def chain_initial_weights(networks: Mapping[str, list[Layer]], init: str, seed: int) -> Weights:
    """Canonical initial weights of chain networks, drawn with numpy (one stream per network, from
    ``seed``), identical for both frameworks: ``init`` "glorot_uniform" (Keras' defaults: zero biases,
    BN gamma 1) or "dcgan_normal" (pytorch/examples' weights_init: N(0, 0.02) kernels, BN gamma
    N(1, 0.02))."""
    result: Weights = {}
    for i, (net, layers) in enumerate(networks.items()):
        rng = np.random.default_rng([seed, i])
        result[net] = {}
        for layer in weight_layers(layers):
            result[net].update(_init_layer(layer, init, rng))
    return result


def hwc_to_chw(hwc: tuple[int, int, int]) -> np.ndarray:
    """Index array: torch feature j (c, h, w order) is canonical feature ``idx[j]`` (h, w, c order)."""
    h, w, c = hwc
    return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)


def to_torch(layers: list[Layer], canonical: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One network's canonical weights -> torch ``state_dict`` arrays (``num_batches_tracked`` aside)."""
    out: dict[str, np.ndarray] = {}
    for ly in weight_layers(layers):
        for param in ly.param_shapes():
            a = np.asarray(canonical[f"{ly.name}.{param}"])
            if param == "kernel":
                if ly.kind == "dense":
                    if ly.in_hwc is not None:  # torch's Flatten yields (c, h, w) features
                        a = a[hwc_to_chw(ly.in_hwc), :]
                    if ly.out_hwc is not None:  # torch's reshape reads (c, h, w) features
                        a = a[:, hwc_to_chw(ly.out_hwc)]
                    a = a.T  # Linear.weight is (out, in)
                else:  # conv (kh,kw,in,out) -> (out,in,kh,kw); convt (kh,kw,out,in) -> (in,out,kh,kw)
                    a = a.transpose(3, 2, 0, 1)
            elif ly.out_hwc is not None:  # dense bias / BN vectors over image features
                a = a[hwc_to_chw(ly.out_hwc)]
            out[f"{ly.name}.{TORCH_PARAM[param]}"] = np.ascontiguousarray(a)
    return out


def from_torch(layers: list[Layer], state: Mapping[str, np.ndarray],
               trainable_only: bool = False) -> dict[str, np.ndarray]:
    """The inverse of :func:`to_torch` (also for gradients, which have the parameters' layout);
    ``trainable_only`` for gradients of a network with running statistics."""
    out: dict[str, np.ndarray] = {}
    for ly in weight_layers(layers):
        for param in ly.param_shapes():
            if trainable_only and param not in TRAINABLE[ly.kind]:
                continue
            a = np.asarray(state[f"{ly.name}.{TORCH_PARAM[param]}"])
            if param == "kernel":
                if ly.kind == "dense":
                    a = a.T
                    if ly.out_hwc is not None:
                        a = a[:, np.argsort(hwc_to_chw(ly.out_hwc))]
                    if ly.in_hwc is not None:
                        a = a[np.argsort(hwc_to_chw(ly.in_hwc)), :]
                else:
                    a = a.transpose(2, 3, 1, 0)
            elif ly.out_hwc is not None:
                a = a[np.argsort(hwc_to_chw(ly.out_hwc))]
            out[f"{ly.name}.{param}"] = np.ascontiguousarray(a)
    return out


def check_canonical(expected: Mapping[str, tuple[int, ...]], canonical: Mapping[str, np.ndarray],
                    what: str) -> None:
    """Raise ValueError (one line, naming ``what``) unless ``canonical`` has exactly the names and
    shapes of ``expected`` ({"<layer>.<param>": shape})."""
    missing = sorted(set(expected) - set(canonical))
    extra = sorted(set(canonical) - set(expected))
    if missing or extra:
        raise ValueError(f"{what} weights: missing {missing[:5]}, unexpected {extra[:5]}")
    for name, shape in expected.items():
        if tuple(np.shape(canonical[name])) != shape:
            raise ValueError(f"{what} weight {name}: shape {np.shape(canonical[name])}, expected {shape}")


def check_chain(layers: list[Layer], canonical: Mapping[str, np.ndarray], net: str) -> None:
    """:func:`check_canonical` of one chain network's weights."""
    check_canonical(canonical_shapes(layers), canonical, net)
