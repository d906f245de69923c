"""Faults injected on purpose into a worker's steps: never by a normal run.

``FRAMEBENCH_INJECT_SLOWDOWN`` slows every timed step by a known fraction (to calibrate the regression
gate; recorded in the cell's flags). ``TEST_FAULTS`` (spec key "test_fault") let the tests drive the
real worker into divergence, a failure or an OOM without a GPU; the launcher never sets them.
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.results.records import CellResult

TEST_FAULTS = ("nan-data", "raise", "oom")


SLOWDOWN_ENV = "FRAMEBENCH_INJECT_SLOWDOWN"


def inject_slowdown(backend: Any, result: CellResult, warmup_times: list[float]) -> None:
    """Calibration aid for the regression gate: with FRAMEBENCH_INJECT_SLOWDOWN=0.2, every step after
    the warm-up also sleeps 20% of the warm-up's median step time: a real, known slowdown of the
    timed steps and of the window. Recorded in the cell's flags, so such a run never passes for a
    clean one. The sleep is on the host: it shows in CPU cells, not inside CUDA event timings."""
    raw = os.environ.get(SLOWDOWN_ENV, "").strip()
    if not raw:
        return
    fraction = float(raw)
    times = sorted(warmup_times[1:] or warmup_times)  # the first step includes compilation
    sleep_s = fraction * times[len(times) // 2]
    inner = backend.step_fn

    def slower_step(*args: Any, **kwargs: Any) -> Any:
        out = inner(*args, **kwargs)
        time.sleep(sleep_s)
        return out

    backend.step_fn = slower_step
    result.flags["injected_slowdown"] = {"fraction": fraction, "sleep_s": sleep_s}
    result.compile_warnings.append(f"{SLOWDOWN_ENV}={fraction}: steps deliberately slowed by {sleep_s:.3f} s")


def inject_failure(backend: Any, fault: str) -> None:
    def failing_step(*args: Any, **kwargs: Any) -> Any:
        if fault == "oom":
            raise MemoryError("test fault: simulated out of memory")
        raise RuntimeError("test fault: simulated failure\nsecond line not in the reason")

    backend.step_fn = failing_step
