"""The registry of model families: which models exist, and which family each belongs to.

Built-in families are the sub-packages of ``models`` that define ``FAMILY``, found by scanning
the package; plugin modules named in ``FRAMEBENCH_PLUGINS``
(comma-separated) may call ``register_family`` (that is how a test adds a fake family).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable
from typing import Any

from .family import ModelFamily

# Plugin modules, comma-separated; the harness's framework registry reads the same variable.
PLUGINS_ENV = "FRAMEBENCH_PLUGINS"

_FAMILIES: dict[str, ModelFamily] = {}


def once(load: Callable[[], None]) -> Callable[[], None]:
    """``load`` run on the first call only. Marked done before it runs, so that a plugin it imports,
    which registers through a function that calls this one first, finds the registry loaded."""
    done = False

    def ensure() -> None:
        nonlocal done
        if not done:
            done = True
            load()

    return ensure


def builtin_packages() -> list[str]:
    """The family packages shipped in models/, by name order."""
    here = importlib.import_module("models")
    return sorted(f"models.{m.name}" for m in pkgutil.iter_modules(here.__path__) if m.ispkg)


def plugin_modules() -> list[str]:
    """The module names in ``FRAMEBENCH_PLUGINS``, in order."""
    return [s for s in (part.strip() for part in os.environ.get(PLUGINS_ENV, "").split(",")) if s]


def register_family(family: ModelFamily) -> ModelFamily:
    _ensure_loaded()  # built-ins first, whoever registers first
    _FAMILIES[family.name] = family
    return family


@once
def _ensure_loaded() -> None:
    for package in builtin_packages():
        family = getattr(importlib.import_module(package), "FAMILY", None)
        if isinstance(family, ModelFamily):
            _FAMILIES[family.name] = family
    for name in plugin_modules():
        importlib.import_module(name)


def families() -> tuple[ModelFamily, ...]:
    _ensure_loaded()
    return tuple(_FAMILIES.values())


def model_names() -> tuple[str, ...]:
    return tuple(m for f in families() for m in f.model_names)


def family_of(model: str) -> ModelFamily:
    for f in families():
        if model in f.specs:
            return f
    raise ValueError(f"unknown model {model!r}; valid choices: {', '.join(model_names())}")


def get_spec(model: str) -> Any:
    return family_of(model).specs[model]
