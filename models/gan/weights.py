"""Framework-free weights of the GANs: the canonical format and the initial weights.

Canonical format (models/gan/CONTRACT.md): ``{"generator": {name: ndarray}, "discriminator": {...}}`` with
``name = "<layer>.<param>"`` (layer names from ``models.gan.arch``), float32 arrays in Keras' layout:
dense kernel (in, out), conv kernel (kh, kw, in, out), transposed-conv kernel (kh, kw, out, in), BN
``gamma``/``beta``/``moving_mean``/``moving_variance``; flat features in (h, w, c) order. TensorFlow
uses it as is; torch's layout of it is ``models.common.weights``'s (pure numpy), so that no module
imports both frameworks.
"""

from __future__ import annotations

from ..common.weights import Weights, chain_initial_weights
from .arch import networks
from .spec import ModelSpec

__all__ = ["Weights", "initial_weights"]


def initial_weights(spec: ModelSpec, seed: int) -> Weights:
    """Canonical initial weights, drawn with numpy per ``spec.init``; identical for both frameworks."""
    return chain_initial_weights(networks(spec), spec.init, seed)
