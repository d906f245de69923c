"""Loss-curve parity: do two frameworks train the same model the same way? (pandas only)

Every framework starts from the same weights and sees the same batches, but their random streams
differ (dropout masks, for instance), so the curves are close, not equal. Per group (one run, every
axis but framework, mode and variant equal), each framework that ran contributes one cell (eager and
default first), and EVERY pair of those frameworks is compared, on each of the model family's named
losses.

What is compared is how training MOVES each loss, not its level: a level near 543 that moves by 1
(a reconstruction term on synthetic data) would agree to "0.0%" whatever the updates did.
Each curve becomes its change from step 0 (L_t - L_0), smoothed with a trailing mean over
PARITY_SMOOTHING_STEPS steps; the number is the mean absolute difference of the two change curves
relative to the largest smoothed change either makes (how far training moved the loss). A pair is
flagged when, on any loss, that exceeds the precision's tolerance (PARITY_TOLERANCE for fp32, wider
for the reduced precisions: PARITY_TOLERANCES) AND the difference is larger than the two curves' gap
at step 0 (different dropout masks already give different step-0 losses; a gap that persists is
that noise, not diverging training). A cell measured in several processes contributes the curve of
its first ok process (bench.analysis.aggregate's ``shown_repeat``): every process starts from the same
weights and batches.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.labels import GROUP_AXES, eager_mode, framework_order, loss_labels, mode_rank, variant_rank
from bench.results.load import STEP_LOSSES

if TYPE_CHECKING:
    from bench.results.load import RunSet

PARITY_SMOOTHING_STEPS = 5
PARITY_TOLERANCE = 0.10
# bf16 keeps 8 bits of mantissa (fp16 10): each framework's mixed-precision recipe rounds different
# intermediates, so its curves may drift further apart than fp32's.
PARITY_TOLERANCES: dict[str, float] = {"fp32": PARITY_TOLERANCE, "bf16": 0.20, "fp16": 0.15}
KEY = ["run_id", *GROUP_AXES]

# framework -> loss -> (raw change from step 0, its smoothed curve)
Curves = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]


@dataclass
class Parity:
    """One pair of frameworks compared in one group."""

    key: dict[str, Any]  # run_id and the group axes
    cells: dict[str, dict[str, Any]]  # framework -> its cell row (two of them, in framework order)
    n_steps: int
    rel_diff: dict[str, float]  # loss name -> mean |difference of smoothed changes| / largest change
    loss_labels: dict[str, str]  # loss name -> label, in the family's order
    curves: Curves = field(repr=False)
    changes: dict[str, dict[str, float]] = field(default_factory=dict)  # loss -> framework -> net change
    start_gap: dict[str, float] = field(default_factory=dict)  # loss -> |L0 a - L0 b| / largest change
    figure: str = ""  # relative path of its figure, set when the report names it

    @property
    def run_id(self) -> str:
        return str(self.key["run_id"])

    @property
    def model(self) -> str:
        return str(self.key["model"])

    @property
    def worst(self) -> float:
        return max(self.rel_diff.values())

    @property
    def tolerance(self) -> float:
        return tolerance_for(self.key.get("precision"))

    def loss_within(self, name: str) -> bool:
        """This loss moved alike on both sides: within the tolerance, or no further apart than the
        curves' step-0 gap (dropout masks differ from the first step on)."""
        rel = self.rel_diff[name]
        return rel <= self.tolerance or rel <= self.start_gap.get(name, 0.0)

    @property
    def within_tolerance(self) -> bool:
        return all(self.loss_within(name) for name in self.rel_diff)


def tolerance_for(precision: Any) -> float:
    return PARITY_TOLERANCES.get(str(precision), PARITY_TOLERANCE)


def smooth(x: np.ndarray, window: int = PARITY_SMOOTHING_STEPS) -> np.ndarray:
    return pd.Series(x, dtype=float).rolling(window, min_periods=1).mean().to_numpy()


def change_from_start(x: np.ndarray) -> np.ndarray:
    """The loss curve as its change from step 0."""
    x = np.asarray(x, dtype=float)
    return x - x[0] if len(x) else x


def _relative(value: float, scale: float) -> float:
    return value / scale if scale > 0 else (0.0 if value == 0 else math.inf)


