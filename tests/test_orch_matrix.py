"""bench.matrix, bench.profiles, bench.probing, bench.envinfo: which cells run, which are skipped and why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from orch_helpers import FAKES, fakes  # noqa: F401 (fixture)

from bench import envinfo, machine, matrix, probing, profiles
from bench.errors import BenchError, UnknownChoice
from bench.frameworks.tensorflow.onednn import onednn_default_on, opposite_onednn_variant
from bench.records import Cell
from models.registry import get_spec

# The built-in frameworks and models, named so that a plugin registered elsewhere cannot change these.
BUILTIN = {"models": ("dcgan-mnist", "dcgan-64"), "frameworks": ("tensorflow", "torch")}


def probe(fw: str, installed: bool = True, cuda: bool = False, **extra: object) -> dict:
    """A probe result in bench.probe's protocol."""
    return {"framework": fw, "installed": installed, "version": "1" if installed else None,
            "cuda": installed and cuda, "devices": ["NVIDIA H100 80GB HBM3"] if installed and cuda else [],
            "reason": (None if cuda else "no CUDA device") if installed else f"{fw} not installed",
            "cuda_build": cuda, **extra}


CPU_ONLY = {"tensorflow": probe("tensorflow"), "torch": probe("torch")}


def by_id(planned: list[matrix.PlannedCell]) -> dict[str, matrix.PlannedCell]:
    return {p.cell.cell_id: p for p in planned}


def build(profile: str, probes: dict, **filters: object) -> list[matrix.PlannedCell]:
    f = matrix.Filters(**{**BUILTIN, **filters})
    return matrix.build_matrix(profiles.get_profile(profile), probes, f)


def test_matrix_equals_the_one_recorded_before_the_restructure() -> None:
    """Every default matrix (quick and full; CPU only, CUDA, one framework missing; oneDNN on or off
    by default) is cell for cell, in order and with its skip reasons, what it was before planning
    moved to the framework descriptors."""
    golden = json.loads((FAKES / "matrix_golden.json").read_text())
    for key, expected in golden["matrices"].items():
        profile, config = key.split("/")
        planned = build(profile, golden["probes"][config])
        assert [[p.cell.cell_id, p.skip_reason] for p in planned] == expected, key


def test_default_quick_matrix_on_a_cpu_machine() -> None:
    planned = build("quick", CPU_ONLY)
    runnable = [p.cell for p in planned if p.runnable]
    assert all(c.device == "cpu" and c.precision == "fp32" for c in runnable)
    assert all(c.batch_size == get_spec(c.model).batch_size for c in runnable)  # 0 → spec default
    ids = by_id(planned)
    for model in BUILTIN["models"]:
        b = get_spec(model).batch_size
        for fw, mode in [("tensorflow", "eager"), ("tensorflow", "function"), ("tensorflow", "xla"),
                         ("torch", "eager"), ("torch", "compile")]:
            assert ids[Cell(model, fw, mode, "cpu", "fp32", b).cell_id].runnable
            cuda = ids[Cell(model, fw, mode, "cuda", "fp32", b).cell_id]
            assert cuda.skip_reason == "no CUDA device"
        for mode in ("reduce-overhead", "max-autotune"):
            assert ids[Cell(model, "torch", mode, "cpu", "fp32", b).cell_id].skip_reason == "needs CUDA"
    variants = {(c.framework, c.mode, c.variant) for c in runnable}
    opposite = opposite_onednn_variant(CPU_ONLY["tensorflow"])
    assert {v for v in variants if v[2] != "default"} == {("tensorflow", "function", opposite)}


@pytest.mark.parametrize("onednn", [True, False])
def test_onednn_flip_on_cpu_follows_the_probe_in_both_profiles(onednn: bool) -> None:
    probes = {"tensorflow": probe("tensorflow", onednn_enabled=onednn), "torch": probe("torch")}
    flipped = "onednn-off" if onednn else "onednn-on"
    for profile, modes in (("quick", {"function"}), ("full", {"eager", "function", "xla"})):
        planned = build(profile, probes, frameworks=("tensorflow",))
        extra = [p.cell for p in planned if p.runnable and p.cell.variant != "default"]
        assert {(c.mode, c.device, c.variant) for c in extra} == {(m, "cpu", flipped) for m in modes}, profile


