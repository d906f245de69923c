from __future__ import annotations

import numpy as np


class ToyRidge:
    def __init__(self, spec, seed: int) -> None:
        self.spec = spec
        self.w = np.zeros(spec.features, dtype=np.float32)

    def to_framework_batches(self, x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return list(zip(x, y, strict=True))

    def train_step(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.floating]:
        residual = x @ self.w - y
        fit = np.mean(residual**2)
        penalty = self.spec.ridge * np.sum(self.w**2)
        grad = 2 * x.T @ residual / len(y) + 2 * self.spec.ridge * self.w
        self.w -= self.spec.learning_rate * grad
        return {"fit": fit, "penalty": penalty}

    def predict(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.floating]:
        """Inference (the predict scenario of tests/plugins/fakescenario): the weights do not move."""
        prediction = x @ self.w
        return {"mean": np.mean(prediction), "error": np.mean((prediction - y) ** 2)}


def build(spec, *, batch_size: int, precision: str, seed: int, device: str, **options) -> ToyRidge:
    return ToyRidge(spec, seed)
