"""The day-one prior: the between-run noise a one-run baseline cannot show, taken from the calibration.

A baseline of one run holds only the spread between its processes (or steps), and runs of unchanged
code differ by more than that: the machine's state moves between runs. With a history (>= 2 runs),
bench.gate.history measures that spread; on day one there is none, so the gate borrows it from the
calibration this project measured (reports/calibration/gate-history: 12 unchanged runs of the
reduced matrix, 8 cells, on the 2-core reference machine within 1 h 45 min):

    the between-run standard deviation of a cell's log step time, pooled over cells: 0.0350
    (88 degrees of freedom); of its log throughput: 0.0378 (88). DAY_ONE_SD rounds both to 3.6%.

A one-run check of step time or throughput then must ALSO pass the history's prediction test with
that prior as its variance (k = 1 run: sd of the difference sqrt(2)·3.6% ≈ 5.1%, Student t with
DAY_ONE_DF degrees of freedom), besides the within-run test: its p is the larger of the two.
``scripts/gate_calibration.py`` recomputes the pooled figures and the false-alarm and detection rates
of one-run baselines with and without the prior. On another machine the figure is an assumption:
set ``day_one_sd`` in [tool.framebench.gate] (0 turns the prior off) or keep a history instead.
"""

from __future__ import annotations

from bench.gate.history import Pool

DAY_ONE_SD = 0.036  # relative between-run sd of one run's step time and throughput (see above)
DAY_ONE_DF = 88  # degrees of freedom of the calibration's pooled variance
PRIOR_METRICS = ("step_time", "throughput")


def day_one_pools(sd: float) -> dict[str, Pool]:
    """The prior, per metric, in the form of a history's pooled variance (bench.gate.history.Pool);
    empty when ``sd`` is 0 (the prior turned off)."""
    if sd <= 0:
        return {}
    return {m: Pool(sd * sd, DAY_ONE_DF) for m in PRIOR_METRICS}


def prior_text(sd: float) -> str:
    return (f"day-one prior: between-run sd {sd * 100:.1f}% from the calibration "
            "(reports/calibration/gate-history)")
