"""The headline on a replicated run: the declared shipped defaults vs the tuned picks (the selection
rule: Bonferroni for the candidates, "tuned: not measured"), ratio CIs, compile cost; bf16 cells and
their parity tolerance."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import FixtureCell, cell_id, write_run

from bench.analysis.headline import headlines
from bench.analysis.parity import PARITY_TOLERANCES, loss_parity
from bench.analysis.tables import comparison_frame
from bench.report.pages.front import headline_table
from bench.results.load import load_runs
from bench.stats import median_ratio_ci


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
    # Declared before the data: TF's default mode on CPU is function (Keras traces the step), torch's
    # eager, even where torch compile's median (14.9 ms) is below eager's (15 ms).
    assert h.default["tensorflow"].row["cell_id"] == cell_id(framework="tensorflow", mode="function")
    assert h.default["torch"].row["cell_id"] == cell_id(framework="torch", mode="eager")
    assert h.default["torch"].runner_up is None and h.default["torch"].candidates == 1
    assert h.tuned["tensorflow"].row["cell_id"] == cell_id(framework="tensorflow", mode="function",
                                                           precision="bf16")
    assert h.tuned["torch"].row["precision"] == "bf16"
    # default: TF function (12 ms) vs torch eager (15 ms), 5 processes paired by block
    fw, _ = h.default_ranking.picks[0]
    r = h.default_ranking.ratio
    assert fw == "tensorflow" and r.method == "paired+prior" and r.n == 5 and r.candidates == 1
    assert h.default_ranking.decision == "A faster"
    # the ratio is that of the two medians printed
    assert r.ratio == pytest.approx(h.default["torch"].row["step_time_median_s"]
                                    / h.default["tensorflow"].row["step_time_median_s"])
    assert r.ratio == pytest.approx(15 / 12, rel=0.05)
    assert h.tuned_ranking.picks[0][0] == "tensorflow" and not h.tuned_ranking.not_measured


def test_the_tuned_pick_is_widened_for_its_candidates(table) -> None:
    """Selection rule: the tuned ratio's interval is Bonferroni-widened for the k_A × k_B comparisons
    the two picks were chosen among (3 TF cells × 3 torch cells here)."""
    _, t = table
    (h,) = headlines(t)
    tuned = h.tuned_ranking.ratio
    a, b = (p.row for _, p in h.tuned_ranking.picks[:2])
    prior = a["spread_prior"]
    assert prior is not None and prior is b["spread_prior"]  # the run's pooled spread of its train cells
    plain = median_ratio_ci(a["process_medians"], b["process_medians"], prior=prior)
    assert h.tuned["tensorflow"].candidates == 3 and h.tuned["torch"].candidates == 3
    assert tuned.candidates == 9 and tuned.ratio == pytest.approx(plain.ratio)
    assert tuned.low < plain.low and tuned.high > plain.high  # the same data, a wider interval
    assert median_ratio_ci(a["process_medians"], b["process_medians"], candidates=9, prior=prior) == tuned
    text = headline_table([h], ["tensorflow", "torch"], multi_run=False)
    assert "95%, Bonferroni ×9]" in text


def test_tuned_not_measured_without_a_candidate(tmp_path: Path) -> None:
    cells = [FixtureCell(framework="tensorflow", mode="function", median_s=0.012),
             FixtureCell(framework="tensorflow", mode="eager", median_s=0.020),
             FixtureCell(framework="torch", mode="eager", median_s=0.015)]
    runs = load_runs([write_run(tmp_path / "run", cells, repeats=3, between_cv=0.02)])
    (h,) = headlines(comparison_frame(runs))
    assert h.tuned_ranking.not_measured == ["torch"]
    text = headline_table([h], ["tensorflow", "torch"], multi_run=False)
    assert "tuned: not measured (PyTorch)" in text and "tuned: not measured (no tuning candidate ran)" in text


def test_compile_cost_has_first_step_and_steady_state(table) -> None:
    _, t = table
    (h,) = headlines(t)
    costs = {c.framework: c for c in h.costs}
    assert costs["torch"].mode == "compile" and costs["torch"].first_s == pytest.approx(20.0)
    assert costs["torch"].steady_s == pytest.approx(20.0)
    assert costs["torch"].eager_first_s == pytest.approx(0.3)
    assert costs["torch"].speedup is not None and costs["torch"].speedup.verdict == "no clear winner"
    assert costs["tensorflow"].speedup.verdict == "A faster"  # function's steps beat eager's


def test_compile_cost_falls_back_to_a_tuned_compiled_cell(tmp_path: Path) -> None:
    """quick runs torch's compile only with its optimizer compiled too: the compile cost is that cell's,
    named with its variant, against the eager default."""
    cells = [c for c in _cells() if c.mode != "compile"] + [
        FixtureCell(framework="torch", mode="compile", variant="adam-compiled", median_s=0.013,
                    first_step_s=25.0)]
    runs = load_runs([write_run(tmp_path / "run", cells, repeats=5, between_cv=0.02)])
    (h,) = headlines(comparison_frame(runs))
    cost = {c.framework: c for c in h.costs}["torch"]
    assert cost.mode == "compile (adam-compiled)" and cost.first_s == pytest.approx(25.0)
    assert cost.eager_first_s == pytest.approx(0.3)


def test_bf16_curves_get_a_wider_tolerance(tmp_path: Path) -> None:
    offset = 0.15  # ~13% of the loss scale: beyond fp32's tolerance, within bf16's
    runs = load_runs([write_run(tmp_path / "run", _cells(bf16_offset=offset))])
    parity = {p.key["precision"]: p for p in loss_parity(runs, comparison_frame(runs))}
    bf16 = parity["bf16"]
    assert PARITY_TOLERANCES["fp32"] < bf16.worst < PARITY_TOLERANCES["bf16"]
    assert bf16.within_tolerance and bf16.tolerance == PARITY_TOLERANCES["bf16"]
    assert parity["fp32"].within_tolerance


def test_generation_headline_picks_shipped_and_deployed_per_framework(tmp_path: Path) -> None:
    """Generate cells get their own headline: per framework the fastest native mode and the fastest
    deployed runtime (by latency p50), each pair compared across frameworks with its interval; the
    training headline leaves them out."""
    from bench.analysis.headline import generation_headlines
    from bench.report.pages.front import generation_headline_table

    gen = [FixtureCell(framework="tensorflow", mode="function", median_s=0.004, scenario="generate"),
           FixtureCell(framework="tensorflow", mode="litert", median_s=0.002, scenario="generate"),
           FixtureCell(framework="tensorflow", mode="savedmodel", median_s=0.0035, scenario="generate"),
           FixtureCell(framework="torch", mode="eager", median_s=0.003, scenario="generate"),
           FixtureCell(framework="torch", mode="onnx", median_s=0.001, scenario="generate")]
    runs = load_runs([write_run(tmp_path / "run", _cells() + gen, repeats=5, between_cv=0.02)])
    t = comparison_frame(runs)
    assert [h.key["scenario"] for h in headlines(t)] == ["train"]
    (h,) = generation_headlines(t)
    assert h.key["model"] == "dcgan-mnist" and h.key["scenario"] == "generate"
    assert {fw: p.row["mode"] for fw, p in h.shipped.items()} == {"tensorflow": "function", "torch": "eager"}
    assert {fw: p.row["mode"] for fw, p in h.deployed.items()} == {"tensorflow": "litert", "torch": "onnx"}
    assert h.shipped_ranking.picks[0][0] == "torch" and h.shipped_ranking.ratio.ratio == pytest.approx(
        h.shipped["tensorflow"].row["step_time_median_s"] / h.shipped["torch"].row["step_time_median_s"])
    # TF's deployed pick was made among 2 runtimes, torch's among 1: the interval is widened for 2.
    assert h.deployed_ranking.ratio.candidates == 2 and h.deployed_ranking.decision == "A faster"
    text = generation_headline_table([h], ["tensorflow", "torch"], multi_run=False)
    assert "shipped TensorFlow" in text and "deployed PyTorch" in text and "litert: " in text
    assert "PyTorch faster" in text
