"""What only a GPU can check (marked ``cuda``; skipped without a CUDA device). On a GPU box, in one
command of under 3 minutes: ``python -m pytest -m cuda`` (scripts/gpu_evidence.sh runs it too).

- a tiny real cell of every torch CUDA mode in fp32, bf16 and fp16, through the real worker;
- the GAN, VAE and U-Net steps under reduce-overhead and max-autotune give eager's losses over 3 steps
  (Inductor's ``fallback_random``: the compiled dropout draws eager's random numbers);
- the TF32 switches govern the kernels: relative error against float64 ~1e-6 off, ~1e-4 on, for a
  matmul and a convolution;
- NVML per-process memory, and its device-delta fallback when the driver lists no PID;
- the allocator's peaks after a reset (the steady-state figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.results.records import Cell, RunSettings
from bench.worker import memory
from bench.worker.flags import plan_flags
from models.registry import family_of, get_spec

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

ROOT = Path(__file__).resolve().parents[1]
TORCH_CUDA_MODES = ("eager", "compile", "reduce-overhead", "max-autotune")
TINY = RunSettings(steps=2, warmup=1, window_steps=2, n_batches=2, seed=0, repeats=1)
MIB = 2**20


def _cell(model: str, mode: str, precision: str = "fp32", batch: int = 4) -> Cell:
    return Cell(model=model, framework="torch", mode=mode, device="cuda", precision=precision,
                batch_size=batch, variant="default")


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("mode", TORCH_CUDA_MODES)
def test_tiny_real_cell_through_the_worker(tmp_path: Path, mode: str, precision: str) -> None:
    cell = _cell("vae-mnist", mode, precision)
    out = tmp_path / "cell"
    spec = {"cell": cell.to_dict(), "settings": TINY.to_dict(), "result_path": str(out / "result.json"),
            "steps_path": str(out / "steps.jsonl"), "work_dir": str(out / "work"), "peak_flops": None}
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, "-m", "bench.worker.main", str(spec_path)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True,
                          timeout=170, check=False)
    result = json.loads((out / "result.json").read_text()) if (out / "result.json").exists() else {}
    assert result.get("status") == "ok", (result.get("reason"), proc.stderr[-2000:])
    flags = result["flags"]
    assert flags["tf32_label"] == "TF32 off (both)"
    assert flags["nvml_memory_source"] in ("process", "device-delta")
    assert result["device_alloc_steady_peak_bytes"] <= result["device_alloc_peak_bytes"]
    if mode in ("reduce-overhead", "max-autotune"):
        assert flags["cuda_graphs_used"] is True, result["compile_warnings"]
    if precision == "fp16":
        assert "get_scale()" in flags["grad_scaler_host_syncs"]


def _three_step_losses(model: str, mode: str) -> np.ndarray:
    from bench.frameworks.torch import backend as tb

    torch._dynamo.reset()
    cell = _cell(model, mode)
    settings = RunSettings(seed=1, n_batches=3)
    backend = tb.TorchBackend(cell, settings, plan_flags(cell, settings, "."))
    backend.setup()
    family, spec = family_of(model), get_spec(model)
    backend.build(family, spec, cell.batch_size, family.make_inputs(spec, cell.batch_size, 3, 1, "synthetic"))
    backend.wrap()
    _, first = backend.first_step()
    rest = [losses for _, losses in backend.time_steps(1, 2)]
    return np.array([[step[name] for name in family.losses] for step in (first, *rest)])


@pytest.mark.parametrize("mode", ["reduce-overhead", "max-autotune"])
@pytest.mark.parametrize("model", ["dcgan-mnist", "vae-mnist", "ddpm-32"])
def test_cuda_graph_modes_give_eager_losses(model: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config, "fallback_random", True)
    eager = _three_step_losses(model, "eager")
    compiled = _three_step_losses(model, mode)
    np.testing.assert_allclose(compiled, eager, rtol=2e-3, atol=1e-4, err_msg=f"{model} {mode}")


def _relative_error(enabled: bool, op: str) -> float:
    from bench.frameworks.torch.backend import apply_tf32

    g = torch.Generator(device="cpu").manual_seed(0)
    try:
        apply_tf32(enabled)
        torch.backends.cudnn.benchmark = False
        if op == "matmul":
            a, b = torch.randn(1024, 1024, generator=g), torch.randn(1024, 1024, generator=g)
            got = (a.cuda() @ b.cuda()).double().cpu()
            want = a.double() @ b.double()
        else:
            x, w = torch.randn(8, 64, 32, 32, generator=g), torch.randn(64, 64, 3, 3, generator=g)
            got = torch.nn.functional.conv2d(x.cuda(), w.cuda(), padding=1).double().cpu()
            want = torch.nn.functional.conv2d(x.double(), w.double(), padding=1)
        return float((got - want).norm() / want.norm())
    finally:
        apply_tf32(False)


@pytest.mark.parametrize("op", ["matmul", "conv"])
def test_tf32_switches_govern_the_kernels(op: str) -> None:
    off, on = _relative_error(False, op), _relative_error(True, op)
    assert off < 1e-5, off  # IEEE fp32: ~1e-6
    if torch.cuda.get_device_capability(0) >= (8, 0):  # TF32 exists from Ampere on
        assert on > 1e-5 and on > 10 * off, (off, on)  # ~1e-4 with TF32


def test_nvml_per_process_memory_and_its_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    pynvml = pytest.importorskip("pynvml")
    baseline = memory.device_used_bytes(0)
    if baseline is None:
        pytest.skip("NVML unavailable")
    held = torch.empty(256 * MIB, dtype=torch.uint8, device="cuda")
    sampler = memory.MemorySampler(interval_s=0.01, gpu_index=0, baseline_used=baseline).start()
    source = sampler.decide_source()
    report = sampler.stop()
    assert source in ("process", "device-delta") and report.nvml_source == source
    assert report.nvml_peak_bytes >= 256 * MIB
    # A driver that lists no PID (a container): the device's used memory above the pre-import baseline.
    monkeypatch.setattr(pynvml, "nvmlDeviceGetComputeRunningProcesses", lambda handle: [])
    sampler = memory.MemorySampler(interval_s=0.01, gpu_index=0, baseline_used=baseline).start()
    assert sampler.decide_source() == "device-delta"
    assert sampler.stop().nvml_peak_bytes >= 256 * MIB
    del held


def test_allocator_peaks_after_a_reset() -> None:
    from bench.frameworks.torch import backend as tb

    cell = _cell("vae-mnist", "eager")
    backend = tb.TorchBackend(cell, RunSettings(), plan_flags(cell, RunSettings(), "."))
    big = torch.empty(512 * MIB, dtype=torch.uint8, device="cuda")
    del big
    whole = backend.memory_peaks()
    assert backend.reset_memory_peaks() is True
    small = torch.empty(16 * MIB, dtype=torch.uint8, device="cuda")
    peaks = memory.steady_and_whole(whole, backend.memory_peaks())
    assert peaks["device_alloc_peak_bytes"] >= 512 * MIB
    assert 16 * MIB <= peaks["device_alloc_steady_peak_bytes"] < 128 * MIB
    del small


def test_a_rank_runs_on_the_device_its_launch_gives() -> None:
    """The backend places the model on cuda:<device_index> (bench.launchers gives each rank one) and
    reads its allocator peaks there; an index past the visible devices is a skip reason, not a crash."""
    from bench.frameworks.torch import backend as tb

    cell = _cell("vae-mnist", "eager")
    plan = plan_flags(cell, RunSettings(), ".")
    last = torch.cuda.device_count() - 1
    backend = tb.TorchBackend(cell, RunSettings(), plan, device_index=last)
    assert backend.device_available() is None and backend.gpu_index() == last
    assert backend.torch_device == torch.device(f"cuda:{last}")
    held = torch.empty(64 * MIB, dtype=torch.uint8, device=backend.torch_device)
    assert backend.memory_peaks()["device_alloc_peak_bytes"] >= 64 * MIB
    del held
    beyond = tb.TorchBackend(cell, RunSettings(), plan, device_index=last + 1)
    assert f"no CUDA device {last + 1}" in (beyond.device_available() or "")
