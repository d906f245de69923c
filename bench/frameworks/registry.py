"""The registry of frameworks: the one place that knows which frameworks exist.

Built-in frameworks are the sub-packages of ``bench.frameworks`` (each has a ``descriptor`` module
with a ``DESCRIPTOR``), found by scanning the package, so no list names them. More are added by
``register_framework`` from a plugin module named in the ``FRAMEBENCH_PLUGINS`` environment variable
(comma-separated module names, imported in the parent and, since the variable is inherited, in every
worker). The plugin mechanism
is what lets a test add a fake framework without touching a core file.
"""

from __future__ import annotations

import importlib
import pkgutil

from bench.errors import BenchError, UnknownChoice
from bench.frameworks.descriptor import FrameworkDescriptor
from models.registry import PLUGINS_ENV, once, plugin_modules

_REGISTRY: dict[str, FrameworkDescriptor] = {}


def builtin_packages() -> list[str]:
    """The framework packages shipped in bench/frameworks/, by name order."""
    here = importlib.import_module(__package__ or "bench.frameworks")
    return sorted(f"{here.__name__}.{m.name}" for m in pkgutil.iter_modules(here.__path__) if m.ispkg)


def register_framework(descriptor: FrameworkDescriptor) -> FrameworkDescriptor:
    _ensure_loaded()  # built-ins first, whoever registers first
    _REGISTRY[descriptor.name] = descriptor
    return descriptor


def load_plugins() -> None:
    """Import the modules named in FRAMEBENCH_PLUGINS (they register frameworks and model families)."""
    for name in plugin_modules():
        try:
            importlib.import_module(name)
        except Exception as e:
            raise BenchError(f"{PLUGINS_ENV}: cannot import plugin {name!r}: {e}") from None


@once
def _ensure_loaded() -> None:
    for package in builtin_packages():
        descriptor = importlib.import_module(f"{package}.descriptor").DESCRIPTOR
        _REGISTRY[descriptor.name] = descriptor
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
