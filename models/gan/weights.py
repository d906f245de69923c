"""Framework-free weights of the GANs: the canonical format and the initial weights.

Canonical format (models/gan/CONTRACT.md): ``{"generator": {name: ndarray}, "discriminator": {...}}`` with
``name = "<layer>.<param>"`` (layer names from ``models.gan.arch``), float32 arrays in Keras' layout:
dense kernel (in, out), conv kernel (kh, kw, in, out), transposed-conv kernel (kh, kw, out, in), BN
``gamma``/``beta``/``moving_mean``/``moving_variance``; flat features in (h, w, c) order. TensorFlow
uses it as is; torch's layout of it is ``models.common.weights``'s (pure numpy), so that no module
imports both frameworks.
"""

from __future__ import annotations

import numpy as np

from ..common.weights import Weights, glorot_limit
from .arch import Layer, networks, weight_layers
from .spec import ModelSpec

__all__ = ["Weights", "initial_weights"]


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


def initial_weights(spec: ModelSpec, seed: int) -> Weights:
    """Canonical initial weights, drawn with numpy per ``spec.init``; identical for both frameworks."""
    result: Weights = {}
    for i, (net, layers) in enumerate(networks(spec).items()):
        rng = np.random.default_rng([seed, i])  # one stream per network
        result[net] = {}
        for layer in weight_layers(layers):
            result[net].update(_init_layer(layer, spec.init, rng))
    return result
