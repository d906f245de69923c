"""What the TensorFlow implementations share (imports Keras: only ever from a models/<family>/tf_*.py)."""

from __future__ import annotations

from typing import Any

import keras

# Keras dtype policy of each precision.
POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16",
            "fp64": "float64"}  # fp64: for the equivalence checks only (not a benchmark precision)


def tf_device(device: str | None) -> str | None:
    """TensorFlow's device name of a cell's device (None: let TensorFlow place)."""
    return {None: None, "cpu": "/CPU:0", "cuda": "/GPU:0"}[device]


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
