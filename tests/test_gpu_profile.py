"""The GPU default: what `bench all` runs on a GPU box, its 30-minute budget on one H100 (planned from
this CPU machine with --assume-cuda), and estimates from the descriptors and from stored runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from orch_helpers import fakes  # noqa: F401 (fixture)

from bench import cli
from bench.frameworks.registry import frameworks, get_framework
from bench.plan import estimates, matrix, profiles
from bench.plan.plan_text import assume_cuda_probes, coverage_lines
from bench.results.records import CellResult, RunSettings
from models.registry import model_names

H100 = "NVIDIA H100 80GB HBM3"
BOTH = {fw: {"framework": fw, "installed": True, "version": "1", "cuda": False, "reason": "no CUDA device"}
        for fw in ("tensorflow", "torch")}


def gpu_plan() -> tuple[list, dict[str, RunSettings]]:
    probes = assume_cuda_probes(BOTH, H100)
    planned = matrix.build_matrix(profiles.get_profile("gpu"), probes, matrix.Filters())
    cells = [p.cell for p in planned if p.runnable]
    return cells, {m: profiles.make_settings("gpu", m, physical_cores=16) for m in model_names()}


def test_cuda_present_picks_the_gpu_profile() -> None:
    assert profiles.default_profile_name(True) == "gpu"
    assert profiles.default_profile_name(False) == "quick"


def test_gpu_profile_fits_30_minutes_on_one_h100_and_covers_every_model_and_torch_mode() -> None:
    cells, settings = gpu_plan()
    total = sum(settings[c.model].repeats * estimates.estimate_cell_seconds(c, settings[c.model])
                for c in cells)
    assert total <= profiles.GPU_PROFILE_BUDGET_S, total / 60
    assert all(c.device == "cuda" for c in cells)
    assert {c.model for c in cells} == set(model_names())
    torch_cells = [c for c in cells if c.framework == "torch"]
    # Every torch mode that trains (the deployed runtimes are modes of the generate scenario only).
    assert {c.mode for c in torch_cells} == {m.name for m in get_framework("torch").modes
                                             if m.applies_to("train")}
    assert {"reduce-overhead"} <= {c.mode for c in torch_cells}  # a CUDA-graph mode, every model
    assert {c.model for c in torch_cells if c.mode == "reduce-overhead"} == set(model_names())
    assert {c.precision for c in cells} == {"fp32", "bf16"}
    assert all(s.repeats >= 2 and s.compile_cache == "shared" for s in settings.values())
    # Max-autotune (minutes of kernel benchmarking per compile) runs on one model, in fp32.
    autotuned = [c for c in torch_cells if c.mode == "max-autotune"]
    assert len(autotuned) == 1 and autotuned[0].precision == "fp32"


def test_compile_estimates_come_from_the_descriptors() -> None:
    for d in frameworks():
        for mode in d.modes:
            if not mode.compiles:
                continue
            devices = ("cuda",) if mode.needs_cuda else ("cpu", "cuda")
            for device in devices:
                assert mode.cold_compile_s.get(device, 0) > 0, (d.name, mode.name, device)
                assert 0 < mode.warm_compile_s.get(device, 0) <= mode.cold_compile_s[device]
    cells, settings = gpu_plan()
    by_mode = {(c.framework, c.mode): c for c in cells if c.precision == "fp32"}
    s = settings["vae-mnist"]
    # Not one flat figure: max-autotune costs more than compile; a warm process less than the cold one.
    ma, co = by_mode[("torch", "max-autotune")], by_mode[("torch", "compile")]
    assert estimates.process_seconds(ma, s, 1) > estimates.process_seconds(co, s, 1) + 60
    assert estimates.process_seconds(co, s, 2) < estimates.process_seconds(co, s, 1)


def _stored_result(tmp_path: Path, first_step_s: float) -> CellResult:
    cells, _ = gpu_plan()
    cell = next(c for c in cells if c.framework == "torch" and c.mode == "compile")
    return CellResult(cell=cell, status="ok", repeat=1, time_to_first_step_s=first_step_s,
                      step_time_median_s=0.01, n_steps=30, wall_s=first_step_s + 40.0,
                      flags={"compile_cache": "shared"})


def test_history_of_this_machine_replaces_the_descriptors() -> None:
    past = estimates.PastTimings()
    r = _stored_result(Path("."), first_step_s=400.01)
    past.add(r)
    settings = profiles.make_settings("gpu", r.cell.model, physical_cores=16)
    assert estimates.compile_seconds(r.cell, estimates.COLD, past) == pytest.approx(400.0)
    assert estimates.compile_seconds(r.cell, estimates.WARM, past) == \
        get_framework("torch").mode("compile").warm_compile_s["cuda"]
    assert estimates.process_seconds(r.cell, settings, 1, past) > 400
    assert "descriptors (no stored run" in estimates.PastTimings().describe()


def test_history_reads_a_committed_run_of_the_same_cpu_only() -> None:
    runs = sorted(Path("reports/runs").iterdir())[-1:]
    from bench.results.load import read_environment

    cpu = read_environment(runs[0])["cpu"]["model"]
    same = estimates.load_past_timings(Path("reports/runs"), {"cpu": cpu}, ("cpu",), runs=runs)
    assert same.runs and same.compile_s and same.start_s
    other = estimates.load_past_timings(Path("reports/runs"), {"cpu": "another CPU", "cuda": H100}, runs=runs)
    assert not other.runs


def test_coverage_lines_name_modes_precisions_and_one_model_modes() -> None:
    cells, _ = gpu_plan()
    text = "\n".join(coverage_lines(cells))
    assert "torch on cuda, 4 model(s)" in text and "max-autotune fp32 on " in text
    assert "compile fp32/bf16; reduce-overhead fp32;" in text
    # TensorFlow's default on a GPU is XLA (Keras' jit_compile="auto"): every model, fp32 and bf16
    assert "xla fp32/bf16" in text and "function fp32 on " in text


def _minutes(text: str) -> float:
    m = re.search(r"estimated total: ~(?:(\d+):)?(\d+):(\d+)", text)
    assert m, text
    h, mi, s = (int(x) if x else 0 for x in m.groups())
    return h * 60 + mi + s / 60


def test_dry_run_assume_cuda_prints_the_plan_within_budget(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORCH_FAKE_INSTALLED", "tensorflow,torch")
    assert cli.main(["all", "--dry-run", "--assume-cuda", H100]) == 0
    out = capsys.readouterr().out
    assert "profile gpu" in out and f"one {H100}" in out and "covers:" in out
    assert "__cpu__" not in out  # the gpu profile plans CUDA cells only
    assert _minutes(out) <= 30, out
    full = ["all", "--dry-run", "--assume-cuda", H100, "--profile", "full", "--devices", "cuda"]
    assert cli.main(full) == 0
    assert _minutes(capsys.readouterr().out) > 60  # full says its (hours-long) estimate too


def test_assume_cuda_needs_dry_run(fakes: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert cli.main(["all", "--assume-cuda", H100]) == 2
    assert "--assume-cuda needs --dry-run" in capsys.readouterr().err


def test_cuda_present_plans_the_gpu_profile_by_default(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORCH_FAKE_CUDA", "1")
    assert cli.main(["all", "--dry-run", "--frameworks", "torch", "--models", "vae-mnist"]) == 0
    out = capsys.readouterr().out
    assert "profile gpu" in out and "one Fake GPU for CUDA cells" in out