def test_missing_framework_cells_are_skipped_with_its_reason() -> None:
    probes = {"tensorflow": probe("tensorflow", installed=False), "torch": probe("torch")}
    planned = build("quick", probes)
    tf = [p for p in planned if p.cell.framework == "tensorflow"]
    assert tf and all(p.skip_reason == "tensorflow not installed" for p in tf)
    assert any(p.runnable for p in planned if p.cell.framework == "torch")
    # A framework with no probe result at all is skipped too, not run blind.
    planned = build("quick", {"torch": probe("torch")}, frameworks=("tensorflow",))
    (unprobed,) = {p.skip_reason for p in planned}
    assert unprobed == "tensorflow was not probed"


def test_cuda_machine_full_profile_adds_cuda_precisions_and_variants() -> None:
    probes = {"tensorflow": probe("tensorflow", cuda=True), "torch": probe("torch", cuda=True)}
    assert machine.cuda_available(probes["torch"])
    planned = build("full", probes, models=("dcgan-64",))
    runnable = [p.cell for p in planned if p.runnable]
    assert {c.precision for c in runnable if c.device == "cuda"} == {"fp32", "bf16", "fp16"}
    assert {c.precision for c in runnable if c.device == "cpu"} == {"fp32"}
    assert any(c.mode == "reduce-overhead" and c.device == "cuda" for c in runnable)
    torch_extra = {(c.mode, c.device, c.variant) for c in runnable
                   if c.framework == "torch" and c.variant != "default"}
    compiled = ("compile", "reduce-overhead", "max-autotune")
    assert torch_extra == ({(m, "cuda", "channels-last") for m in ("eager", *compiled)}
                           | {(m, "cuda", "warm-cache") for m in compiled}
                           | {("compile", "cpu", "warm-cache")})
    # No oneDNN flip on CUDA; on CPU, as without CUDA.
    assert not any(c.variant.startswith("onednn") and c.device == "cuda" for c in runnable)


def test_filters_and_explicit_variants() -> None:
    f = matrix.Filters(models=("dcgan-mnist",), frameworks=("tensorflow",), modes=("xla",),
                       devices=("cpu",), variants=("onednn-off", "onednn-on"), batch_size=16).validate()
    planned = matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY, f)
    assert sorted(p.cell.variant for p in planned) == ["onednn-off", "onednn-on"]
    assert all(p.cell.batch_size == 16 and p.runnable for p in planned)
    # An explicitly asked-for variant that makes no sense is recorded, not silently dropped.
    f2 = matrix.Filters(frameworks=("torch",), modes=("eager",), devices=("cpu",), models=("dcgan-64",),
                        variants=("warm-cache",))
    (only,) = matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY, f2)
    assert "compiled modes" in only.skip_reason


@pytest.mark.parametrize(("kw", "msg"), [
    ({"models": ("dcgan-999",)}, "unknown model 'dcgan-999'; valid choices: .*dcgan-mnist"),
    ({"frameworks": ("jax",)}, "unknown framework 'jax'"),
    ({"modes": ("jit",)}, "unknown mode 'jit'"),
    ({"frameworks": ("torch",), "modes": ("xla",)}, "unknown mode 'xla'"),
    ({"devices": ("tpu",)}, "unknown device 'tpu'"),
    ({"precisions": ("int8",)}, "unknown precision 'int8'"),
    ({"variants": ("turbo",)}, "unknown variant 'turbo'"),
])
def test_filter_validation_errors(kw: dict, msg: str) -> None:
    with pytest.raises(UnknownChoice, match=msg):
        matrix.Filters(**kw).validate()


