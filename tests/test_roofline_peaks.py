"""bench.host.roofline: a device's peak is the best of every source (frameworks and numpy), per precision,
each measured in its own process; a cell above its peak is flagged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.host import roofline
from bench.host.cpuinfo import cpu_supports_bf16

ROOT = Path(__file__).resolve().parent.parent
FAKES = ROOT / "tests" / "orch_fakes"


def _answer(fp32: float, bf16: float | None = None, bw: float = 1e10, **extra: object) -> dict:
    peaks = {"fp32": fp32, **({"bf16": bf16} if bf16 else {})}
    return {"peak_flops": fp32, "peak_flops_by_precision": peaks, "bandwidth_bytes_s": bw, **extra}


def test_merge_keeps_the_best_source_of_each_precision() -> None:
    out = roofline.merge_peaks("cpu", {
        "torch": _answer(2.1e11, 1.6e11, bw=8e9, tf32={"x": 1}, matmul_size=2048),
        "tensorflow": _answer(3.3e11, 1.2e11, bw=9e9, tf32=False, matmul_size=2048),
        "numpy": _answer(3.0e11, bw=1.4e10, matmul_size=2048),
    })
    assert out["peak_flops"] == out["peak_flops_by_precision"]["fp32"] == 3.3e11
    assert out["matmul_flops_by_precision"] == {"fp32": 3.3e11, "bf16": 1.6e11}
    # A bf16 matmul slower than fp32's (a CPU without AMX): a mixed bf16 step's ceiling is fp32's.
    assert out["peak_flops_by_precision"] == {"fp32": 3.3e11, "bf16": 3.3e11}
    assert out["peak_sources"] == {"fp32": "tensorflow", "bf16": "torch"}
    assert out["framework"] == "tensorflow" and out["tf32"] is False  # the fp32 winner's answer
    assert out["bandwidth_bytes_s"] == 1.4e10 and out["bandwidth_source"] == "numpy"
    assert set(out["sources"]) == {"torch", "tensorflow", "numpy"} and "error" not in out


def test_a_reduced_precision_faster_than_fp32_keeps_its_own_ceiling() -> None:
    assert roofline.mixed_precision_ceilings({"fp32": 6e13, "bf16": 7e14, "fp16": 7e14}) == {
        "fp32": 6e13, "bf16": 7e14, "fp16": 7e14}
    assert roofline.mixed_precision_ceilings({"bf16": 1e11}) == {"bf16": 1e11}


def test_merge_ties_keep_the_preferred_source_and_reads_a_bare_peak() -> None:
    out = roofline.merge_peaks("cuda", {"torch": {"peak_flops": 1e12}, "tensorflow": {"peak_flops": 1e12}})
    assert out["framework"] == "torch" and out["peak_flops_by_precision"] == {"fp32": 1e12}


def test_merge_of_failures_says_why() -> None:
    out = roofline.merge_peaks("cpu", {"torch": {"peak_flops": None, "error": "boom"}, "numpy": {}})
    assert out["peak_flops"] is None and out["peak_flops_by_precision"] is None
    assert "torch: boom" in out["error"] and "numpy: no fp32 peak" in out["error"]
    assert roofline.merge_peaks("cpu", {})["error"] == "no source measures the cpu roofline"


def test_sources_are_the_roofline_frameworks_then_numpy_on_cpu() -> None:
    fws = roofline.roofline_frameworks()
    assert roofline.roofline_sources("cpu") == (*fws, "numpy")
    assert roofline.roofline_sources("cuda") == fws
    assert roofline.roofline_sources("cpu", [fws[-1]]) == (fws[-1], "numpy")


def test_cpu_measures_bf16_only_where_it_is_native() -> None:
    assert roofline.device_precisions("cpu") == (("fp32", "bf16") if cpu_supports_bf16() else ("fp32",))
    assert roofline.device_precisions("cuda") == ("fp32", "bf16", "fp16")


def test_measure_peaks_runs_every_source_in_its_own_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMEBENCH_ROOFLINE_MODULE", "orch_fake_roofline")
    monkeypatch.setenv("PYTHONPATH", f"{FAKES}:{ROOT}")
    out = roofline.measure_peaks("cpu", roofline.roofline_frameworks())
    assert list(out["sources"]) == list(roofline.roofline_sources("cpu"))
    assert out["peak_flops"] == 1.0e12 and out["framework"] == roofline.roofline_frameworks()[0]


def test_numpy_source_measures_fp32_without_a_framework() -> None:
    out = roofline.measure("cpu", "numpy", size=128, copy_bytes=1 << 20, iters=1, repeats=2)
    assert set(out["peak_flops_by_precision"]) == {"fp32"} and out["peak_flops"] > 1e8
    assert out["matmul_flops_by_precision"] == out["peak_flops_by_precision"]
    assert out["bandwidth_bytes_s"] > 1e8 and out["framework"] == "numpy"


def test_cli_without_a_framework_prints_the_best_of_every_source() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.host.roofline", "--device", "cpu", "--size", "128",
                           "--copy-bytes", "1000000", "--iters", "1", "--repeats", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["device"] == "cpu" and "numpy" in out["sources"]
    assert set(out["peak_flops_by_precision"]) == set(roofline.device_precisions("cpu"))
    assert out["peak_flops"] == max(s["matmul_flops_by_precision"]["fp32"] for s in out["sources"].values()
                                    if "matmul_flops_by_precision" in s)
    assert out["framework"] == out["peak_sources"]["fp32"]


def test_a_cell_above_its_peak_is_flagged() -> None:
    assert roofline.above_peak(3.0e11, 4.0e11) is None
    assert roofline.above_peak(None, 4.0e11) is None and roofline.above_peak(3e11, None) is None
    msg = roofline.above_peak(4.2e11, 3.3e11)
    assert msg is not None and "1.27x" in msg and "420 GFLOP/s" in msg
