"""Per-process status lines with elapsed time and an ETA, on stderr (stdout stays for results)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from bench.results.records import CellResult


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _label(item: Any) -> str:
    # A bench.results.slots.Slot ("<cell_id> r<k>") or a Cell.
    return str(getattr(item, "label", None) or item.cell_id)


class Progress:
    """Prints "[i/n] <cell_id> r<k> ... status" lines, one item per process (bench.results.slots.Slot).

    ETA = mean duration of the processes finished so far × processes left (the schedule interleaves
    models and frameworks, so the mean is representative early); before the first one finishes, the
    sum of the profile's per-process estimates (``estimate``), which is rough but better than none.
    """

    def __init__(self, total: int, *, estimate: Callable[[Any], float] | None = None,
                 stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.done = 0
        self.durations: list[float] = []
        self.estimate = estimate
        self.stream = stream or sys.stderr
        self.clock = clock
        self.t0 = clock()
        self._cell_t0 = self.t0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def eta(self, remaining: list[Any]) -> float | None:
        if not remaining:
            return 0.0
        if self.durations:
            return sum(self.durations) / len(self.durations) * len(remaining)
        if self.estimate is not None:
            return sum(self.estimate(c) for c in remaining)
        return None

    def start(self, item: Any, remaining_after: list[Any]) -> None:
        self._cell_t0 = self.clock()
        eta = self.eta([item, *remaining_after])
        self._print(f"[{self.done + 1}/{self.total}] {_label(item)} ... running "
                    f"(elapsed {fmt_duration(self._cell_t0 - self.t0)}, ETA {fmt_duration(eta)})")

    def finish(self, item: Any, result: CellResult, remaining_after: list[Any]) -> None:
        took = self.clock() - self._cell_t0
        self.done += 1
        self.durations.append(took)
        detail = ""
        if result.status == "ok" and result.step_time_median_s is not None:
            detail = f", median step {result.step_time_median_s * 1000:.1f} ms"
        elif result.reason:
            detail = f": {result.reason}"
        self._print(f"[{self.done}/{self.total}] {_label(item)} {result.status} in {fmt_duration(took)}"
                    f"{detail} (elapsed {fmt_duration(self.clock() - self.t0)}, "
                    f"ETA {fmt_duration(self.eta(remaining_after))})")
