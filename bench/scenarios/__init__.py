"""The scenarios: what a cell measures inside its worker (``train``: the training step; ``generate``:
the generative path in inference mode).

A scenario is a module ``bench/scenarios/<name>.py`` whose ``SCENARIO`` is a
``bench.scenarios.base.Scenario``; more are registered by plugins (``register_scenario``) named in
FRAMEBENCH_PLUGINS, which every worker inherits. Names are read through ``scenario_names()`` on each use
(a plugin extends them). Importing this package imports no framework, and a scenario's module is
imported only by ``get_scenario`` (in the worker, or wherever its description is wanted).
"""

from __future__ import annotations

from typing import Any

from bench.errors import UnknownChoice
from bench.plugins import NamedModules

# name -> module that defines it (imported in the worker only when a cell of that scenario runs)
_REGISTRY = NamedModules("SCENARIO", {"train": "bench.scenarios.train",
                                      "generate": "bench.scenarios.generate"})


def register_scenario(name: str, module: str) -> None:
    """Add scenario ``name``, defined by the ``SCENARIO`` of ``module`` (a dotted module path)."""
    _REGISTRY.register(name, module)


def scenario_names() -> tuple[str, ...]:
    """Registered scenarios, ``train`` (the one every stored run of schemas 1-4 measured) first."""
    return _REGISTRY.names()


def get_scenario(name: str) -> Any:
    """The ``Scenario`` registered as ``name`` (UnknownChoice if none is)."""
    if name not in scenario_names():
        raise UnknownChoice("scenario", name, scenario_names())
    scenario = _REGISTRY.load(name)
    if scenario.name != name:
        raise ValueError(f"scenario module {_REGISTRY.modules[name]!r} defines {scenario.name!r}, "
                         f"not {name!r}")
    return scenario


def describe(name: str) -> str:
    """What a cell of scenario ``name`` measures, for the report (its name alone if not registered here)."""
    try:
        return str(get_scenario(name).description or name)
    except (UnknownChoice, ImportError, AttributeError):
        return name


def skip_reason(cell: object, supported: tuple[str, ...] | None = None) -> str | None:
    """Why this machine's matrix records the cell as skipped for its scenario, or None to run it.

    ``supported``: the scenarios the cell's model family declares (None: only ``train``)."""
    scenario = getattr(cell, "scenario", "train")
    if scenario not in (supported if supported is not None else ("train",)):
        return f"model {getattr(cell, 'model', '?')} has no {scenario} scenario"
    try:  # a scenario module imports no framework; one that cannot be imported here restricts nothing
        precisions = getattr(get_scenario(scenario), "precisions", None) if scenario in _REGISTRY else None
    except (ImportError, AttributeError):
        precisions = None
    precision = getattr(cell, "precision", "fp32")
    if precisions is not None and precision not in precisions:
        return f"{scenario} runs in {', '.join(precisions)} only (not {precision})"
    return None
