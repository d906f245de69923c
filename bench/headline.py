"""The headline, as plain records: per run, model, device and batch, each framework's best SHIPPED
DEFAULT configuration (default variant, fp32: bench.labels.SHIPPED_DEFAULTS; any mode) and, apart,
its best TUNED configuration (any mode, variant or precision), the ratio between the frameworks with
its 95% CI (bench.stats.ratio_ci, paired by schedule block), whether each pick is clearly faster than
its runner-up, and what compiling costs up front (first step and time to steady state).

Choosing "the best of several modes" by the minimum of their medians favours the luckiest one; the
headline therefore gives the runner-up's ratio and interval beside each pick: when that interval holds
1 the choice of mode is within noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from .analysis import compare, fastest, frameworks_shown, records, shipped, timed
from .labels import HEADLINE_AXES, compiles
from .stats import RatioCI, num

KEY = ["run_id", *HEADLINE_AXES]


@dataclass
class Pick:
    """One framework's best configuration among some cells, and how sure that choice is."""

    row: dict[str, Any]
    runner_up: dict[str, Any] | None = None
    vs_runner_up: RatioCI | None = None  # runner-up's step time / the pick's (> 1: the pick is faster)

    @property
    def within_noise(self) -> bool:
        """The runner-up's ratio interval holds 1: the pick is not clearly the fastest."""
        c = self.vs_runner_up
        return bool(c and c.has_ci and c.low is not None and c.low <= 1.0)


@dataclass
class Ranking:
    """The frameworks' picks, fastest first, and the ratio of the first two."""

    picks: list[tuple[str, Pick]]
    ratio: RatioCI | None = None  # second's step time / first's (> 1: the first is faster)


@dataclass
class CompileCost:
    """A framework's fastest compiled mode (shipped default) against its eager mode: what the
    compilation costs up front and what it buys per step."""

    framework: str
    mode: str
    first_s: float | None
    steady_s: float | None  # time before the steady state (bench.aggregate)
    eager_first_s: float | None = None
    eager_steady_s: float | None = None
    warm_first_s: float | None = None  # first step of the processes that found the compile cache warm
    n_cold: int | None = None  # processes behind first_s / steady_s
    speedup: RatioCI | None = None  # eager step time / compiled (> 1: compiled faster)


@dataclass
class Headline:
    key: dict[str, Any]  # run_id and the headline axes
    default: dict[str, Pick | None]  # framework (every one shown) -> its best shipped-default cell
    tuned: dict[str, Pick | None]  # framework -> its best cell, any variant or precision
    default_ranking: Ranking
    tuned_ranking: Ranking
    costs: list[CompileCost]


def pick(rows: list[dict[str, Any]]) -> Pick | None:
    have = sorted((r for r in rows if timed(r)), key=lambda r: r["step_time_median_s"])
    if not have:
        return None
    runner = have[1] if len(have) > 1 else None
    return Pick(have[0], runner, compare(have[0], runner) if runner else None)


def ranking(picks: dict[str, Pick | None]) -> Ranking:
    have = sorted(((fw, p) for fw, p in picks.items() if p), key=lambda kv: kv[1].row["step_time_median_s"])
    ratio = compare(have[0][1].row, have[1][1].row) if len(have) >= 2 else None
    return Ranking(have, ratio)


def compile_cost(rows: list[dict[str, Any]], fw: str) -> CompileCost | None:
    mine = [r for r in shipped(rows) if r["framework"] == fw]
    best = fastest([r for r in mine if compiles(fw, r["mode"])])
    if best is None:
        return None
    cost = CompileCost(fw, str(best["mode"]), num(best.get("time_to_first_step_s")),
                       num(best.get("time_to_steady_state_s")))
    cost.eager_first_s, cost.eager_steady_s = num(best.get("eager_first_s")), num(best.get("eager_steady_s"))
    cost.warm_first_s = num(best.get("warm_first_step_s"))
    cost.n_cold = int(best["n_cold_starts"]) if num(best.get("n_cold_starts")) is not None else None
    cost.speedup = best.get("speedup_ci") if isinstance(best.get("speedup_ci"), RatioCI) else None
    return cost


def headlines(table: pd.DataFrame) -> list[Headline]:
    out: list[Headline] = []
    if table.empty:
        return out
    shown = frameworks_shown(table)
    ok = table[table["status"] == "ok"]
    for key, group in ok.groupby(KEY, sort=False):
        rows = records(group)
        default = {fw: pick([r for r in shipped(rows) if r["framework"] == fw]) for fw in shown}
        tuned = {fw: pick([r for r in rows if r["framework"] == fw]) for fw in shown}
        costs = [c for fw in shown if (c := compile_cost(rows, fw))]
        out.append(Headline(dict(zip(KEY, key, strict=True)), default, tuned, ranking(default),
                            ranking(tuned), costs))
    return out
