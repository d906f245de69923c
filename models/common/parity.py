"""Parity arithmetic shared by the families' equivalence checks (numpy only).

Errors are relative to the reference ``b`` (torch, by the checks' convention); Keras' Adam arithmetic is
given to torch's Adam per step so that a check can isolate every other difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def rel_err(a, b) -> float:
    """‖a − b‖ / ‖b‖ in float64 (‖a − b‖ when b is zero)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    den = np.linalg.norm(b)
    num = np.linalg.norm(a - b)
    return float(num / den) if den > 0 else float(num)


def step_rel_err(theta_a, theta_b, theta_0) -> float:
    """‖θ_a − θ_b‖ / ‖θ_b − θ_0‖: the frameworks' disagreement relative to how far the optimiser moved."""
    a, b, z = (np.asarray(x, np.float64) for x in (theta_a, theta_b, theta_0))
    moved = np.linalg.norm(b - z)
    return float(np.linalg.norm(a - b) / moved) if moved > 0 else float(np.linalg.norm(a - b))


def f32(x: float) -> float:
    """``x`` rounded through float32, as Keras' ``ops.cast`` of a Python float does."""
    return float(np.float32(x))


def keras_adam_as_torch(spec: Any, t: int) -> tuple[float, float]:
    """(lr, eps) for torch.optim.Adam's step ``t`` (1-based) that reproduce keras.optimizers.Adam's
    (``spec`` has ``learning_rate``, ``adam_beta1``, ``adam_beta2``, ``adam_epsilon``).

    Keras: θ -= lr32 · sqrt(1 - b2r^t) / (1 - b1r^t) · m / (sqrt(v) + ε̂), with lr32 the learning rate
    stored as a float32 variable and b1r, b2r the betas cast through float32 in the bias corrections
    only (the moment updates use the exact Python floats). torch: θ -= lr / (1 - β1^t) · m /
    (sqrt(v) / sqrt(1 - β2^t) + eps). Equal when eps = ε̂ / sqrt(1 - β2^t) and lr rescales the
    bias corrections.
    """
    b1, b2 = spec.adam_beta1, spec.adam_beta2
    b1r, b2r = f32(b1), f32(b2)
    keras_alpha = f32(spec.learning_rate) * (1 - b2r**t) ** 0.5 / (1 - b1r**t)
    lr = keras_alpha * (1 - b1**t) / (1 - b2**t) ** 0.5
    return lr, spec.adam_epsilon / (1 - b2**t) ** 0.5
