"""The scenarios: what a cell measures inside its worker (``train``: the training step).

A scenario is a module ``bench/scenarios/<name>.py`` behind ``bench.scenarios.base.Scenario``; more are
registered by plugins (``register_scenario``) named in FRAMEBENCH_PLUGINS. Names are read through
``scenario_names()`` on each use (a plugin extends them). Importing this package imports no framework.
"""

from __future__ import annotations

# name -> module that defines it (imported in the worker only when a cell of that scenario runs)
_REGISTRY: dict[str, str] = {"train": "bench.scenarios.train"}


def register_scenario(name: str, module: str) -> None:
    _REGISTRY[name] = module


def scenario_names() -> tuple[str, ...]:
    """Registered scenarios, ``train`` (the one every stored run of schemas 1-4 measured) first."""
    from bench.frameworks.registry import frameworks

    frameworks()  # loads the plugins, which may register scenarios
    return tuple(_REGISTRY)


def skip_reason(cell: object, supported: tuple[str, ...] | None = None) -> str | None:
    """Why this machine's matrix records the cell as skipped for its scenario, or None to run it.

    ``supported``: the scenarios the cell's model family declares (None: only ``train``)."""
    scenario = getattr(cell, "scenario", "train")
    if scenario not in (supported if supported is not None else ("train",)):
        return f"model {getattr(cell, 'model', '?')} has no {scenario} scenario"
    return None
