"""Real tiny cells through the real ``python -m bench.worker.main`` subprocess, on CPU.

Each asserts the result file and the step rows are complete and sane; together they cover both
frameworks, a compiled mode of each, the oneDNN switch, divergence, failure and OOM classification
and the skips decided before a framework is imported.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from worker_helpers import ROOT, TINY, fake_cell, run_worker, write_spec

from bench.clock import physical_cores
from bench.frameworks.base import TIMING_METHOD
from bench.results.records import SCHEMA_VERSION, CellResult

pytestmark = pytest.mark.slow

N_ROWS = 1 + TINY.warmup + TINY.steps + TINY.window_steps


def _assert_complete_ok(result: dict, rows: list[dict], framework: str) -> None:
    assert result["status"] == "ok", (result["reason"], result["error_tail"])
    CellResult.from_dict(result)  # the stored row reads back as a CellResult
    assert result["versions"]["framework"] == framework
    assert result["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert result["flags"]["intra_op_threads"] == physical_cores()
    assert result["flags"]["inter_op_threads"] == (TINY.inter_op_threads or physical_cores())
    assert result["flags"]["seed"] == TINY.seed
    assert result["time_to_first_step_s"] > 0
    assert len(result["warmup_step_times_s"]) == TINY.warmup
    assert result["n_steps"] == TINY.steps
    assert 0 < result["step_time_min_s"] <= result["step_time_median_s"] <= result["step_time_p90_s"]
    assert result["step_time_ci_low_s"] <= result["step_time_median_s"] <= result["step_time_ci_high_s"]
    assert result["window_steps"] == TINY.window_steps
    assert result["throughput_img_s"] == pytest.approx(TINY.window_steps * 4 / result["window_time_s"])
    assert result["flops_per_step"] > 0 and result["achieved_flops"] > 0
    assert result["peak_rss_bytes"] > 50e6
    assert result["nvml_peak_bytes"] is None and result["device_alloc_peak_bytes"] is None
    assert result["wall_s"] > result["time_to_first_step_s"]
    assert result["started_at"] < result["finished_at"]
    assert len(rows) == N_ROWS
    assert [r["step"] for r in rows] == list(range(N_ROWS))
    assert [r["phase"] for r in rows] == (["first"] + ["warmup"] * TINY.warmup + ["timed"] * TINY.steps
                                          + ["window"] * TINY.window_steps)
    assert all(r["cell_id"] == result["cell_id"] for r in rows)
    # The model family's named losses, in its order, finite, the last step's being the final ones.
    assert all(list(r["losses"]) == ["g", "d"] for r in rows)
    assert all(math.isfinite(v) for r in rows for v in r["losses"].values())
    assert all((r["step_time_s"] is None) == (r["phase"] == "window") for r in rows)
    assert rows[-1]["losses"] == result["final_losses"]
    assert result["schema"] == SCHEMA_VERSION and not any(k.endswith("_loss") for k in result)
    timed = sorted(r["step_time_s"] for r in rows if r["phase"] == "timed")
    assert result["step_time_median_s"] == pytest.approx(timed[len(timed) // 2])


def test_tensorflow_function_cell_is_complete_and_does_not_retrace(tmp_path):
    cell = fake_cell(framework="tensorflow", mode="function")
    proc, result, rows = run_worker(write_spec(tmp_path, cell))
    assert proc.returncode == 0
    _assert_complete_ok(result, rows, "tensorflow")
    assert result["recompiles"] == 0 and result["compile_warnings"] == []
    assert result["flags"]["tf_function_traces"] == 1
    assert result["flags"]["tf32"] is False and result["flags"]["onednn_effective"] in (True, False)
    assert result["versions"]["tensorflow"] and result["versions"]["keras"]


def test_tensorflow_onednn_off_is_recorded_as_effective(tmp_path):
    cell = fake_cell(framework="tensorflow", mode="eager", variant="onednn-off")
    _proc, result, rows = run_worker(write_spec(tmp_path, cell))
    _assert_complete_ok(result, rows, "tensorflow")
    assert result["flags"]["onednn_requested"] == "off"
    assert result["flags"]["onednn_effective"] is False
    assert result["flags"]["env"]["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert result["recompiles"] is None  # eager compiles nothing


def test_torch_eager_cell_is_complete(tmp_path):
    cell = fake_cell(framework="torch", mode="eager")
    proc, result, rows = run_worker(write_spec(tmp_path, cell))
    assert proc.returncode == 0
    _assert_complete_ok(result, rows, "torch")
    f = result["flags"]
    assert (f["tf32_matmul"], f["tf32_cudnn_conv"]) in {("ieee", "ieee"), (False, False)}
    assert f["cudnn_benchmark"] is True and f["deterministic_algorithms"] is False
    assert f["compile_cache"] is None and f["sync"] == "none needed (CPU ops are synchronous)"
    assert f["timing"] == TIMING_METHOD
    assert result["recompiles"] is None


def test_torch_compile_cell_compiles_once_with_a_cold_cache(tmp_path):
    cell = fake_cell(framework="torch", mode="compile")
    _proc, result, rows = run_worker(write_spec(tmp_path, cell), timeout=900)
    _assert_complete_ok(result, rows, "torch")
    f = result["flags"]
    assert result["recompiles"] == 0
    # Cold: every graph is compiled here (a module compiled twice in one process may hit its own first
    # compile, never an earlier process's).
    assert f["compile_cache"] == "cold" and f["fxgraph_cache_misses"] > 0
    work = tmp_path / cell.cell_id / "work"
    assert Path(f["env"]["TORCHINDUCTOR_CACHE_DIR"]).parent == work
    assert any(Path(f["env"]["TORCHINDUCTOR_CACHE_DIR"]).iterdir())  # compiled into the cell's own cache
    # Compilation is reported, never hidden: the first step carries it.
    assert result["time_to_first_step_s"] > 5 * result["step_time_median_s"]
    # The tutorial step calls backward() inside the compiled function: dynamo reports its graph breaks.
    assert f["graph_breaks"] == 0 or any("graph break" in w for w in result["compile_warnings"])


def test_nan_data_makes_a_diverged_cell_with_everything_written(tmp_path):
    cell = fake_cell(framework="torch", mode="eager")
    proc, result, rows = run_worker(write_spec(tmp_path, cell, test_fault="nan-data"))
    assert proc.returncode == 0
    assert result["status"] == "diverged"
    assert result["reason"].startswith("non-finite loss at step 0 (first)")
    assert len(rows) == N_ROWS and rows[0]["losses"]["d"] is None  # NaN is stored as null
    assert result["step_time_median_s"] > 0 and result["throughput_img_s"] > 0
    assert result["final_losses"]["d"] is None


@pytest.mark.parametrize(("fault", "status", "reason"), [
    ("raise", "failed", "RuntimeError: test fault: simulated failure"),
    ("oom", "oom", "MemoryError: test fault: simulated out of memory"),
])
def test_failures_are_classified_and_written(tmp_path, fault, status, reason):
    cell = fake_cell(framework="torch", mode="eager")
    proc, result, rows = run_worker(write_spec(tmp_path, cell, test_fault=fault))
    assert proc.returncode == 0
    assert (result["status"], result["reason"]) == (status, reason)
    assert "Traceback" in result["error_tail"] and reason in result["error_tail"]
    assert result["versions"]["framework"] == "torch"  # what was known before the failure is kept
    assert rows == [] and result["time_to_first_step_s"] is None
    assert result["wall_s"] > 0 and result["finished_at"]


def test_cuda_only_mode_on_cpu_is_skipped_before_importing_torch(tmp_path):
    cell = fake_cell(framework="torch", mode="reduce-overhead")
    _proc, result, rows = run_worker(write_spec(tmp_path, cell), timeout=60)
    assert result["status"] == "skipped"
    assert result["reason"] == "torch mode 'reduce-overhead' needs a CUDA device"
    assert rows == []


def test_cuda_cell_without_a_gpu_is_skipped_with_a_reason(tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    cell = fake_cell(framework="torch", mode="eager", device="cuda")
    _proc, result, _rows = run_worker(write_spec(tmp_path, cell))
    assert result["status"] == "skipped"
    assert result["reason"].startswith("no CUDA device visible to torch")


@pytest.mark.parametrize("framework", [None, "tensorflow"])
def test_roofline_runs_on_cpu_and_prints_one_json_line(framework):
    pick = ["--framework", framework] if framework else []  # default: torch, the most precise timing
    proc = subprocess.run([sys.executable, "-m", "bench.host.roofline", "--device", "cpu", "--size", "128",
                           "--copy-bytes", "1000000", "--iters", "2", "--repeats", "1", *pick],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # Without --framework: the best of every source; "framework" names the fp32 winner.
    assert out["device"] == "cpu" and out["framework"] == (framework or out["peak_sources"]["fp32"])
    assert out["peak_flops"] == out["peak_flops_by_precision"]["fp32"] > 1e8
    assert out["peak_flops_by_precision"]["bf16"] > 0
    assert out["bandwidth_bytes_s"] > 1e8


def test_roofline_without_cuda_says_why_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "bench.host.roofline", "--device", "cuda"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if proc.returncode == 0:
        pytest.skip("a CUDA device is present")
    assert out["peak_flops"] is None and "RuntimeError: no CUDA device" in out["error"]


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_probe_of_an_installed_framework(framework):
    pytest.importorskip(framework)
    proc = subprocess.run([sys.executable, "-m", "bench.worker.probe", framework], cwd=ROOT,
    capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0])
    assert out["framework"] == framework and out["installed"] is True
    assert out["version"] and isinstance(out["devices"], list)
    assert out["cuda"] is bool(out["devices"])
    assert (out["reason"] is None) == out["cuda"]  # a reason only when no CUDA device is usable
