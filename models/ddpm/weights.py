"""Framework-free weights of the U-Net: the canonical format, initial weights, and torch's layout.

Canonical format (models/ddpm/CONTRACT.md): ``{"unet": {"<layer>.<param>": ndarray}}`` (one network,
nested as the other families' weights are), layer names from ``models.ddpm.arch``, float32 arrays in
Keras' layouts: conv kernel (kh, kw, in, out); Dense kernel (in, out) for the time-embedding Dense
layers and the attention's q/k/v/proj_out "nin" layers; ``bias``; GroupNorm ``gamma``/``beta``.
TensorFlow uses it as is; torch's layout (Linear (out, in), the nin layers included; Conv2d (out, in,
kh, kw)) is derived here in pure numpy, so no module imports both frameworks.
"""

from __future__ import annotations

import numpy as np

from ..common.weights import TORCH_PARAM, Weights, fans
from ..common.weights import check_canonical as check_names_and_shapes
from .arch import Layer, unet
from .spec import DDPMSpec

NET = "unet"  # the one network


def layers(spec: DDPMSpec) -> list[Layer]:
    return unet(spec).layers()


def variance_scaling_limit(shape: tuple[int, ...], scale: float) -> float:
    """Uniform limit of variance scaling (mode fan_avg): Ho et al.'s ``default_init(scale)``;
    scale 1 is Keras' glorot_uniform."""
    fan_in, fan_out = fans(shape)
    return float(np.sqrt(3.0 * scale / ((fan_in + fan_out) / 2.0)))


def initial_weights(spec: DDPMSpec, seed: int, zero_init: bool = True) -> Weights:
    """Ho et al.'s initialisation, drawn with numpy; identical for both frameworks.

    Kernels: variance scaling (fan_avg, uniform), scale 1 (= glorot_uniform) except the layers Ho et
    al. "zero"-initialise (each residual block's conv2, attention's proj_out, conv_out), which get
    scale 1e-10; biases 0, GroupNorm gamma 1, beta 0. ``zero_init=False`` gives those layers scale 1
    too: the equivalence checks use it so that every block changes the output.
    """
    rng = np.random.default_rng([seed, 0])
    out: dict[str, np.ndarray] = {}
    for layer in layers(spec):
        for param, shape in layer.param_shapes().items():
            if param == "kernel":
                scale = layer.init_scale if zero_init else 1.0
                limit = variance_scaling_limit(shape, scale)
                value = rng.uniform(-limit, limit, shape)
            elif param == "gamma":
                value = np.ones(shape)
            else:  # bias, beta
                value = np.zeros(shape)
            out[f"{layer.name}.{param}"] = value.astype(np.float32)
    return {NET: out}


def to_torch(spec: DDPMSpec, canonical: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The U-Net's canonical weights (``weights[NET]``) -> the torch U-Net's ``state_dict`` arrays."""
    out: dict[str, np.ndarray] = {}
    for layer in layers(spec):
        for param in layer.param_shapes():
            a = np.asarray(canonical[f"{layer.name}.{param}"])
            if param == "kernel":  # conv (kh,kw,in,out) -> (out,in,kh,kw); Dense/nin (in,out) -> (out,in)
                a = a.transpose(3, 2, 0, 1) if layer.kind == "conv" else a.T
            out[f"{layer.torch_path}.{TORCH_PARAM[param]}"] = np.ascontiguousarray(a)
    return out


def from_torch(spec: DDPMSpec, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse of :func:`to_torch` (also maps gradients, which have the parameters' shapes)."""
    out: dict[str, np.ndarray] = {}
    for layer in layers(spec):
        for param in layer.param_shapes():
            a = np.asarray(state[f"{layer.torch_path}.{TORCH_PARAM[param]}"])
            if param == "kernel":
                a = a.transpose(2, 3, 1, 0) if layer.kind == "conv" else a.T
            out[f"{layer.name}.{param}"] = np.ascontiguousarray(a)
    return out


def check_canonical(spec: DDPMSpec, canonical: dict[str, np.ndarray]) -> None:
    """Raise ValueError (one line) unless ``canonical`` (``weights[NET]``) has exactly this U-Net's names
    and shapes."""
    expected = {f"{ly.name}.{p}": s for ly in layers(spec) for p, s in ly.param_shapes().items()}
    check_names_and_shapes(expected, canonical, spec.name)


__all__ = ["NET", "TORCH_PARAM", "Weights", "check_canonical", "from_torch",
           "initial_weights", "to_torch", "variance_scaling_limit"]
