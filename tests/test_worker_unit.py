"""The worker's framework-free parts: measurement loop (with a fake backend), error classification,
batch splitting, memory sampling and the framework probe. Fast: no TensorFlow/torch import."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from worker_helpers import ROOT, FakeBackend, fake_cell

from bench.errors import UnknownChoice
from bench.frameworks import get_framework, split_batches
from bench.results.records import CellResult, RunSettings, StepRecord
from bench.scenarios.base import Measurement, peak_for_precision
from bench.scenarios.train import first_nonfinite
from bench.worker import probe as probe_mod
from bench.worker.flags import plan_flags
from bench.worker.main import (
    WorkerSpec,
    classify_exception,
    error_tail,
    skip_reason_before_import,
    validate_cell,
)
from bench.worker.memory import MemorySampler
from models.family import DataError


def _measure(tmp_path, settings: RunSettings, peak_flops=None, **fake_kw):
    cell = fake_cell()
    spec = WorkerSpec(cell=cell, settings=settings, result_path=tmp_path / "r.json",
                      steps_path=tmp_path / "s.jsonl", work_dir=tmp_path / "w", peak_flops=peak_flops)
    result = CellResult(cell=cell, status="failed")
    records: list[StepRecord] = []
    backend = FakeBackend(cell, settings, plan_flags(cell, settings, tmp_path), **fake_kw)
    return Measurement(spec, result, records), backend, result, records


def test_measurement_phases_rows_and_summary(tmp_path):
    settings = RunSettings(steps=3, warmup=2, window_steps=4, n_batches=2)
    m, backend, result, records = _measure(tmp_path, settings, peak_flops=1e18)
    m.run(backend)
    assert result.status == "ok"
    assert [r.phase for r in records] == ["first"] + ["warmup"] * 2 + ["timed"] * 3 + ["window"] * 4
    assert [r.step for r in records] == list(range(10))
    assert all(r.step_time_s is None for r in records if r.phase == "window")
    assert all(r.step_time_s > 0 for r in records if r.phase != "window")
    assert result.time_to_first_step_s == records[0].step_time_s
    assert result.warmup_step_times_s == [r.step_time_s for r in records[1:3]]
    assert result.n_steps == 3
    timed = sorted(r.step_time_s for r in records if r.phase == "timed")
    assert result.step_time_median_s == pytest.approx(timed[1])
    assert result.window_steps == 4
    assert result.throughput_img_s == pytest.approx(4 * 4 / result.window_time_s)
    assert result.flags["throughput_source"] == "window"
    assert result.flops_per_step > 0
    assert result.achieved_flops == pytest.approx(result.flops_per_step / result.step_time_median_s)
    assert result.fraction_of_peak == pytest.approx(result.achieved_flops / 1e18)
    assert result.recompiles == 0 and result.compile_warnings == [] and "above_peak" not in result.flags
    assert result.peak_rss_bytes > 0
    assert result.flags["fake_setup"] is True
    # Steps cycle through the n_batches resident batches: batch i % 2.
    assert records[0].losses["g"] == records[2].losses["g"] != records[1].losses["g"]
    # Named losses, stored in the family's order (the fake backend returns them reversed).
    assert all(list(r.losses) == ["g", "d"] for r in records)


def test_a_data_error_fails_the_cell_with_its_one_line_message(tmp_path):
    settings = RunSettings(data=str(tmp_path / "missing.npz"))
    m, backend, _result, records = _measure(tmp_path, settings)
    with pytest.raises(DataError) as info:
        m.run(backend)
    status, reason = classify_exception(info.value)
    assert status == "failed" and reason.startswith("DataError: ") and "missing.npz: no such file" in reason
    assert "\n" not in reason and records == []


def test_no_window_falls_back_to_median_throughput(tmp_path):
    m, backend, result, records = _measure(tmp_path, RunSettings(steps=3, warmup=0, window_steps=0))
    m.run(backend)
    assert result.window_time_s is None
    assert result.throughput_img_s == pytest.approx(4 / result.step_time_median_s)
    assert result.flags["throughput_source"] == "median step"
    assert len(records) == 4


def test_nonfinite_loss_marks_the_cell_diverged_and_keeps_every_row(tmp_path):
    m, backend, result, records = _measure(tmp_path, RunSettings(steps=3, warmup=1, window_steps=2),
                                           nan_at=3)
    m.run(backend)
    assert result.status == "diverged"
    assert result.reason.startswith("non-finite loss at step 3 (timed): g_loss=nan, d_loss=")
    assert len(records) == 1 + 1 + 3 + 2
    assert result.step_time_median_s is not None  # what was measured is still there
    assert first_nonfinite(records).step == 3


def test_an_exception_midway_keeps_the_steps_measured_so_far(tmp_path):
    m, backend, result, records = _measure(tmp_path, RunSettings(steps=3, warmup=1, window_steps=2),
                                           raise_at=3)
    with pytest.raises(RuntimeError, match="boom at call 3"):
        m.run(backend)
    assert [r.phase for r in records] == ["first", "warmup"]
    assert result.time_to_first_step_s is not None
    assert result.peak_rss_bytes > 0  # the sampler was stopped and read in any case


def test_unavailable_device_skips_the_cell(tmp_path):
    m, backend, result, records = _measure(tmp_path, RunSettings(), unavailable="no CUDA device visible")
    m.run(backend)
    assert (result.status, result.reason) == ("skipped", "no CUDA device visible")
    assert records == []


class OutOfMemoryError(RuntimeError):  # named like torch.cuda.OutOfMemoryError
    pass


class ResourceExhaustedError(Exception):  # named like tf.errors.ResourceExhaustedError
    pass


@pytest.mark.parametrize(("exc", "status"), [
    (OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "oom"),
    (ResourceExhaustedError("OOM when allocating tensor with shape[128,64]"), "oom"),
    (MemoryError(), "oom"),
    (RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be reported asynchronously"), "oom"),
    (RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1 GiB"), "oom"),
    (RuntimeError("shape mismatch\nat layer 3"), "failed"),
    (ValueError("bad data file"), "failed"),
])
def test_classify_exception(exc, status):
    got, reason = classify_exception(exc)
    assert got == status
    assert "\n" not in reason
    assert reason.startswith(type(exc).__name__)


def test_classify_uses_the_backends_verdict_and_one_line_reasons():
    assert classify_exception(RuntimeError("odd"), is_oom=True)[0] == "oom"
    status, reason = classify_exception(RuntimeError("first line\nsecond line"))
    assert (status, reason) == ("failed", "RuntimeError: first line")
    assert classify_exception(KeyError())[1] == "KeyError"
    long = classify_exception(RuntimeError("x" * 5000))[1]
    assert len(long) < 600


def test_error_tail_is_the_last_traceback_lines():
    try:
        raise RuntimeError("deep failure")
    except RuntimeError as e:
        tail = error_tail(e, lines=3)
    assert tail.splitlines()[-1] == "RuntimeError: deep failure"
    assert len(tail.splitlines()) == 3


def test_validate_and_skip_before_import():
    validate_cell(fake_cell())
    with pytest.raises(UnknownChoice):
        validate_cell(fake_cell(mode="jit"))
    with pytest.raises(UnknownChoice):
        validate_cell(fake_cell(framework="tensorflow", variant="channels-last"))
    assert "needs a CUDA device" in skip_reason_before_import(fake_cell(mode="reduce-overhead"))
    assert skip_reason_before_import(fake_cell(mode="reduce-overhead", device="cuda")) is None
    assert skip_reason_before_import(fake_cell(mode="compile")) is None


def test_split_batches_takes_one_tuple_per_step_and_refuses_anything_else():
    pairs = [("r0", "n0"), ("r1", "n1")]
    assert split_batches(pairs, 2) == [("r0", "n0"), ("r1", "n1")]
    assert split_batches([["x0"], ["x1"], ["x2"]], 1) == [("x0",), ("x1",), ("x2",)]
    # Two stacked arrays of 2 batches each would look like 2 pairs to a guess: refused, not guessed.
    with pytest.raises(TypeError):
        split_batches((np.zeros((2, 3)), np.ones((2, 5))), 2)
    with pytest.raises(TypeError):
        split_batches([("r0", "n0"), ("r1",)], 2)  # a step with an input missing
    with pytest.raises(TypeError):
        split_batches([], 2)


def test_memory_sampler_without_gpu_reports_rss_and_none_for_nvml():
    sampler = MemorySampler(interval_s=0.005, gpu_index=0).start()  # no NVML driver here: None, no crash
    sampler.measuring = True
    block = np.ones(20_000_000 // 8)  # ~20 MB more resident memory
    block.sum()
    report = sampler.stop()
    assert report.peak_rss_bytes > 20_000_000
    assert report.samples >= 2
    assert report.gpu_util_mean is None or 0 <= report.gpu_util_mean <= 100
    assert isinstance(report.nvml_peak_bytes, int | None)


def test_a_fraction_of_peak_above_one_is_flagged(tmp_path):
    m, backend, result, _ = _measure(tmp_path, RunSettings(steps=2, warmup=0, window_steps=0), peak_flops=1.0)
    m.run(backend)
    assert result.fraction_of_peak > 1 and result.flags["above_peak"] is True
    assert any("the measured peak" in w for w in result.compile_warnings)


def test_on_cpu_no_sampler_thread_runs_during_the_steps(tmp_path):
    """A thread waking every 50 ms would preempt the framework's compute threads on a small CPU: on
    CPU the peak RSS is the kernel's high-water mark, read once at the end, and no thread runs."""
    import threading

    from bench.worker.memory import METHOD_RUSAGE, ru_maxrss_bytes

    seen: list[set[str]] = []
    settings = RunSettings(steps=3, warmup=1, window_steps=2, n_batches=2)
    m, backend, result, _ = _measure(tmp_path, settings)
    inner_wrap = backend.wrap

    def wrap() -> None:
        inner_wrap()
        step = backend.step_fn

        def watched(*args):
            seen.append({t.name for t in threading.enumerate()})
            return step(*args)

        backend.step_fn = watched

    backend.wrap = wrap
    m.run(backend)
    assert result.status == "ok" and seen
    assert not any("memory-sampler" in names for names in seen)
    assert result.flags["memory_method"] == METHOD_RUSAGE
    assert 0 < result.peak_rss_bytes <= ru_maxrss_bytes()
    sampler = MemorySampler(gpu_index=None).start()
    assert sampler._thread is None and sampler.stop().samples == 0


