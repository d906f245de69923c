"""The registry of frameworks: the one place that knows which frameworks exist.

Built-in frameworks are listed in ``BUILTIN``; more are added by ``register_framework`` from a plugin
module named in the ``FRAMEBENCH_PLUGINS`` environment variable (comma-separated module names,
imported in the parent and, since the variable is inherited, in every worker). The plugin mechanism
is what lets a test add a fake framework without touching a core file.
"""

from __future__ import annotations

import importlib
import os

from ..errors import BenchError, UnknownChoice
from .descriptor import FrameworkDescriptor

PLUGINS_ENV = "FRAMEBENCH_PLUGINS"
BUILTIN: tuple[str, ...] = ("bench.frameworks.tensorflow.descriptor", "bench.frameworks.torch.descriptor")

_REGISTRY: dict[str, FrameworkDescriptor] = {}
_loaded = False


def register_framework(descriptor: FrameworkDescriptor) -> FrameworkDescriptor:
    _REGISTRY[descriptor.name] = descriptor
    return descriptor


def load_plugins() -> None:
    """Import the modules named in FRAMEBENCH_PLUGINS (they register frameworks and model families)."""
    for name in filter(None, (s.strip() for s in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(name)
        except Exception as e:
            raise BenchError(f"{PLUGINS_ENV}: cannot import plugin {name!r}: {e}") from None


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN:
        register_framework(importlib.import_module(module).DESCRIPTOR)
    load_plugins()


def frameworks() -> tuple[FrameworkDescriptor, ...]:
    _ensure_loaded()
    return tuple(_REGISTRY.values())


def framework_names() -> tuple[str, ...]:
    return tuple(d.name for d in frameworks())


def get_framework(name: str) -> FrameworkDescriptor:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownChoice("framework", name, tuple(_REGISTRY)) from None
