"""Cell summaries across processes (bench.analysis.aggregate), on stored replicated fixture runs (schema
3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import cell_id, standard_cells, write_run

from bench.analysis.aggregate import cell_summaries, steady_state
from bench.results.load import load_run

COMPILE = cell_id(mode="compile")


@pytest.fixture
def run(tmp_path: Path):
    return load_run(write_run(tmp_path / "run", standard_cells(), repeats=3, between_cv=0.03,
                              failed={COMPILE: (2,)}))


def test_one_row_per_cell_from_its_processes(run) -> None:
    cells = run.cells
    assert len(cells[cells["cell_id"] == cell_id()]) == 3 and set(cells["repeat"]) == {1, 2, 3}
    s = cell_summaries(cells, run.steps).set_index("cell_id")
    assert len(s) == cells["cell_id"].nunique()
    eager = s.loc[cell_id()]
    procs = cells[cells["cell_id"] == cell_id()].sort_values("repeat")
    meds = procs["step_time_median_s"].to_numpy()
    assert eager["n_processes"] == 3 and eager["n_ok"] == 3 and eager["status"] == "ok"
    assert eager["step_time_median_s"] == pytest.approx(np.median(meds))
    assert (eager["step_time_ci_low_s"], eager["step_time_ci_high_s"]) == (meds.min(), meds.max())
    assert eager["step_time_ci_coverage"] == 0.75
    assert eager["between_process_cv"] == pytest.approx(np.std(meds, ddof=1) / np.mean(meds))
    assert eager["within_process_cv"] == pytest.approx(np.median(procs["step_time_cv"]))
    assert eager["throughput_img_s"] == pytest.approx(np.median(procs["throughput_img_s"]))
    assert eager["achieved_flops"] == pytest.approx(procs["flops_per_step"].iloc[0] / np.median(meds))
    assert list(eager["process_medians"].values()) == list(meds)  # keyed by block, by repeat
    assert list(eager["process_medians"]) == [int(b) for b in procs["block"]]
    assert eager["process_orders"] == tuple(int(o) for o in procs["order"])


def test_partial_failed_and_skipped_cells(run) -> None:
    s = cell_summaries(run.cells, run.steps).set_index("cell_id")
    part = s.loc[COMPILE]
    assert part["status"] == "ok" and part["partial"] and part["n_ok"] == 2
    assert part["reason"] == "1 of 3 processes failed: process 2 crashed"
    assert part["step_time_ci_coverage"] == 0.5  # [min, max] of 2
    xla = s.loc[cell_id(framework="tensorflow", mode="xla")]
    assert xla["status"] == "failed" and xla["n_ok"] == 0 and pd.isna(xla["step_time_median_s"])
    skip = s.loc[cell_id(mode="reduce-overhead")]
    assert skip["status"] == "skipped" and skip["n_processes"] == 1


def test_single_process_cells_have_no_interval(tmp_path: Path) -> None:
    one = load_run(write_run(tmp_path / "one", standard_cells()))
    s = cell_summaries(one.cells, one.steps).set_index("cell_id")
    row = s.loc[cell_id()]
    assert row["n_ok"] == 1 and pd.isna(row["step_time_ci_low_s"]) and pd.isna(row["between_process_cv"])
    assert row["step_time_median_s"] == one.cells.set_index("cell_id").loc[cell_id(), "step_time_median_s"]


def test_time_to_steady_state_counts_compilation_and_warmup_spikes() -> None:
    band = (0.009, 0.012)
    assert steady_state([20.0, 0.010, 0.011, 0.010], band) == (1, 20.0)
    # a recompile in the warm-up (step 2) is part of the cost, though a rolling median would hide it
    assert steady_state([20.0, 0.010, 5.0, 0.010, 0.010, 0.010], band, warm=3) == (3, pytest.approx(25.01))
    # slow warm-up steps converge: the rolling median of 3 enters the band at step 3
    k, t = steady_state([1.0, 0.030, 0.020, 0.011, 0.010, 0.011, 0.010], band, warm=3)
    assert k == 3 and t == pytest.approx(1.05)
    assert steady_state([20.0, 30.0], band) is None


def test_fraction_above_peak_is_flagged(run) -> None:
    cells = run.cells.copy()
    cuda = cells["device"] == "cuda"
    cells.loc[cuda, "peak_flops"] = 1.0e9  # a probe far below what the cell achieves
    s = cell_summaries(cells, run.steps).set_index("cell_id")
    row = s.loc[cell_id(model="dcgan-64", device="cuda")]
    assert row["fraction_of_peak"] > 1 and row["above_peak"]
    assert not s.loc[cell_id()]["above_peak"]  # no peak measured: no fraction, no flag


def test_end_of_run_table_has_one_line_per_cell(run) -> None:
    from bench.analysis.summary import summary_table

    text = summary_table(run.cells, run.steps)
    lines = text.splitlines()
    assert len(lines) == 1 + run.cells["cell_id"].nunique()
    compile_line = next(line for line in lines if COMPILE in line)
    assert " 2/3 " in compile_line and "1 of 3 processes failed" in compile_line
    assert "processes" in lines[0] and "CV between" in lines[0] and "steady after" in lines[0]


def test_a_shared_compile_cache_separates_the_cold_first_step_from_the_warm_ones() -> None:
    from bench.analysis.aggregate import summarize_cell, warm_start

    def proc(repeat: int, first_s: float, hits: int, misses: int, cache: str = "shared") -> dict:
        return {"run_id": "r", "cell_id": COMPILE, "status": "ok", "repeat": repeat, "block": repeat - 1,
                "order": repeat, "step_time_median_s": 0.25, "time_to_first_step_s": first_s,
                "flags": {"compile_cache": cache, "fxgraph_cache_hits": hits, "fxgraph_cache_misses": misses,
                          "autograd_cache_hits": 0, "autograd_cache_misses": misses}}

    # The cold process hits its own first graph once (a module compiled twice in one process).
    procs = [proc(1, 81.0, 1, 5), proc(2, 10.0, 6, 0), proc(3, 12.0, 6, 0)]
    assert [warm_start(p) for p in procs] == [False, True, True]
    s = summarize_cell(procs, {})
    assert (s["time_to_first_step_s"], s["warm_first_step_s"]) == (81.0, 11.0)
    assert (s["n_cold_starts"], s["n_warm_starts"]) == (1, 2)
    # A cold cache per process: every process is a cold start, whatever its counters say.
    cold = summarize_cell([proc(k, 80.0 + k, 6, 0, cache="cold") for k in (1, 2, 3)], {})
    assert cold["time_to_first_step_s"] == 82.0 and cold["warm_first_step_s"] is None
