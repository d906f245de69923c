"""The headline, as plain records: per run, model, device and batch, the comparisons declared before
the data, each with the ratio of the two medians printed beside it, its 95% interval from the paired
processes and a verdict with a ±5% indifference zone; and what compiling costs up front.

- **Shipped default**: each framework's cell in its declared default mode
  (``FrameworkDescriptor.default_mode``: what its users train in without asking for anything, e.g. a
  traced step or eager execution), default variant, fp32 (``bench.analysis.comparisons``). No choice is made
  on the data, so the interval needs no correction.
- **Tuned**: each framework's fastest cell among its candidates (any mode, variant or precision).
  Picking the fastest favours the luckiest, so the interval of the tuned ratio is widened (Bonferroni)
  for the k_A × k_B comparisons the two picks were chosen among. A framework whose only candidate is its
  default cell was not tuned: "tuned: not measured".
- **Verdict** (``bench.stats.RatioCI.decision``): "A faster" / "B faster" when the interval lies
  entirely beyond ±5%, "tie" when it lies inside, "inconclusive" otherwise (with the number of pairs;
  bench.plan.adaptive added pairs to the shipped-default comparisons that were, up to a cap and a budget).

Ratios: ``bench.stats.median_ratio_ci`` on the cells' process medians, paired by schedule block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from bench.analysis.comparisons import is_default_cell
from bench.analysis.tables import compare, fastest, frameworks_shown, records, shipped, timed
from bench.labels import HEADLINE_AXES, compiles, descriptor, is_shipped_default
from bench.stats import MARGIN, RatioCI, num

KEY = ["run_id", *HEADLINE_AXES]
RULE = (
    "shipped default: each framework's declared default mode (the mode its users train in without "
    "asking for anything), its default variant, fp32; tuned: each framework's fastest cell of any mode, "
    "variant or precision, the interval widened (Bonferroni) for the k_A × k_B comparisons the picks were "
    f"made among. Verdicts use an indifference zone of ±{MARGIN:.0%}: faster when the interval lies beyond "
    "it, tie when it lies inside, inconclusive otherwise."
)


@dataclass
class Pick:
    """One framework's cell in a comparison, and (tuned) how sure the choice among its candidates is."""

    row: dict[str, Any]
    runner_up: dict[str, Any] | None = None
    vs_runner_up: RatioCI | None = None  # runner-up's step time / the pick's (> 1: the pick is faster)
    candidates: int = 1  # cells it was picked among

    @property
    def within_noise(self) -> bool:
        """The runner-up's ratio interval holds 1: the pick is not clearly the fastest."""
        c = self.vs_runner_up
        return bool(c and c.has_ci and c.low is not None and c.low <= 1.0)


@dataclass
class Ranking:
    """The frameworks' picks, fastest first (by the medians), and the ratio of the first two."""

    picks: list[tuple[str, Pick]]
    ratio: RatioCI | None = None  # second's median step time / first's (> 1: the first is faster)
    not_measured: list[str] = field(default_factory=list)  # frameworks without a candidate of their own

    @property
    def decision(self) -> str | None:
        return self.ratio.decision() if self.ratio is not None else None


@dataclass
class CompileCost:
    """A framework's fastest compiled mode (shipped default) against its eager mode: what the
    compilation costs up front and what it buys per step."""

    framework: str
    mode: str
    first_s: float | None
    steady_s: float | None  # time before the steady state (bench.analysis.aggregate)
    eager_first_s: float | None = None
    eager_steady_s: float | None = None
    warm_first_s: float | None = None  # first step of the processes that found the compile cache warm
    n_cold: int | None = None  # processes behind first_s / steady_s
    speedup: RatioCI | None = None  # eager step time / compiled (> 1: compiled faster)


@dataclass
class Headline:
    key: dict[str, Any]  # run_id and the headline axes
    default: dict[str, Pick | None]  # framework (every one shown) -> its shipped-default cell
    tuned: dict[str, Pick | None]  # framework -> its fastest candidate, any mode, variant or precision
    default_ranking: Ranking
    tuned_ranking: Ranking
    costs: list[CompileCost]


def default_pick(rows: list[dict[str, Any]]) -> Pick | None:
    """The framework's shipped-default cell (declared mode, default variant, fp32), when it ran."""
    mine = [r for r in rows if timed(r) and is_default_cell(r)]
    return Pick(mine[0]) if mine else None


def pick(rows: list[dict[str, Any]]) -> Pick | None:
    """The fastest of the candidates (by median), with the runner-up and their ratio."""
    have = sorted((r for r in rows if timed(r)), key=lambda r: r["step_time_median_s"])
    if not have:
        return None
    runner = have[1] if len(have) > 1 else None
    return Pick(have[0], runner, compare(have[0], runner) if runner else None, len(have))


