"""One real cell end to end: `python -m bench run` with the real probe and worker (torch eager, tiny)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import store


@pytest.mark.slow
def test_bench_run_one_real_torch_eager_cell(tmp_path: Path) -> None:
    out = tmp_path / "run"
    p = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--model", "dcgan-mnist", "--framework", "torch",
         "--mode", "eager", "--batch-size", "8", "--steps", "3", "--warmup", "1", "--window-steps", "2",
         "--threads", "1", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    data = store.load_run(out)
    (row,) = data.cells.to_dict("records")
    assert row["status"] == "ok", row["reason"]
    assert row["batch_size"] == 8 and row["n_steps"] == 3 and row["step_time_median_s"] > 0
    assert row["throughput_img_s"] > 0 and row["time_to_first_step_s"] > 0
    assert row["settings"]["intra_op_threads"] == 1
    assert list(data.steps["phase"]) == ["first", "warmup", "timed", "timed", "timed", "window", "window"]
    assert data.env["frameworks"]["torch"]["installed"] and data.env["framework_versions"]["torch"]
    assert "median step" in p.stdout and row["cell_id"] in p.stdout
    assert (out / "logs" / f"{row['cell_id']}.log").exists()
