"""Real tiny generate cells through the real ``python -m bench.worker.main`` subprocess, on CPU: one per
framework (a compiled/traced mode of each, which also shows that batch 1 and batch N are each traced
before anything is timed: no recompile during the timed calls), and a DDPM sampler cell."""

from __future__ import annotations

import dataclasses
import math

import pytest
from worker_helpers import TINY, fake_cell, run_worker, write_spec

from bench.results.records import CellResult

pytestmark = pytest.mark.slow

# Minimum durations 0: the counts decide (the duration rule is unit-tested with a fake backend).
GEN = dataclasses.replace(TINY, generate_min_s=0.0, generate_warmup_min_s=0.0, denoising_steps=2)


def _assert_generate_ok(result: dict, rows: list[dict], framework: str, steps: int | None = None) -> None:
    assert result["status"] == "ok", (result["reason"], result["error_tail"])
    CellResult.from_dict(result)
    assert result["scenario"] == "generate" and result["versions"]["framework"] == framework
    assert result["build_s"] > 0 and result["time_to_first_step_s"] > 0
    assert result["cold_start_s"] == pytest.approx(result["build_s"] + result["time_to_first_step_s"])
    assert result["n_steps"] >= GEN.steps
    assert 0 < result["step_time_median_s"] <= result["step_time_p90_s"] <= result["latency_p99_s"]
    assert result["throughput_batch"] == 4 and result["window_steps"] >= GEN.window_steps
    assert result["throughput_img_s"] == pytest.approx(result["window_steps"] * 4 / result["window_time_s"])
    assert result["recompiles"] in (0, None), result["compile_warnings"]
    assert result["flops_per_step"] > 0 and result["peak_rss_bytes"] > 50e6
    flags = result["flags"]
    assert (flags["timed_min_calls"], flags["timed_min_s"]) == (GEN.steps, 0.0)
    assert (flags["warmup_min_calls"], flags["warmup_min_s"]) == (GEN.warmup, 0.0)
    assert flags["window_calls"] == GEN.window_steps and flags["throughput_warmup_calls"] == 2
    assert flags["latency_batch"] == 1 and flags["throughput_batch"] == 4
    assert rows[0]["phase"] == "first"
    assert {r["phase"] for r in rows} == {"first", "warmup", "timed", "window"}
    assert all(list(r["losses"]) == ["image_mean"] and math.isfinite(r["losses"]["image_mean"]) for r in rows)
    assert result["denoising_steps"] == steps
    if steps:
        assert result["step_latency_median_s"] == pytest.approx(result["step_time_median_s"] / steps)


@pytest.mark.parametrize(("framework", "mode"), [("tensorflow", "function"), ("torch", "eager"),
                                                 ("torch", "compile")])
def test_dcgan_generate_cell_is_complete(tmp_path, framework, mode):
    cell = fake_cell(framework=framework, mode=mode, scenario="generate")
    proc, result, rows = run_worker(write_spec(tmp_path, cell, GEN))
    assert proc.returncode == 0
    _assert_generate_ok(result, rows, framework)
    if framework == "tensorflow":
        assert result["flags"]["tf_function_traces"] == 2  # batch 1 and batch N, once each
        assert result["flags"]["inference"] == "keras training=False"
    else:
        assert result["flags"]["inference"].startswith("torch.inference_mode()")
    if mode == "compile":  # batch 1 and batch N compiled before the timed calls, once each
        assert result["flags"]["compile_scope"] == "generative module"
        assert result["flags"]["graph_breaks"] == 0


def test_the_first_image_means_agree_across_frameworks(tmp_path):
    """Same weights (the seed's) and noise: the first call's image mean is the same in both."""
    means = {}
    for fw in ("tensorflow", "torch"):
        cell = fake_cell(framework=fw, mode="eager", scenario="generate", model="vae-mnist")
        _proc, result, rows = run_worker(write_spec(tmp_path, cell, GEN))
        assert result["status"] == "ok", result["reason"]
        means[fw] = rows[0]["losses"]["image_mean"]
    assert means["tensorflow"] == pytest.approx(means["torch"], rel=1e-5)


def test_ddpm_sampler_cell_records_its_denoising_steps(tmp_path):
    cell = fake_cell(framework="torch", mode="eager", scenario="generate", model="ddpm-32")
    proc, result, rows = run_worker(write_spec(tmp_path, cell, GEN))
    assert proc.returncode == 0
    _assert_generate_ok(result, rows, "torch", steps=GEN.denoising_steps)
    assert result["flags"]["denoising_steps"] == GEN.denoising_steps


@pytest.mark.parametrize(("framework", "mode"), [("torch", "onnx"), ("tensorflow", "savedmodel")])
def test_an_exported_runtime_cell_records_its_export_and_its_parity(tmp_path, framework, mode):
    pytest.importorskip("onnxruntime")
    cell = fake_cell(framework=framework, mode=mode, scenario="generate")
    proc, result, rows = run_worker(write_spec(tmp_path, cell, GEN))
    assert proc.returncode == 0
    _assert_generate_ok(result, rows, framework)
    flags = result["flags"]
    assert flags["export_s"] > 0 and flags["artefact_bytes"] > 0 and flags["load_s"] >= 0
    assert 0 <= flags["runtime_parity_max_abs"] <= flags["runtime_parity_bound"] == 1e-3
    assert flags["runtime_parity_ok"] is True
