import numpy as np
import pytest

from bench.stats import bootstrap_median_ci, summarize_step_times


def test_summary_of_known_samples():
    s = summarize_step_times([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s["n_steps"] == 5
    assert s["step_time_median_s"] == 3.0
    assert s["step_time_mean_s"] == 3.0
    assert s["step_time_std_s"] == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1))
    assert s["step_time_p10_s"] == pytest.approx(1.4)
    assert s["step_time_p90_s"] == pytest.approx(4.6)
    assert s["step_time_iqr_s"] == pytest.approx(2.0)
    assert s["step_time_cv"] == pytest.approx(s["step_time_std_s"] / 3.0)
    assert s["step_time_ci_low_s"] <= 3.0 <= s["step_time_ci_high_s"]


def test_bootstrap_ci_is_deterministic_and_narrows_with_more_samples():
    rng = np.random.default_rng(1)
    small = rng.normal(1.0, 0.1, 10)
    large = rng.normal(1.0, 0.1, 1000)
    a, b = bootstrap_median_ci(small), bootstrap_median_ci(small)
    assert a == b
    assert (large_w := np.diff(bootstrap_median_ci(large))[0]) < np.diff(a)[0]
    assert large_w > 0


def test_single_sample_and_empty():
    assert bootstrap_median_ci([2.5]) == (2.5, 2.5)
    with pytest.raises(ValueError):
        summarize_step_times([])


def test_drift_flags_steps_still_speeding_up_and_not_steady_ones():
    from bench.stats import step_time_drift

    assert step_time_drift([1.8, 1.85, 1.6, 1.45, 1.35, 1.25]) == pytest.approx((1.8 - 1.35) / 1.525)
    assert abs(step_time_drift([1.0, 1.01, 0.99, 1.0, 1.02, 0.98])) < 0.03
    assert step_time_drift([1.0, 2.0, 3.0]) is None
    assert summarize_step_times([1.0, 1.0, 1.0, 1.0])["step_time_drift"] == 0.0


# --------------------------------------------------------------------------- order statistics, ratios


def test_median_ci_states_its_binomial_coverage():
    from bench.stats import median_ci, median_ci_coverage, order_statistic_coverage

    assert median_ci_coverage(1) is None and median_ci([3.0]) is None
    assert median_ci([3.0, 1.0, 2.0]) == (1.0, 3.0, 0.75)  # [min, max] of 3: 1 - 2/8
    assert median_ci([5, 1, 2, 4, 3]) == (1.0, 5.0, 0.9375)  # 1 - 2/32
    assert median_ci_coverage(6) == pytest.approx(1 - 2 / 64)  # the first n reaching 95%
    # n = 10: [x(2), x(9)] covers 1 - 2·(1 + 10)/1024; [x(3), x(8)] would cover only 89%
    x = list(range(1, 11))
    assert median_ci(x) == (2.0, 9.0, pytest.approx(1 - 2 * 11 / 1024))
    assert order_statistic_coverage(10, 3) == pytest.approx(1 - 2 * 56 / 1024)
    assert order_statistic_coverage(10, 3) < 0.95
    # the narrowest interval with >= 95%, for any n
    for n in range(6, 60):
        lo, _hi, cov = median_ci(np.arange(n, dtype=float))
        k = int(lo) + 1
        assert cov >= 0.95 and (k + 1 > (n + 1) // 2 or order_statistic_coverage(n, k + 1) < 0.95)


def test_process_step_times_use_the_order_statistic_ci():
    s = summarize_step_times([5.0, 1.0, 4.0, 2.0, 3.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    assert (s["step_time_ci_low_s"], s["step_time_ci_high_s"]) == (2.0, 9.0)
    assert s["step_time_ci_coverage"] == pytest.approx(1 - 2 * 11 / 1024)  # [x(2), x(9)] of 10


def test_ratio_ci_paired_by_block_known_values():
    from scipy.stats import t

    from bench.stats import A_FASTER, ratio_ci

    a = {0: 1.0, 1: 1.0, 2: 1.0}
    b = {0: 1.1, 1: 1.12, 2: 1.14}
    d = np.log([1.1, 1.12, 1.14])
    half = t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    r = ratio_ci(a, b)
    assert r.method == "paired" and r.n == 3
    assert r.ratio == pytest.approx(np.exp(d.mean()))
    assert (r.low, r.high) == (pytest.approx(np.exp(d.mean() - half)), pytest.approx(np.exp(d.mean() + half)))
    assert r.verdict == A_FASTER  # B's steps take longer: A faster
    wide = ratio_ci(a, {0: 1.1, 1: 1.2, 2: 1.3})  # t(2 df) = 4.30: three noisy pairs do not decide
    assert wide.low < 1 < wide.high and wide.verdict == "no clear winner"
    inv = r.inverted()
    assert inv.ratio == pytest.approx(1 / r.ratio) and inv.low == pytest.approx(1 / r.high)


def test_pairing_by_block_removes_the_machine_s_mood():
    """A machine 20% slower in some blocks: the 5% gap is clear when paired, lost when not."""
    from bench.stats import A_FASTER, NO_CLEAR_WINNER, ratio_ci

    mood = [1.0, 1.2, 0.9, 1.15, 1.0]
    noise = [1.0, 1.004, 0.997, 1.002, 0.999]
    a = {k: 0.100 * m for k, m in enumerate(mood)}
    b = {k: 0.105 * m * e for k, (m, e) in enumerate(zip(mood, noise, strict=True))}
    paired = ratio_ci(a, b)
    assert paired.method == "paired" and paired.verdict == A_FASTER
    assert 1.0 < paired.low < 1.05 < paired.high < 1.06
    unpaired = ratio_ci(list(a.values()), list(b.values()))
    assert unpaired.method == "unpaired" and unpaired.verdict == NO_CLEAR_WINNER


def test_ratio_ci_with_too_few_processes_has_no_interval():
    from bench.stats import NO_CI, ratio_ci

    one = ratio_ci({None: 2.0}, {None: 3.0})
    assert one.ratio == pytest.approx(1.5) and one.low is None and one.verdict == NO_CI
    # one common block: not paired; two processes a side: Welch on the logs
    welch = ratio_ci({0: 1.0, 1: 1.1}, {1: 2.0, 2: 2.2})
    assert welch.method == "unpaired" and welch.low is not None
    assert ratio_ci({}, {0: 1.0}) is None