def ranking(picks: dict[str, Pick | None], *, tuned: bool = False) -> Ranking:
    have = sorted(((fw, p) for fw, p in picks.items() if p), key=lambda kv: kv[1].row["step_time_median_s"])
    ratio = None
    if len(have) >= 2:
        k = have[0][1].candidates * have[1][1].candidates if tuned else 1
        ratio = compare(have[0][1].row, have[1][1].row, candidates=k)
    return Ranking(have, ratio)


def compile_cost(rows: list[dict[str, Any]], fw: str) -> CompileCost | None:
    """The fastest compiled cell in the shipped-default variant and precision; where none ran (a short
    profile may run a compiled mode only in a tuned variant), the fastest compiled fp32 cell, named
    with its variant."""
    compiled = [r for r in rows if r["framework"] == fw and compiles(fw, r["mode"])]
    best = fastest(shipped(compiled)) or fastest([r for r in compiled if r.get("precision") == "fp32"])
    if best is None:
        return None
    variant = best.get("variant", "default")
    mode = str(best["mode"]) + (f" ({variant})" if variant != "default" else "")
    cost = CompileCost(fw, mode, num(best.get("time_to_first_step_s")),
                       num(best.get("time_to_steady_state_s")))
    cost.eager_first_s, cost.eager_steady_s = num(best.get("eager_first_s")), num(best.get("eager_steady_s"))
    cost.warm_first_s = num(best.get("warm_first_step_s"))
    cost.n_cold = int(best["n_cold_starts"]) if num(best.get("n_cold_starts")) is not None else None
    cost.speedup = best.get("speedup_ci") if isinstance(best.get("speedup_ci"), RatioCI) else None
    return cost


def _of_scenario(table: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """The ok rows of one scenario (a run stored before the scenario axis trained only)."""
    ok = table[table["status"] == "ok"]
    if "scenario" not in ok.columns:
        return ok if scenario == "train" else ok[:0]
    return ok[ok["scenario"] == scenario]


def headlines(table: pd.DataFrame) -> list[Headline]:
    """The training headline (the train scenario's groups; generation has its own, below)."""
    out: list[Headline] = []
    if table.empty:
        return out
    shown = frameworks_shown(table)
    ok = _of_scenario(table, "train")
    for key, group in ok.groupby(KEY, sort=False):
        rows = records(group)
        default = {fw: default_pick([r for r in rows if r["framework"] == fw]) for fw in shown}
        tuned = {fw: pick([r for r in rows if r["framework"] == fw]) for fw in shown}
        costs = [c for fw in shown if (c := compile_cost(rows, fw))]
        tuned_ranking = ranking(tuned, tuned=True)
        # Tuned needs a candidate beside the shipped default: otherwise that framework was not tuned.
        tuned_ranking.not_measured = [fw for fw, p in tuned.items()
                                      if p is not None and not any(timed(r) and not is_default_cell(r)
                                                                   for r in rows if r["framework"] == fw)]
        out.append(Headline(dict(zip(KEY, key, strict=True)), default, tuned, ranking(default),
                            tuned_ranking, costs))
    return out


@dataclass
class GenerationHeadline:
    """Per model, device and batch of the generate scenario: each framework's fastest shipped way to
    generate (its native modes: eager or graph, default variant, fp32) and its fastest deployed runtime,
    by batch-1 latency p50; each pair of picks compared across frameworks (Bonferroni-widened for the
    candidates, as the tuned training pick)."""

    key: dict[str, Any]
    shipped: dict[str, Pick | None]
    deployed: dict[str, Pick | None]
    shipped_ranking: Ranking
    deployed_ranking: Ranking


def is_deployed_runtime(row: dict[str, Any]) -> bool:
    d = descriptor(str(row.get("framework")))
    return bool(d and row.get("mode") in d.mode_names and d.mode(str(row["mode"])).runtime)


def generation_headlines(table: pd.DataFrame) -> list[GenerationHeadline]:
    out: list[GenerationHeadline] = []
    if table.empty:
        return out
    shown = frameworks_shown(table)
    for key, group in _of_scenario(table, "generate").groupby(KEY, sort=False):
        rows = [r for r in records(group) if is_shipped_default(r)]
        shipped = {fw: pick([r for r in rows if r["framework"] == fw and not is_deployed_runtime(r)])
                   for fw in shown}
        deployed = {fw: pick([r for r in rows if r["framework"] == fw and is_deployed_runtime(r)])
                    for fw in shown}
        out.append(GenerationHeadline(dict(zip(KEY, key, strict=True)), shipped, deployed,
                                      ranking(shipped, tuned=True), ranking(deployed, tuned=True)))
    return out
