"""Machine drift told apart from regressions in the stored-history gate.

CI runners and cloud VMs are not the same machine from one day to the next even when the fingerprint
is: the run of 2026-12-07 (reports/calibration/cross-day/) was 19–50% slower in every cell than the
committed November run of the same code on a machine with the same fingerprint, and its own matmul
peak 25% lower. A regression of the code moves some cells; the machine's mood moves them all.

The rule, per metric (step time, throughput, time to first step), over the cells with that check in
the decision:

- a **run-wide shift** is found when at least DRIFT_MIN_CELLS cells were compared, the median of their
  log changes is worse or better than half the metric's threshold, at least DRIFT_AGREE of the cells
  moved the same way, and the changes are similar: their robust spread (1.4826 · MAD of the log
  changes) is at most DRIFT_MAX_SPREAD of the median (on logs);
- and the machine's **canary** agrees: the device peak the run measured itself (its roofline matmul
  probe, stored in the baseline per run) moved the same way, by at least CANARY_SHARE of the shift (on
  logs) — a change of the code slows the cells, not the probe; without a canary, or when it did not
  move, the cells are judged as they are and the verdict says that they moved together;
- then every cell is judged against the shift instead of against no change: its change is divided by
  the shift's (1 + change)/(1 + shift) − 1, for the threshold and for its noise test (with its own
  noise), so a cell that moved with the rest passes and a cell far beyond the shift still fails; the
  verdict says so ("machine drift: 21 of 21 cells slower,
  median +31%, spread 9%").

What it cannot see: a machine that slowed by as much as the code did (both at once), or a change that
slows the canary too (a slower BLAS). Comparing two environments or revisions side by side
(``bench compare``), where drift cancels, answers those.
Calibration (scripts/gate_calibration.py, reports/calibration/gate-calibration.md): the 12-07 run
against the November run and its repeat as a history of two fails 14 of 48 cells without the rule and
none with it (21 of 21 cells slower, median +32%, spread 8%, the measured peak −16%). Its weakness, in
the same table: a 20% slowdown injected into 5 of its cells moves them 20% beyond a shift whose cells
already scatter by 8%, and a two-run history gives its t test 5 degrees of freedom, so those cells are
not caught at alpha 0.01 (0 of 5); judge such changes with `bench compare`. On the same-day calibration
runs the canary confirms no shift, and every detection there is as it was without the rule.
``drift = "off"`` turns the rule off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.gate.single_run import Check

DRIFT_MIN_CELLS = 5
DRIFT_AGREE = 0.75
DRIFT_MAX_SPREAD = 0.5
CANARY_SHARE = 0.5
SPREAD_WEIGHT = 0.0
DRIFT_METRICS = {"step_time": True, "throughput": False, "compile_time": True}  # -> higher is worse


@dataclass(frozen=True)
class Drift:
    metric: str
    shift: float  # relative, the median change over cells
    spread: float  # robust sd of the cells' log changes
    moved: int  # cells that moved the same way as the shift
    cells: int  # cells compared
    canary: float | None = None  # relative change of the machine's measured peak (None: unknown)
    applied: bool = True  # the canary agreed: the cells were judged against the shift

    def text(self) -> str:
        worse = (self.shift > 0) == DRIFT_METRICS[self.metric]
        way = {("step_time", True): "slower", ("step_time", False): "faster",
               ("throughput", True): "lower", ("throughput", False): "higher",
               ("compile_time", True): "later", ("compile_time", False): "sooner"}
        name = {"step_time": "", "throughput": " (throughput)", "compile_time": " (time to first step)"}[
            self.metric]
        moved = (f"{self.moved} of {self.cells} cells {way[self.metric, worse]}, median "
                 f"{self.shift * 100:+.0f}%, spread {self.spread * 100:.0f}%")
        canary = ("no canary measured" if self.canary is None
                  else f"the machine's measured peak {self.canary * 100:+.0f}%")
        if self.applied:
            return f"machine drift{name}: {moved} ({canary}); each cell judged against this run-wide shift"
        return (f"cells moved together{name}: {moved}, but {canary}: not read as machine drift, each cell "
                "judged as it is")


def find_drift(metric: str, checks: Sequence[Check], threshold: float,
               canary: float | None = None) -> Drift | None:
    """The run-wide shift of one metric over these checks (module doc), or None; ``canary``: the
    relative change of the machine's measured peak between the baseline and the run."""
    logs = np.array([math.log1p(c.change) for c in checks if c.change is not None and c.change > -1])
    if len(logs) < DRIFT_MIN_CELLS:
        return None
    m = float(np.median(logs))
    spread = 1.4826 * float(np.median(np.abs(logs - m)))
    moved = int(np.sum(np.sign(logs) == np.sign(m))) if m else 0
    similar = spread <= DRIFT_MAX_SPREAD * abs(m)
    if abs(m) < math.log1p(threshold / 2) or moved < DRIFT_AGREE * len(logs) or not similar:
        return None
    slower = m if DRIFT_METRICS[metric] else -m  # > 0: the cells got slower
    confirmed = canary is not None and canary > -1 and (
        -math.log1p(canary) * math.copysign(1.0, slower) >= CANARY_SHARE * abs(slower))
    return Drift(metric, math.expm1(m), spread, moved, len(logs), canary, confirmed)


