"""A plugin from the tests directory alone: a NumPy "framework" and a toy model family.

``FRAMEBENCH_PLUGINS=fakeplug`` (with tests/plugins on PYTHONPATH) makes both registries import this
module, in the parent and in every worker. Nothing in bench/ or models/ names it: that is the point.
"""

from __future__ import annotations

from bench.frameworks.registry import register_framework
from models.registry import register_family

from .numpyfw.descriptor import DESCRIPTOR
from .toy import FAMILY

register_framework(DESCRIPTOR)
register_family(FAMILY)
