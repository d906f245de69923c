"""The headline on a replicated run: best shipped-default vs best tuned configuration, ratio CIs,
runner-ups within noise, compile cost; bf16 cells and their parity tolerance."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import FixtureCell, cell_id, write_run

from bench.analysis import comparison_frame
from bench.headline import headlines
from bench.parity import PARITY_TOLERANCES, loss_parity
from bench.store import load_runs


def _cells(bf16_offset: float = 0.0) -> list[FixtureCell]:
    return [
        FixtureCell(framework="tensorflow", mode="eager", median_s=0.020, first_step_s=0.8),
        FixtureCell(framework="tensorflow", mode="function", median_s=0.012, first_step_s=3.0),
        FixtureCell(framework="tensorflow", mode="function", precision="bf16", median_s=0.008,
                    first_step_s=3.5),
        FixtureCell(framework="torch", mode="eager", median_s=0.015, first_step_s=0.3),
        FixtureCell(framework="torch", mode="compile", median_s=0.0149, first_step_s=20.0),
        FixtureCell(framework="torch", mode="eager", precision="bf16", median_s=0.009, first_step_s=0.4,
                    loss_offset=bf16_offset),
    ]


@pytest.fixture
def table(tmp_path: Path):
    runs = load_runs([write_run(tmp_path / "run", _cells(), repeats=5, between_cv=0.02)])
    return runs, comparison_frame(runs)


def test_default_and_tuned_picks_with_their_ratios(table) -> None:
    _, t = table
    (h,) = headlines(t)
    assert h.key["model"] == "dcgan-mnist" and "precision" not in h.key
    assert h.default["tensorflow"].row["cell_id"] == cell_id(framework="tensorflow", mode="function")
    assert h.tuned["tensorflow"].row["cell_id"] == cell_id(framework="tensorflow", mode="function",
                                                           precision="bf16")
    assert h.tuned["torch"].row["precision"] == "bf16"
    # default: TF function (12 ms) vs torch's best fp32 mode (15 ms), 5 processes paired by block
    fw, _ = h.default_ranking.picks[0]
    assert fw == "tensorflow" and h.default_ranking.ratio.method == "paired"
    assert h.default_ranking.ratio.n == 5 and h.default_ranking.ratio.verdict == "A faster"
    assert h.default_ranking.ratio.ratio == pytest.approx(15 / 12, rel=0.05)
    # torch compile (14.9 ms) is not clearly faster than eager (15 ms): the pick says so
    torch_default = h.default["torch"]
    assert torch_default.runner_up is not None and torch_default.within_noise
    assert h.tuned_ranking.picks[0][0] == "tensorflow"


def test_compile_cost_has_first_step_and_steady_state(table) -> None:
    _, t = table
    (h,) = headlines(t)
    costs = {c.framework: c for c in h.costs}
    assert costs["torch"].mode == "compile" and costs["torch"].first_s == pytest.approx(20.0)
    assert costs["torch"].steady_s == pytest.approx(20.0)
    assert costs["torch"].eager_first_s == pytest.approx(0.3)
    assert costs["torch"].speedup is not None and costs["torch"].speedup.verdict == "no clear winner"
    assert costs["tensorflow"].speedup.verdict == "A faster"  # function's steps beat eager's


def test_bf16_curves_get_a_wider_tolerance(tmp_path: Path) -> None:
    offset = 0.15  # ~13% of the loss scale: beyond fp32's tolerance, within bf16's
    runs = load_runs([write_run(tmp_path / "run", _cells(bf16_offset=offset))])
    parity = {p.key["precision"]: p for p in loss_parity(runs, comparison_frame(runs))}
    bf16 = parity["bf16"]
    assert PARITY_TOLERANCES["fp32"] < bf16.worst < PARITY_TOLERANCES["bf16"]
    assert bf16.within_tolerance and bf16.tolerance == PARITY_TOLERANCES["bf16"]
    assert parity["fp32"].within_tolerance
