"""Step-time statistics: summary of one cell's synchronised per-step times."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 2000


def num(v: Any) -> float | None:
    """A finite float, or None for None/NaN/inf/booleans/non-numbers (stored cells mix all of these)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def bootstrap_median_ci(
    samples: Sequence[float], confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the median (deterministic for a given seed)."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    medians = np.median(x[idx], axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(medians, [alpha, 1.0 - alpha])
    return float(low), float(high)


def step_time_drift(samples: Sequence[float]) -> float | None:
    """Relative fall of the median from the first half of the timed steps to the second half:
    positive when steps were still getting faster (warm-up not over), None under 4 samples."""
    x = np.asarray(samples, dtype=float)
    if x.size < 4:
        return None
    half = x.size // 2
    return float((np.median(x[:half]) - np.median(x[-half:])) / np.median(x))


def summarize_step_times(samples: Sequence[float]) -> dict[str, float | int]:
    """The step_time_* fields of bench.records.CellResult, from per-step seconds."""
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("no samples")
    p10, q1, median, q3, p90 = np.quantile(x, [0.10, 0.25, 0.50, 0.75, 0.90])
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    low, high = bootstrap_median_ci(x)
    return {
        "n_steps": int(x.size),
        "step_time_median_s": float(median),
        "step_time_mean_s": mean,
        "step_time_std_s": std,
        "step_time_min_s": float(x.min()),
        "step_time_p10_s": float(p10),
        "step_time_p90_s": float(p90),
        "step_time_iqr_s": float(q3 - q1),
        "step_time_cv": std / mean if mean > 0 else 0.0,
        "step_time_ci95_low_s": low,
        "step_time_ci95_high_s": high,
        "step_time_drift": step_time_drift(x),
    }
