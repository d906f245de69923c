"""The "predict" scenario: the model's inference method, timed by the shared step loop.

A family that supports it gives ``PredictHooks``; its framework implementation's model has the named
method, which returns {output name: scalar} for one batch (summaries of its predictions, so that
reading them waits for the device like a train step's losses).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.scenarios.base import StepScenario


@dataclass(frozen=True)
class PredictHooks:
    outputs: tuple[str, ...]  # names of the scalars one call returns, in stored order
    call_flops: Callable[[Any, int], int]  # (spec, batch_size) -> FLOPs of one call
    method: str = "predict"  # the model's inference method


class Predict(StepScenario):
    name = "predict"
    description = "the model's inference call on a fixed batch (no gradient, no update)"

    def flops(self, family: Any, model: Any, batch: int) -> float | None:
        return float(self.hooks(family).call_flops(model, batch))

    def wrap(self, backend: Any, family: Any) -> None:
        hooks = self.hooks(family)
        backend.loss_names = hooks.outputs  # the names the backend's fetch reads
        backend.step_fn = getattr(backend.model, hooks.method)

    def value_names(self, family: Any) -> tuple[str, ...]:
        return self.hooks(family).outputs


SCENARIO = Predict()
