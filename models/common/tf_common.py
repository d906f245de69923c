"""What the TensorFlow implementations share (imports Keras: only ever from a models/<family>/tf_*.py)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .chain import Layer, weight_layers
from .weights import Weights, check_chain

# Keras dtype policy of each precision.
POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16",
            "fp64": "float64"}  # fp64: for the equivalence checks only (not a benchmark precision)


def tf_device(device: str | None, index: int | None = None) -> str | None:
    """TensorFlow's device name of a cell's device (None: let TensorFlow place): ``cpu`` is /CPU:0;
    ``cuda`` is /GPU:<index>, the index given or written as the backends pass it (``cuda:1``), else 0."""
    if device is None:
        return None
    kind, _, written = device.partition(":")
    n = index if index is not None else int(written or 0)
    return {"cpu": "/CPU:0", "cuda": f"/GPU:{n}"}[kind]


def loss_scaled(opt: keras.optimizers.Optimizer, precision: str) -> keras.optimizers.Optimizer:
    """``opt`` with Keras' dynamic loss scaling in fp16 (as a Keras user's mixed_float16 step has it)."""
    return keras.optimizers.LossScaleOptimizer(opt) if precision == "fp16" else opt


def make_adam(spec: Any, precision: str = "fp32") -> keras.optimizers.Optimizer:
    """Adam with the spec's ``learning_rate``, ``adam_beta1``, ``adam_beta2`` and ``adam_epsilon``."""
    # Keras applies `epsilon` as "epsilon hat" (added to sqrt(v) before the bias correction); torch
    # adds eps after it. The same number is passed to both: see CONTRACT.md for the consequence.
    opt = keras.optimizers.Adam(learning_rate=spec.learning_rate, beta_1=spec.adam_beta1,
                                beta_2=spec.adam_beta2, epsilon=spec.adam_epsilon)
    return loss_scaled(opt, precision)


def np_dtype(precision: str) -> type:
    """The numpy dtype weights and outputs are read back in: float32, float64 in the fp64 checks."""
    return np.float64 if precision == "fp64" else np.float32


def chain_variables(model: keras.Model, layer: Layer) -> dict[str, keras.Variable]:
    """A chain layer's Keras variables by canonical parameter name (its Keras layer has its name)."""
    k = model.get_layer(layer.name)
    if layer.kind == "bn":
        return {"gamma": k.gamma, "beta": k.beta, "moving_mean": k.moving_mean,
                "moving_variance": k.moving_variance}
    out = {"kernel": k.kernel}
    if layer.use_bias:
        out["bias"] = k.bias
    return out


def get_weights(model: Any) -> Weights:
    """Canonical weights of a model of chain networks (``model.networks``: {name: Keras model} built
    from ``model.layers``: {name: [Layer]}), BN statistics included, in ``np_dtype(model.precision)``."""
    dt = np_dtype(model.precision)
    return {net: {f"{ly.name}.{p}": np.array(v.numpy(), dtype=dt) for ly in weight_layers(model.layers[net])
                  for p, v in chain_variables(keras_model, ly).items()}
            for net, keras_model in model.networks.items()}


def set_weights(model: Any, weights: Weights) -> None:
    """Assign canonical weights to a model of chain networks (see :func:`get_weights`)."""
    for net, keras_model in model.networks.items():
        check_chain(model.layers[net], weights[net], net)
        for ly in weight_layers(model.layers[net]):
            for p, v in chain_variables(keras_model, ly).items():
                v.assign(np.asarray(weights[net][f"{ly.name}.{p}"], dtype=np_dtype(model.precision)))