def test_no_matching_cell_is_an_error() -> None:
    f = matrix.Filters(frameworks=("tensorflow",), variants=("channels-last", "default"), modes=("eager",))
    assert matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY, f)  # default still matches
    with pytest.raises(BenchError, match="no cell matches"):
        matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY,
                            matrix.Filters(frameworks=("tensorflow",), variants=("channels-last",)))


def test_split_list() -> None:
    assert matrix.split_list(["a,b", "c", "a"]) == ("a", "b", "c")
    assert matrix.split_list(["all"]) is None and matrix.split_list(None) is None


def test_planning_is_pure(monkeypatch: pytest.MonkeyPatch) -> None:
    """build_matrix starts no process, and importing the matrix imports neither the launcher nor
    anything that spawns processes."""

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("the matrix started a process")

    with monkeypatch.context() as m:
        m.setattr(subprocess, "Popen", no_process)
        for profile in ("quick", "full"):
            assert build(profile, {"tensorflow": probe("tensorflow", cuda=True), "torch": probe("torch")})
    code = ("import sys, bench.matrix\n"
            "print(sorted(m for m in ('bench.launcher', 'bench.processes', 'bench.probing', 'subprocess')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_quick_profile_fits_the_cpu_budget() -> None:
    """Every CPU cell of both models in the quick profile: under 15 minutes on the 2-core reference."""
    total = 0.0
    for p in build("quick", CPU_ONLY):
        if p.runnable:
            s = profiles.make_settings("quick", p.cell.model, physical_cores=2)
            total += profiles.estimate_cell_seconds(p.cell, s)
    assert 300 < total < 15 * 60, total


def test_make_settings_profiles_and_overrides() -> None:
    q = profiles.make_settings("quick", "dcgan-64", physical_cores=2)
    m = profiles.make_settings("quick", "dcgan-mnist", physical_cores=2)
    f = profiles.make_settings("full", "dcgan-64", physical_cores=2)
    assert q.steps < m.steps < f.steps and q.intra_op_threads == 2 and q.profile == "quick"
    # The plans as before the restructure (warm-up, timed steps, window), now from each model's cost.
    assert [(s.warmup, s.steps, s.window_steps) for s in (m, q, f)] == [(3, 10, 8), (3, 6, 4), (10, 50, 100)]
    assert profiles.get_profile("quick").plan(None) == profiles.get_profile("quick").plan("dcgan-64")
    o = profiles.make_settings("quick", "dcgan-64", {"steps": 9, "warmup": None, "intra_op_threads": 1})
    assert (o.steps, o.warmup, o.intra_op_threads) == (9, q.warmup, 1)
    with pytest.raises(BenchError, match="--steps must be at least 1"):
        profiles.make_settings("quick", None, {"steps": 0})
    with pytest.raises(UnknownChoice, match="unknown profile 'slow'"):
        profiles.get_profile("slow")


def test_probe_frameworks_through_subprocesses(fakes: Path) -> None:  # noqa: F811
    res = probing.probe_frameworks(["tensorflow", "torch"])
    assert res["torch"]["installed"] and res["torch"]["version"] == "9.9"
    assert res["torch"]["python_executable"] == sys.executable
    assert not machine.cuda_available(res["torch"])


def test_fake_probe_speaks_the_real_probes_protocol(fakes: Path) -> None:  # noqa: F811
    from bench.probe import probe as real_probe

    fake = probing.probe_frameworks(["torch"])["torch"]
    fake.pop("python_executable")
    # The keys every answer of bench.probe has (an unknown name answers without importing anything).
    assert set(fake) == set(real_probe("no-such-framework"))
    assert isinstance(fake["cuda"], bool) and isinstance(fake["devices"], list)


def test_probe_failure_becomes_a_reason(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("FRAMEBENCH_PROBE_MODULE", "no_such_probe_module")
    res = probing.probe_frameworks(["torch"])
    assert res["torch"]["installed"] is False
    assert "probe failed" in res["torch"]["reason"] and "no_such_probe_module" in res["torch"]["reason"]
    planned = matrix.build_matrix(profiles.get_profile("quick"), res, matrix.Filters(frameworks=("torch",)))
    assert not any(p.runnable for p in planned)


def test_roofline_is_measured_by_the_preferred_framework_with_cells_on_the_device() -> None:
    assert probing.roofline_framework(["tensorflow", "torch"]) == "torch"
    assert probing.roofline_framework(["tensorflow", "tensorflow"]) == "tensorflow"
    assert probing.roofline_framework([]) is None


def test_onednn_default_follows_the_probe_then_the_env_var() -> None:
    assert onednn_default_on(None, {"TF_ENABLE_ONEDNN_OPTS": "0"}) is False
    assert onednn_default_on(None, {"TF_ENABLE_ONEDNN_OPTS": "1"}) is True
    assert onednn_default_on({"onednn_enabled": False}, {"TF_ENABLE_ONEDNN_OPTS": "1"}) is False


def test_environment_has_fingerprint_and_speed_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/x")
    env = envinfo.collect_environment({"torch": probe("torch")})
    assert env["env_vars"]["OMP_NUM_THREADS"] == "3" and "TORCHINDUCTOR_CACHE_DIR" in env["env_vars"]
    assert "HOME" not in env["env_vars"]
    assert env["cpu"]["logical_cores"] >= 1 and env["memory"]["total_bytes"] > 0
    assert env["framework_versions"] == {"torch": "1"}
    fp = env["fingerprint"]
    assert len(fp["hash"]) == 16 and fp == envinfo.collect_environment({})["fingerprint"]  # stable
    other = machine.fingerprint_of({**env["cpu"], "model": "Other CPU"}, env["memory"], env["gpu"])
    assert other["hash"] != fp["hash"]
    assert "fingerprint" in envinfo.format_environment(env)


def test_cuda_detection_reads_bench_probe_format() -> None:
    # bench.probe: "cuda" is a bool and "devices" are GPU names (no "cuda" in them).
    gpu = probe("torch", cuda=True)
    cpu = {**probe("torch"), "reason": "no CUDA device (torch built without CUDA)"}
    assert machine.cuda_available(gpu) and not machine.cuda_available(cpu)
    assert not machine.cuda_available({**gpu, "installed": False})
    planned = build("quick", {"torch": cpu}, frameworks=("torch",), modes=("eager",), models=("dcgan-64",))
    assert {p.cell.device: p.skip_reason for p in planned} == {
        "cpu": None, "cuda": "no CUDA device (torch built without CUDA)"}
    # One framework sees CUDA, the other does not: its CUDA cells say so.
    mixed = build("quick", {"tensorflow": probe("tensorflow"), "torch": gpu}, modes=("eager",),
                  models=("dcgan-64",), devices=("cuda",))
    assert {p.cell.framework: p.skip_reason for p in mixed} == {
        "tensorflow": "tensorflow sees no CUDA device", "torch": None}


def test_quick_profile_halves_a_cpu_batch_that_exceeds_its_flops_budget() -> None:
    from bench.profiles import get_profile
    from models.registry import family_of, get_spec

    quick, full = get_profile("quick"), get_profile("full")
    for model in ("dcgan-mnist", "dcgan-64", "vae-mnist"):  # defaults fit: unchanged
        default = get_spec(model).batch_size
        assert quick.batch_size(model, "cpu", default) == default
    spec = get_spec("ddpm-32")
    batch = quick.batch_size("ddpm-32", "cpu", spec.batch_size)
    assert batch < spec.batch_size and spec.batch_size % batch == 0
    assert family_of("ddpm-32").train_step_flops(spec, batch) <= quick.cpu_step_flops_budget
    assert family_of("ddpm-32").train_step_flops(spec, 2 * batch) > quick.cpu_step_flops_budget
    assert quick.batch_size("ddpm-32", "cuda", spec.batch_size) == spec.batch_size
    assert full.batch_size("ddpm-32", "cpu", spec.batch_size) == spec.batch_size
