"""One real cell end to end: `python -m bench run` with the real probe and worker (torch eager, tiny),
in two fresh processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.results.load import load_run
from bench.results.paths import log_path


@pytest.mark.slow
def test_bench_run_one_real_torch_eager_cell(tmp_path: Path) -> None:
    out = tmp_path / "run"
    p = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--model", "dcgan-mnist", "--framework", "torch",
         "--mode", "eager", "--batch-size", "8", "--steps", "3", "--warmup", "1", "--window-steps", "2",
         "--threads", "1", "--repeats", "2", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    data = load_run(out)
    rows = data.cells.to_dict("records")
    assert [(r["repeat"], r["block"], r["order"]) for r in rows] == [(1, 0, 0), (2, 1, 1)]
    row = rows[0]
    assert all(r["status"] == "ok" for r in rows), [r["reason"] for r in rows]
    # One timing method for every framework; memory from the kernel's peak, no sampler thread on CPU.
    from bench.frameworks.base import TIMING_METHOD
    from bench.worker.memory import METHOD_RUSAGE

    assert {r["flags.timing"] for r in rows} == {TIMING_METHOD}
    assert {r["flags.memory_method"] for r in rows} == {METHOD_RUSAGE} and row["peak_rss_bytes"] > 0
    assert row["batch_size"] == 8 and row["n_steps"] == 3 and row["step_time_median_s"] > 0
    assert row["throughput_img_s"] > 0 and row["time_to_first_step_s"] > 0
    assert row["settings"]["intra_op_threads"] == 1
    phases = ["first", "warmup", "timed", "timed", "timed", "window", "window"]
    assert list(data.steps["phase"]) == phases * 2 and list(data.steps["repeat"]) == [1] * 7 + [2] * 7
    assert data.env["frameworks"]["torch"]["installed"] and data.env["framework_versions"]["torch"]
    assert "median step" in p.stdout and row["cell_id"] in p.stdout
    assert log_path(out, row["cell_id"], 2).exists()