def judge_against_shift(c: Check, drift: Drift, threshold: float, higher_is_worse: bool,
                        floor_s: float = 0.0) -> None:
    """Re-judge one check against the run-wide shift: the threshold and the noise test on the change
    beyond the shift."""
    from scipy.stats import norm
    from scipy.stats import t as student_t

    if c.change is None or c.change <= -1:
        return
    beyond = math.log1p(c.change) - math.log1p(drift.shift)
    sign = 1.0 if higher_is_worse else -1.0
    c.shift = drift.shift
    c.exceeded = sign * math.expm1(beyond) > threshold
    if c.metric == "compile_time" and c.base is not None and c.new is not None:
        c.exceeded = c.exceeded and c.new - c.base * (1 + drift.shift) > floor_s
    if c.p is None or c.noise is None:
        return
    # The check's own noise: the spread between cells is mostly that same noise (adding it would
    # count it twice), plus how differently the machine's change hit each kernel.
    scale, df = math.log1p(c.noise), c.df
    z = sign * beyond / scale if scale > 0 else (math.inf if sign * beyond > 0 else -math.inf)
    c.p = float(student_t.sf(z, df) if df else norm.sf(z))
    c.noise = math.expm1(scale)


def canary_change(baseline: dict[str, Any], run_canary: dict[str, Any] | None) -> float | None:
    """The run's measured peak against the geometric mean of the baseline runs' (stored, untrusted:
    anything not a positive number is ignored); None when either side has none."""
    from bench.stats import num

    def peak(c: Any) -> float | None:
        v = num(c.get("peak_flops")) if isinstance(c, dict) else None
        return v if v is not None and v > 0 else None

    runs = baseline.get("runs") or [baseline]
    peaks = [p for r in runs if isinstance(r, dict) and (p := peak(r.get("canary"))) is not None]
    new = peak(run_canary)
    if not peaks or new is None:
        return None
    return new / math.exp(sum(math.log(p) for p in peaks) / len(peaks)) - 1


def apply_drift(verdicts: Sequence[Any], cfg: dict[str, Any], canary: float | None = None) -> list[Drift]:
    """Find each metric's run-wide shift over the verdicts' checks and judge every cell against it
    when the canary agrees (before bench.gate.rules.decide adjusts the p-values)."""
    if cfg.get("drift", "adjust") == "off":
        return []
    found = []
    for metric, higher_is_worse in DRIFT_METRICS.items():
        checks = [v.checks[metric] for v in verdicts if metric in v.checks]
        drift = find_drift(metric, checks, cfg[metric], canary)
        if drift is None:
            continue
        found.append(drift)
        for c in checks if drift.applied else ():
            judge_against_shift(c, drift, cfg[metric], higher_is_worse, cfg.get("compile_time_floor_s", 0.0))
    return found


def beyond_shift(c: Check) -> float | None:
    """A check's change beyond the run-wide shift it was judged against (None: no shift)."""
    if c.shift is None or c.change is None:
        return None
    return (1 + c.change) / (1 + c.shift) - 1
