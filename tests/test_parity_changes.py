"""Parity on loss changes (bench.analysis.parity): how training moves a loss, not its level, is compared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from report_fixtures import cell_id, standard_cells, write_run

from bench.analysis.parity import (
    PARITY_TOLERANCE,
    loss_parity,
    relative_change_difference,
    relative_start_gap,
)
from bench.analysis.tables import comparison_frame
from bench.results.load import load_runs

STEPS = np.arange(24)


def test_a_large_level_that_barely_moves_no_longer_hides_different_updates() -> None:
    # Like the VAE: ~543, moving by ~1. One side's updates move it half as far.
    a = 543.4 - 1.2 * (1 - np.exp(-STEPS / 8))
    b = 543.4 - 0.6 * (1 - np.exp(-STEPS / 8))
    level_difference = np.mean(np.abs(a - b)) / np.mean(np.abs(a))
    assert level_difference < 0.001  # what the level comparison printed: "0.0%"
    assert relative_change_difference(a, b) > 0.3  # the changes are far apart


def test_an_offset_level_with_the_same_changes_agrees() -> None:
    a = 1.3 - 0.5 * (1 - np.exp(-STEPS / 8))
    assert relative_change_difference(a, a + 0.4) < 1e-12
    assert relative_start_gap(a, a + 0.4) > 0.5


def test_a_difference_no_larger_than_the_step0_gap_is_not_divergence() -> None:
    a = 1.38 - 0.04 * (1 - np.exp(-STEPS / 8))
    b = a.copy()
    b[0] += 0.01  # another dropout mask at step 0 only: every later change differs by it
    rel, gap = relative_change_difference(a, b), relative_start_gap(a, b)
    assert rel > PARITY_TOLERANCE and rel <= gap


def test_the_report_flags_changes_that_differ(tmp_path: Path) -> None:
    same = write_run(tmp_path / "same", standard_cells())
    runs = load_runs([same])
    (p,) = loss_parity(runs, comparison_frame(runs))
    assert p.within_tolerance and set(p.changes["g"]) == {"tensorflow", "torch"}
    assert p.changes["g"]["tensorflow"] < 0  # the fixture's first loss falls
    far = write_run(tmp_path / "far", standard_cells(overrides={cell_id(): {"loss_offset": 0.5}}))
    runs = load_runs([far])
    (p,) = loss_parity(runs, comparison_frame(runs))
    assert not p.within_tolerance and p.worst > PARITY_TOLERANCE