def test_the_process_place_and_timing_method_are_stored(tmp_path):
    """The spec's repeat, block and order reach the result and every step row; flags say how steps were
    timed (the one method every framework shares)."""
    from worker_helpers import write_spec

    from bench.frameworks.base import TIMING_METHOD
    from bench.worker.main import run as run_worker_in_process

    bad = fake_cell(framework="numpy-does-not-exist")  # fails before any framework import
    spec = write_spec(tmp_path, bad, repeat=3, block=5, order=11)
    run_worker_in_process(str(spec))
    d = json.loads((tmp_path / bad.cell_id / "result.json").read_text())
    assert (d["repeat"], d["block"], d["order"]) == (3, 5, 11)
    assert d["status"] == "failed" and d["flags"]["timing"] == TIMING_METHOD
    settings = RunSettings(steps=2, warmup=1, window_steps=1, n_batches=2)
    m, backend, _, records = _measure(tmp_path, settings)
    m.spec.repeat = 2
    m.run(backend)
    assert {r.repeat for r in records} == {2}
    loaded = WorkerSpec.load(spec)
    assert (loaded.repeat, loaded.block, loaded.order) == (3, 5, 11)


def test_probe_missing_framework_is_cheap_and_clear(monkeypatch):
    imported = []
    monkeypatch.setattr(probe_mod.importlib.util, "find_spec", lambda name: imported.append(name))
    out = probe_mod.probe("tensorflow")
    assert imported == ["tensorflow"]
    assert out == {"framework": "tensorflow", "installed": False, "version": None, "cuda": False,
                   "devices": [], "reason": "tensorflow not installed", "cuda_build": None}


