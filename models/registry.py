"""The registry of model families: which models exist, and which family each belongs to.

Built-in families are listed in ``BUILTIN``; plugin modules named in ``FRAMEBENCH_PLUGINS``
(comma-separated) may call ``register_family`` (that is how a test adds a fake family).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .family import ModelFamily

PLUGINS_ENV = "FRAMEBENCH_PLUGINS"
BUILTIN: tuple[str, ...] = ("models.gan",)

_FAMILIES: dict[str, ModelFamily] = {}
_loaded = False


def register_family(family: ModelFamily) -> ModelFamily:
    _FAMILIES[family.name] = family
    return family


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN:
        register_family(importlib.import_module(module).FAMILY)
    for name in filter(None, (s.strip() for s in os.environ.get(PLUGINS_ENV, "").split(","))):
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
