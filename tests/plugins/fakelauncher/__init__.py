"""A launcher from the tests directory alone: two ranks of the fake NumPy framework's worker per slot.

``FRAMEBENCH_PLUGINS=fakeplug,fakelauncher`` (with tests/plugins on PYTHONPATH) registers it in the
parent (where launchers run) and in every worker. Nothing in bench/ or models/ names it.
"""

from __future__ import annotations

from bench.launchers import register_launcher

register_launcher("two-ranks", "fakelauncher.launcher")