def moved_by(a: np.ndarray, b: np.ndarray) -> float:
    """How far training moved the loss: the largest |smoothed change from step 0| of either curve."""
    return float(max(np.max(np.abs(smooth(change_from_start(c)))) for c in (a, b)))


def relative_change_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the two smoothed changes from step 0, relative to the largest
    change either curve makes."""
    sa, sb = smooth(change_from_start(a)), smooth(change_from_start(b))
    return _relative(float(np.mean(np.abs(sa - sb))), moved_by(a, b))


def relative_start_gap(a: np.ndarray, b: np.ndarray) -> float:
    """The curves' gap at step 0, relative to the largest change either makes."""
    return _relative(abs(float(a[0]) - float(b[0])), moved_by(a, b))


def pick_for_parity(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The framework's cell to compare: eager/default first, then eager, then the earliest mode."""
    if not rows:
        return None
    return min(
        rows,
        key=lambda r: (
            r["mode"] != eager_mode(r["framework"]),
            r["variant"] != "default",
            mode_rank(r["framework"], r["mode"]),
            variant_rank(r["framework"], r["variant"]),
        ),
    )


def _cell_steps(steps: pd.DataFrame, cell: dict[str, Any]) -> pd.DataFrame:
    """The steps of the cell's shown process (its first ok one; repeat 1 for older runs)."""
    mine = steps[(steps["run_id"] == cell["run_id"]) & (steps["cell_id"] == cell["cell_id"])]
    if "repeat" in mine:
        shown = cell.get("shown_repeat")
        rep = 1 if shown is None or shown != shown else int(shown)
        mine = mine[mine["repeat"].fillna(1).astype(int) == rep]
    return mine.sort_values("step")


def _stored_loss_names(frames: list[pd.DataFrame]) -> list[str]:
    """Loss names these steps recorded (used when the model's family is not registered)."""
    prefix = f"{STEP_LOSSES}."
    cols = [c for c in frames[0].columns if c.startswith(prefix)] if frames else []
    return [c.removeprefix(prefix) for c in cols if any(f[c].notna().any() for f in frames)]


def _loss_curves(s: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """A cell's loss curves in step order, keeping only steps that recorded every loss."""
    cols = [f"{STEP_LOSSES}.{n}" for n in names]
    if any(c not in s.columns for c in cols):
        return {n: np.empty(0) for n in names}
    s = s.dropna(subset=cols)
    return {n: s[c].to_numpy(dtype=float) for n, c in zip(names, cols, strict=True)}


def loss_parity(runs: RunSet, table: pd.DataFrame) -> list[Parity]:
    """Every pair of frameworks that ran ok in a group, in framework order, groups in table order."""
    out: list[Parity] = []
    if table.empty or runs.steps is None or runs.steps.empty:
        return out
    ok = table[table["status"] == "ok"]
    for key, group in ok.groupby(KEY, sort=False):
        rows = group.to_dict(orient="records")
        chosen = {}
        for fw in framework_order(group["framework"]):
            pick = pick_for_parity([r for r in rows if r["framework"] == fw])
            if pick is not None:
                chosen[fw] = pick
        if len(chosen) < 2:
            continue
        key_d = dict(zip(KEY, key, strict=True))
        frames = {fw: _cell_steps(runs.steps, c) for fw, c in chosen.items()}
        labels = loss_labels(str(key_d["model"]), _stored_loss_names(list(frames.values())))
        if not labels:
            continue
        names = list(labels)
        raw = {fw: _loss_curves(s, names) for fw, s in frames.items()}
        for a, b in itertools.combinations(chosen, 2):
            n = min(len(raw[a][names[0]]), len(raw[b][names[0]]))
            if n < 2:
                continue
            cut = {fw: {x: raw[fw][x][:n] for x in names} for fw in (a, b)}
            out.append(
                Parity(
                    key=key_d,
                    cells={a: chosen[a], b: chosen[b]},
                    n_steps=n,
                    rel_diff={x: relative_change_difference(cut[a][x], cut[b][x]) for x in names},
                    loss_labels=labels,
                    curves={fw: {x: (change_from_start(c), smooth(change_from_start(c)))
                                 for x, c in cut[fw].items()} for fw in (a, b)},
                    changes={x: {fw: float(smooth(change_from_start(cut[fw][x]))[-1]) for fw in (a, b)}
                             for x in names},
                    start_gap={x: relative_start_gap(cut[a][x], cut[b][x]) for x in names},
                )
            )
    return out
