"""What every roofline source shares (``bench.host.roofline`` and each framework's ``roofline`` module).

Here, below both, so that a framework's roofline module never imports the driver that loads it.
"""

from __future__ import annotations

from collections.abc import Callable


def best_rate(timed_fn: Callable[[], float], work: float, repeats: int) -> float:
    """Work per second of the fastest of ``repeats`` runs (the least disturbed one)."""
    return max(work / max(timed_fn(), 1e-12) for _ in range(repeats))
