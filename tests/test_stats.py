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
    assert s["step_time_ci95_low_s"] <= 3.0 <= s["step_time_ci95_high_s"]


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
