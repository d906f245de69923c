"""What a model family offers the harness: plain data and framework-free functions.

A family is one package ``models/<family>/``. Its ``FAMILY`` names its models and their specs, its
**named losses** (the keys of the dict its train step returns), how to make one step's inputs with
numpy from the seed, its analytic FLOPs per train step, and, per framework, the module that builds
the model and its train step (imported only in that framework's process). Nothing here imports
``bench``: the harness depends on models, never the reverse.

A family also says which **scenarios** it supports (``ModelFamily.scenarios``: scenario name -> the
hooks that scenario's module in ``bench/scenarios/`` reads). Every family supports ``train``, whose
hooks (``TrainHooks``) are its named losses and train-step FLOPs; another scenario's hooks are given
in ``scenario_hooks`` as whatever object that scenario documents (``generate``'s:
``models.generate.GenerateHooks``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

# A step's inputs, in the order the family's train step takes them (e.g. (real, noise)), each
# array with a leading n_batches axis: batch i of every input is one step's inputs.
StepInputs = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class TrainHooks:
    """What the ``train`` scenario reads from a family (derived from its fields, never given twice)."""

    losses: tuple[str, ...]  # the named losses a train step returns, in report order
    step_flops: Callable[[Any, int], int]  # (spec, batch_size) -> FLOPs of one train step


class DataError(ValueError):
    """Bad user data (a missing or malformed --data file): the message is one line for the user."""


@dataclass(frozen=True)
class ModelFamily:
    name: str  # "gan"
    specs: Mapping[str, Any]  # model name -> spec; every spec has .name and .batch_size
    losses: tuple[str, ...]  # names of the losses a train step returns, in report order
    loss_labels: Mapping[str, str]  # loss name -> label in reports ("G")
    # (spec, batch_size, n_batches, seed, data) -> StepInputs; data is "synthetic" or a path;
    # raises DataError on bad data.
    make_inputs: Callable[[Any, int, int, int, str], StepInputs]
    # (spec, batch_size) -> FLOPs of one train step, counted analytically.
    train_step_flops: Callable[[Any, int], int]
    # framework name -> module path of that framework's implementation (imports the framework). The
    # module has build(spec, *, batch_size, precision, seed, device, **options) -> model, where
    # model.to_framework_batches(*inputs) gives one tuple of device tensors per batch and
    # model.train_step(*one_batch) returns {loss name: scalar tensor} (the names in ``losses``).
    implementations: Mapping[str, str]
    # (spec, data) -> None or raise DataError: checks a --data path once, before anything runs.
    check_data: Callable[[Any, str], None] | None = None
    # What the report says about this family's loss-curve parity across frameworks (why the curves
    # should be close, and why not identical); "{frameworks}" stands for their names. "": a
    # generic sentence.
    parity_note: str = ""
    # Whether the family's models are in the default matrix of the quick profile (the 15-minute CPU
    # default). A family too expensive for it on a 2-core CPU says False: it runs in ``full`` and
    # whenever named with ``--models``.
    in_quick_profile: bool = True
    # The models of this family whose cells of a scenario limited in a short profile (its
    # ``limited_scenarios``: quick's generate) the default matrix includes: scenario -> model names.
    default_run_scenarios: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Which operations of the forward pass compute in which dtype in a bf16 cell on CPU, per framework:
    # framework -> operation kind -> "bf16" / "fp32" (each framework's shipped mixed-precision recipe:
    # Keras' mixed_bfloat16 policy, torch's CPU autocast). Disclosed in the report beside the bf16
    # cells and checked against the dtypes each framework really uses (tests/test_precision_scopes.py).
    # Empty: not disclosed.
    bf16_scopes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The scenarios other than ``train`` that the family supports: name -> the hooks object that
    # scenario's module documents (e.g. how to build the model's inference path). Empty: train only.
    scenario_hooks: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "train" in self.scenario_hooks:
            raise ValueError(f"model family {self.name!r}: train's hooks are its losses and "
                             "train_step_flops, not a scenario_hooks entry")

    @property
    def scenarios(self) -> Mapping[str, Any]:
        """Every scenario the family supports -> its hooks, ``train`` first (``tuple(...)``: names)."""
        train = TrainHooks(losses=tuple(self.losses), step_flops=self.train_step_flops)
        return {"train": train, **self.scenario_hooks}

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def label(self, loss: str) -> str:
        return self.loss_labels.get(loss, loss)

    def implementation(self, framework: str) -> ModuleType:
        try:
            return importlib.import_module(self.implementations[framework])
        except KeyError:
            raise ValueError(f"model family {self.name!r} has no {framework} implementation") from None
