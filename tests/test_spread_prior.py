"""The run's pooled between-process spread (bench.stats.SpreadPrior) and how it moderates a paired
ratio's interval: a few lucky pairs cannot make a narrow interval; many pairs speak for themselves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import t as student

from bench.analysis.spread import prior_key, priors_of_rows
from bench.stats import MEDIAN_WIDENING, SPREAD_PRIOR_DF, SpreadPrior, median_ratio_ci, pooled_log_spread


def test_pooled_log_spread_weights_cells_by_their_degrees_of_freedom() -> None:
    a, b = [1.0, 1.1, 1.2], [2.0, 2.2]
    p = pooled_log_spread([a, b, [5.0], [], [0.0, -1.0]])  # one value, none, or no positive one: nothing
    want = (np.log(a).var(ddof=1) * 2 + np.log(b).var(ddof=1)) / 3
    assert p == SpreadPrior(pytest.approx(want), 3.0, 2)
    assert pooled_log_spread([[1.0], []]) is None


def test_three_lucky_pairs_get_the_runs_spread() -> None:
    a = {0: 1.0, 1: 1.0, 2: 1.0}
    b = {0: 1.300, 1: 1.301, 2: 1.302}  # three pairs that agree to 0.1%
    prior = SpreadPrior(var=0.10**2, df=30, cells=15)  # processes vary by 10% in this run
    plain, moderated = median_ratio_ci(a, b), median_ratio_ci(a, b, prior=prior)
    assert plain.method == "paired" and moderated.method == "paired+prior" and moderated.df == 6.0
    assert plain.high / plain.low < 1.01  # trusting three pairs: ±0.3%
    var = (SPREAD_PRIOR_DF * 2 * 0.01 + 2 * np.log([1.300, 1.301, 1.302]).var(ddof=1)) / 6
    half = student.ppf(0.975, 6) * math.sqrt(var / 3) * MEDIAN_WIDENING
    assert math.log(moderated.high / moderated.ratio) == pytest.approx(half)
    assert moderated.decision() == "A faster" and moderated.low < 1.2  # still decided, honestly wide


def test_many_pairs_outweigh_the_prior() -> None:
    rng = np.random.default_rng(3)
    d = rng.normal(0.2, 0.05, 60)
    a = {k: 1.0 for k in range(60)}
    b = {k: float(math.exp(x)) for k, x in enumerate(d)}
    plain = median_ratio_ci(a, b)
    moderated = median_ratio_ci(a, b, prior=SpreadPrior(var=0.10**2 / 2, df=30))  # pairs' sd 10%, not 5%
    width = math.log(moderated.high / moderated.low) / math.log(plain.high / plain.low)
    assert 1.0 < width < 1.15  # the weight of 4 pairs against 59 degrees of freedom of data


def test_the_prior_is_per_run_and_scenario() -> None:
    rows = [
        {"run_id": "r1", "scenario": "train", "status": "ok", "process_medians": {0: 1.0, 1: 1.2}},
        {"run_id": "r1", "scenario": "generate", "status": "ok", "process_medians": {0: 1.0, 1: 2.0}},
        {"run_id": "r1", "scenario": float("nan"), "status": "ok", "process_medians": {0: 1.0, 1: 1.1}},
        {"run_id": "r2", "status": "ok", "process_medians": {0: 3.0, 1: 3.0}},
        {"run_id": "r2", "status": "failed", "process_medians": {0: 1.0, 1: 9.0}},
    ]
    priors = priors_of_rows(rows)
    assert set(priors) == {("r1", "train"), ("r1", "generate"), ("r2", "train")}
    assert prior_key(rows[2]) == ("r1", "train")  # stored before the scenario axis: training
    assert priors[("r1", "train")].cells == 2 and priors[("r2", "train")].var == 0.0
    assert priors[("r1", "generate")].var == pytest.approx(np.log([1.0, 2.0]).var(ddof=1))
