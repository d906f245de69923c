"""Loss-curve parity: do two frameworks train the same model the same way? (pandas only)

Every framework starts from the same weights and sees the same batches, but their random streams
differ (dropout masks, for instance), so the curves are close, not equal. Per group (one run, every
axis but framework, mode and variant equal), each framework that ran contributes one cell (eager and
default first), and EVERY pair of those frameworks is compared, on each of the model family's named
losses: the curves are smoothed with a trailing mean over PARITY_SMOOTHING_STEPS steps, and a pair
whose mean absolute difference exceeds the precision's tolerance (PARITY_TOLERANCE for fp32, wider
for the reduced precisions: PARITY_TOLERANCES) of the loss scale (the mean magnitude of both smoothed
curves) on any loss is flagged. A cell measured in several processes contributes the curve of its
first ok process (bench.aggregate's ``shown_repeat``): every process starts from the same weights
and batches.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .labels import GROUP_AXES, eager_mode, framework_order, loss_labels, mode_rank, variant_rank
from .store import STEP_LOSSES

if TYPE_CHECKING:
    from .store import RunSet

PARITY_SMOOTHING_STEPS = 5
PARITY_TOLERANCE = 0.10
# bf16 keeps 8 bits of mantissa (fp16 10): each framework's mixed-precision recipe rounds different
# intermediates, so its curves may drift further apart than fp32's.
PARITY_TOLERANCES: dict[str, float] = {"fp32": PARITY_TOLERANCE, "bf16": 0.20, "fp16": 0.15}
KEY = ["run_id", *GROUP_AXES]

Curves = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]  # framework -> loss -> (raw, smoothed)


@dataclass
class Parity:
    """One pair of frameworks compared in one group."""

    key: dict[str, Any]  # run_id and the group axes
    cells: dict[str, dict[str, Any]]  # framework -> its cell row (two of them, in framework order)
    n_steps: int
    rel_diff: dict[str, float]  # loss name -> mean |smoothed difference| / loss scale
    loss_labels: dict[str, str]  # loss name -> label, in the family's order
    curves: Curves = field(repr=False)
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

    @property
    def within_tolerance(self) -> bool:
        return self.worst <= self.tolerance


def tolerance_for(precision: Any) -> float:
    return PARITY_TOLERANCES.get(str(precision), PARITY_TOLERANCE)


def smooth(x: np.ndarray, window: int = PARITY_SMOOTHING_STEPS) -> np.ndarray:
    return pd.Series(x, dtype=float).rolling(window, min_periods=1).mean().to_numpy()


def relative_curve_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the smoothed curves, relative to their mean magnitude."""
    sa, sb = smooth(a), smooth(b)
    scale = float(np.mean((np.abs(sa) + np.abs(sb)) / 2.0))
    diff = float(np.mean(np.abs(sa - sb)))
    return diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)


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
                    rel_diff={x: relative_curve_difference(cut[a][x], cut[b][x]) for x in names},
                    loss_labels=labels,
                    curves={fw: {x: (c, smooth(c)) for x, c in cut[fw].items()} for fw in (a, b)},
                )
            )
    return out
