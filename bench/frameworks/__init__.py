"""Frameworks, one package each (``bench/frameworks/<name>/``), behind a registry of descriptors.

Importing this package imports no framework: it re-exports the registry (which frameworks exist and
what they are, ``bench.frameworks.registry``) and the ``Backend`` interface (``bench.frameworks.base``).
``load_backend`` imports a framework's backend module, and so the framework: only ever inside that
cell's own process.
"""

from __future__ import annotations

from bench.frameworks.base import Backend, Losses, split_batches
from bench.frameworks.descriptor import FrameworkDescriptor, Mode, Variant
from bench.frameworks.registry import framework_names, frameworks, get_framework, register_framework

__all__ = [
    "Backend",
    "FrameworkDescriptor",
    "Losses",
    "Mode",
    "Variant",
    "framework_names",
    "frameworks",
    "get_framework",
    "load_backend",
    "register_framework",
    "split_batches",
]


def load_backend(framework: str) -> type[Backend]:
    """Import the framework's backend module (and so the framework); returns its Backend class."""
    return get_framework(framework).module("backend").BACKEND
