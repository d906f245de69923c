"""A scenario added from the tests directory alone: "predict", the toy model's inference call.

``FRAMEBENCH_PLUGINS=fakescenario`` (with tests/plugins on PYTHONPATH) registers the scenario and the
toy family again with its hooks for it, on top of ``fakeplug`` (the NumPy framework and the toy
family), in the parent and in every worker. Nothing in bench/ or models/ names it: that is the point.
"""

from __future__ import annotations

import dataclasses

from fakeplug.toy import FAMILY

from bench.scenarios import register_scenario
from models.registry import register_family

from .predict import PredictHooks


def predict_flops(spec, batch_size: int) -> int:
    return 2 * batch_size * spec.features  # one matvec


register_scenario("predict", "fakescenario.predict")
# The family declares the scenario: the toy model's outputs per call and their FLOPs.
register_family(dataclasses.replace(FAMILY, scenario_hooks={
    "predict": PredictHooks(outputs=("mean", "error"), call_flops=predict_flops)}))