def test_probe_never_raises(monkeypatch):
    def broken(out):
        raise OSError("libcudart.so.12: cannot open shared object file")

    def unimportable(out):
        raise ImportError("libtorch_cpu.so: undefined symbol\nmore")

    monkeypatch.setattr(probe_mod.importlib.util, "find_spec", lambda name: object())
    framework_probe = get_framework("torch").module("probe")  # imports no torch until called
    monkeypatch.setattr(framework_probe, "probe", broken)
    out = probe_mod.probe("torch")
    assert out["installed"] is False
    assert out["reason"] == "torch probe failed (OSError: libcudart.so.12: cannot open shared object file)"
    monkeypatch.setattr(framework_probe, "probe", unimportable)
    reason = probe_mod.probe("torch")["reason"]
    assert reason == "torch fails to import (ImportError: libtorch_cpu.so: undefined symbol)"


def test_probe_cli_prints_one_json_line_for_an_unknown_framework():
    proc = subprocess.run([sys.executable, "-m", "bench.worker.probe", "jax"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert set(out) >= {"framework", "installed", "version", "cuda", "devices", "reason"}
    assert out["installed"] is False and "unknown framework 'jax'" in out["reason"]


def test_worker_spec_defaults(tmp_path):
    p = tmp_path / "spec.json"
    p.write_text(json.dumps({"cell": fake_cell().to_dict(), "settings": {"steps": 5},
                             "result_path": str(tmp_path / "x" / "r.json")}))
    spec = WorkerSpec.load(p)
    assert spec.settings.steps == 5 and spec.settings.warmup == RunSettings().warmup
    assert spec.steps_path.parent == spec.result_path.parent
    assert spec.peak_flops is None and spec.test_fault is None
    assert not math.isnan(spec.settings.memory_sample_interval_s)


def test_peak_for_precision_takes_a_number_or_the_cells_precision():
    assert peak_for_precision(None, "fp32") is None
    assert peak_for_precision(2e14, "bf16") == 2e14
    by_precision = {"fp32": 5e13, "bf16": 7e14}
    assert peak_for_precision(by_precision, "bf16") == 7e14
    assert peak_for_precision(by_precision, "fp16") is None


class _SleepyBackend(FakeBackend):
    """Fake steps that take a known 20 ms."""

    def wrap(self) -> None:
        super().wrap()
        inner = self.step_fn

        def step(*args, **kwargs):
            import time

            time.sleep(0.02)
            return inner(*args, **kwargs)

        self.step_fn = step


def test_injected_slowdown_slows_the_timed_steps_and_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMEBENCH_INJECT_SLOWDOWN", "0.5")
    settings = RunSettings(steps=5, warmup=3, window_steps=0, n_batches=2)
    cell = fake_cell()
    spec = WorkerSpec(cell=cell, settings=settings, result_path=tmp_path / "r.json",
                      steps_path=tmp_path / "s.jsonl", work_dir=tmp_path / "w")
    result = CellResult(cell=cell, status="failed")
    backend = _SleepyBackend(cell, settings, plan_flags(cell, settings, tmp_path))
    Measurement(spec, result, []).run(backend)
    warm = sorted(result.warmup_step_times_s)[1]
    assert result.flags["injected_slowdown"]["fraction"] == 0.5
    assert result.flags["injected_slowdown"]["sleep_s"] == pytest.approx(0.5 * warm, rel=0.3)
    assert result.step_time_median_s > 1.3 * warm
    assert any("FRAMEBENCH_INJECT_SLOWDOWN" in w for w in result.compile_warnings)


def test_a_failed_process_keeps_only_the_rows_its_result_accounts_for() -> None:
    """A scenario that counts its steps once done (generate) can fail with more rows recorded than its
    result says; the worker keeps the first ones, within the bound the loader holds a stored run to."""
    from bench.results.load import row_bound
    from bench.results.records import Cell, CellResult, RunSettings, StepRecord
    from bench.worker.main import kept_steps

    cell = Cell("dcgan-mnist", "torch", "eager", "cpu")
    settings = RunSettings(steps=3, warmup=1, window_steps=2)
    result = CellResult(cell=cell, status="failed")
    records = [StepRecord(cell_id=cell.cell_id, step=i, phase="timed", step_time_s=0.001, losses={})
               for i in range(50)]
    kept = kept_steps(result, records, settings)
    assert len(kept) == row_bound(settings, result) == 7 and kept == records[:7]
    assert result.flags["steps_dropped"] == 43
    assert kept_steps(result, records[:5], settings) == records[:5]
