"""The ``train`` scenario: the model family's training step, timed through the shared loop.

Each call is one train step on batch ``i % n_batches`` of the family's inputs; it returns the family's
**named losses**, stored per step in the family's loss order (``TrainHooks.losses``). Throughput is
images per second; FLOPs per step are the family's analytic count (``TrainHooks.step_flops``), so
achieved FLOP/s and the fraction of the roofline peak follow. A non-finite loss anywhere marks the
cell ``diverged`` and keeps every row measured.
"""

from __future__ import annotations

import math
from typing import Any

from bench.results.records import CellResult, StepRecord
from bench.scenarios.base import StepScenario
from models.family import ModelFamily


def first_nonfinite(records: list[StepRecord]) -> StepRecord | None:
    for r in records:
        if not all(math.isfinite(v) for v in r.losses.values()):
            return r
    return None


class Train(StepScenario):
    name = "train"
    description = "one training step (forward, loss, backward, optimizer update) on a fixed batch"
    metrics = (*StepScenario.metrics, "final_losses")

    def flops(self, family: ModelFamily, model: Any, batch: int) -> float | None:
        return float(self.hooks(family).step_flops(model, batch))

    def make_inputs(self, family: ModelFamily, model: Any, batch: int, spec: Any) -> tuple[Any, ...]:
        inputs = super().make_inputs(family, model, batch, spec)
        if spec.test_fault == "nan-data":
            inputs = (inputs[0] * float("nan"), *inputs[1:])
        return inputs

    def wrap(self, backend: Any, family: ModelFamily) -> None:
        backend.wrap()  # the backend's train step for the cell's mode

    def value_names(self, family: ModelFamily) -> tuple[str, ...]:
        return tuple(self.hooks(family).losses)

    def conclude(self, result: CellResult, records: list[StepRecord]) -> None:
        bad = first_nonfinite(records)
        if bad is not None:
            result.status = "diverged"
            result.reason = (f"non-finite loss at step {bad.step} ({bad.phase}): "
                             + ", ".join(f"{k}_loss={v}" for k, v in bad.losses.items()))


SCENARIO = Train()
