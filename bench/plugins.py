"""Registries of named modules that plugins extend: the scenarios and the launchers.

Each maps a name to the dotted path of the module that defines it (imported only when that name is
used, so a registry costs no import). Plugin modules named in FRAMEBENCH_PLUGINS may register more;
they are loaded before a registry's names are read (``bench.frameworks.registry`` loads them).
"""

from __future__ import annotations

import importlib
from typing import Any


class NamedModules:
    """``name -> module path``; ``attribute`` is what each module defines (``SCENARIO``, ``LAUNCHER``)."""

    def __init__(self, attribute: str, builtins: dict[str, str]) -> None:
        self.attribute = attribute
        self.modules: dict[str, str] = dict(builtins)

    def __contains__(self, name: object) -> bool:
        return name in self.modules

    def register(self, name: str, module: str) -> None:
        self.modules[name] = module

    def names(self) -> tuple[str, ...]:
        from bench.frameworks.registry import frameworks

        frameworks()  # loads the plugins, which may register more
        return tuple(self.modules)

    def load(self, name: str) -> Any:
        """What the module registered as ``name`` defines (KeyError if none is)."""
        return getattr(importlib.import_module(self.modules[name]), self.attribute)
