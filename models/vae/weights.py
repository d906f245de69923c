"""Framework-free weights of the VAE: the canonical format and the initial weights.

Canonical format (models/vae/CONTRACT.md): ``{"encoder": {name: ndarray}, "decoder": {...}}`` with
``name = "<layer>.<param>"`` (layer names from ``models.vae.arch``, params ``kernel`` and ``bias``),
float32 arrays in Keras' layout: Dense kernel (in, out), Conv2D kernel (kh, kw, in, out),
Conv2DTranspose kernel (kh, kw, out, in); flat features in (h, w, c) order. TensorFlow uses it as is;
torch's layout (``"<layer>.weight"``/``"<layer>.bias"``) is ``models.common.weights``'s, in pure numpy,
so that no module but the tests imports both frameworks.
"""

from __future__ import annotations

from ..common.weights import Weights, chain_initial_weights
from .arch import networks
from .spec import VAESpec

__all__ = ["Weights", "initial_weights"]


def initial_weights(spec: VAESpec, seed: int) -> Weights:
    """Keras' default initialisation (glorot_uniform kernels, zero biases), drawn with numpy from
    ``seed`` (one stream per network); identical for both frameworks, unlike their own defaults."""
    if spec.init != "glorot_uniform":
        raise ValueError(f"unknown init {spec.init!r}")
    return chain_initial_weights(networks(spec), spec.init, seed)
