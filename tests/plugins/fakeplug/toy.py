"""A toy model family: ridge regression by gradient descent, with two named losses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.family import ModelFamily


@dataclass(frozen=True)
class ToySpec:
    name: str
    batch_size: int
    features: int
    learning_rate: float = 0.05
    ridge: float = 0.01


SPECS = {"toy-ridge": ToySpec(name="toy-ridge", batch_size=32, features=16)}


def make_inputs(spec: ToySpec, batch_size: int, n_batches: int, seed: int, data: str):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_batches, batch_size, spec.features)).astype(np.float32)
    y = x @ np.linspace(-1, 1, spec.features, dtype=np.float32)
    return x, y


def train_step_flops(spec: ToySpec, batch_size: int) -> int:
    return 4 * batch_size * spec.features  # forward matvec + gradient matvec


FAMILY = ModelFamily(
    name="toy",
    specs=SPECS,
    losses=("fit", "penalty"),
    loss_labels={"fit": "Fit", "penalty": "Penalty"},
    make_inputs=make_inputs,
    train_step_flops=train_step_flops,
    implementations={"numpy": "fakeplug.toy_numpy"},
)
