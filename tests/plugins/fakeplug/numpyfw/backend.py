"""The worker's backend for NumPy: every step is synchronous, so the base class's timing applies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.frameworks.base import Backend, Losses


class NumpyBackend(Backend):
    framework = "numpy"

    def setup(self) -> None:
        self.flags.update(seed=self.settings.seed, sync="float()")

    def versions(self) -> dict[str, Any]:
        return {"numpy": np.__version__}

    def device_available(self) -> str | None:
        return None if self.cell.device == "cpu" else "numpy runs on the CPU only"

    def build(self, family: Any, spec: Any, batch_size: int, inputs: Sequence[Any]) -> None:
        self.build_model(family, spec, batch_size, inputs)

    def wrap(self) -> None:
        self.step_fn = self.model.train_step

    def fetch(self, handle: Any) -> Losses:
        return {name: float(handle[name]) for name in self.loss_names}


BACKEND = NumpyBackend
