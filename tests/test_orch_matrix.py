"""bench.matrix, bench.profiles, bench.envinfo: which cells run, which are skipped and why."""

from __future__ import annotations

from pathlib import Path

import pytest
from orch_helpers import fakes  # noqa: F401 (fixture)

from bench import envinfo, matrix, profiles
from bench.errors import BenchError, UnknownChoice
from bench.records import Cell
from models.spec import get_spec


def probe(fw: str, installed: bool = True, cuda: bool = False) -> dict:
    return {"framework": fw, "installed": installed, "version": "1" if installed else None,
            "cuda": "12.4" if cuda else None, "devices": ["cpu", "cuda:0"] if cuda else ["cpu"],
            "reason": None if installed else f"{fw} not installed"}


CPU_ONLY = {"tensorflow": probe("tensorflow"), "torch": probe("torch")}


def by_id(planned: list[matrix.PlannedCell]) -> dict[str, matrix.PlannedCell]:
    return {p.cell.cell_id: p for p in planned}


def test_default_quick_matrix_on_a_cpu_machine() -> None:
    planned = matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY, matrix.Filters())
    runnable = [p.cell for p in planned if p.runnable]
    assert all(c.device == "cpu" and c.precision == "fp32" for c in runnable)
    assert all(c.batch_size == get_spec(c.model).batch_size for c in runnable)  # 0 → spec default
    ids = by_id(planned)
    for model in ("dcgan-mnist", "dcgan-64"):
        b = get_spec(model).batch_size
        for fw, mode in [("tensorflow", "eager"), ("tensorflow", "function"), ("tensorflow", "xla"),
                         ("torch", "eager"), ("torch", "compile")]:
            assert ids[Cell(model, fw, mode, "cpu", "fp32", b).cell_id].runnable
            cuda = ids[Cell(model, fw, mode, "cuda", "fp32", b).cell_id]
            assert cuda.skip_reason == "no CUDA device"
        for mode in ("reduce-overhead", "max-autotune"):
            assert ids[Cell(model, "torch", mode, "cpu", "fp32", b).cell_id].skip_reason == "needs CUDA"
    variants = {(c.framework, c.mode, c.variant) for c in runnable}
    opposite = matrix.opposite_onednn_variant(CPU_ONLY["tensorflow"])
    assert ("tensorflow", "function", opposite) in variants


def test_missing_framework_cells_are_skipped_with_its_reason() -> None:
    probes = {"tensorflow": probe("tensorflow", installed=False), "torch": probe("torch")}
    planned = matrix.build_matrix(profiles.get_profile("quick"), probes, matrix.Filters())
    tf = [p for p in planned if p.cell.framework == "tensorflow"]
    assert tf and all(p.skip_reason == "tensorflow not installed" for p in tf)
    assert any(p.runnable for p in planned if p.cell.framework == "torch")


def test_cuda_machine_full_profile_adds_cuda_precisions_and_variants() -> None:
    probes = {"tensorflow": probe("tensorflow", cuda=True), "torch": probe("torch", cuda=True)}
    assert matrix.cuda_available(probes["torch"])
    planned = matrix.build_matrix(profiles.get_profile("full"), probes, matrix.Filters(models=("dcgan-64",)))
    runnable = [p.cell for p in planned if p.runnable]
    assert {c.precision for c in runnable if c.device == "cuda"} == {"fp32", "bf16", "fp16"}
    assert {c.precision for c in runnable if c.device == "cpu"} == {"fp32"}
    assert any(c.mode == "reduce-overhead" and c.device == "cuda" for c in runnable)
    assert any(c.variant == "channels-last" and c.device == "cuda" for c in runnable)
    assert not any(c.variant == "warm-cache" and c.mode == "eager" for c in runnable)


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
    ({"models": ("dcgan-999",)}, "unknown model 'dcgan-999'; valid choices: dcgan-mnist, dcgan-64"),
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


def test_quick_profile_fits_the_cpu_budget() -> None:
    """Every CPU cell of both models in the quick profile: under 15 minutes on the 2-core reference."""
    planned = matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY, matrix.Filters())
    total = 0.0
    for p in planned:
        if p.runnable:
            s = profiles.make_settings("quick", p.cell.model, physical_cores=2)
            total += profiles.estimate_cell_seconds(p.cell, s, get_spec(p.cell.model).batch_size)
    assert 300 < total < 15 * 60, total


def test_make_settings_profiles_and_overrides() -> None:
    q = profiles.make_settings("quick", "dcgan-64", physical_cores=2)
    m = profiles.make_settings("quick", "dcgan-mnist", physical_cores=2)
    f = profiles.make_settings("full", "dcgan-64", physical_cores=2)
    assert q.steps < m.steps < f.steps and q.intra_op_threads == 2 and q.profile == "quick"
    o = profiles.make_settings("quick", "dcgan-64", {"steps": 9, "warmup": None, "intra_op_threads": 1})
    assert (o.steps, o.warmup, o.intra_op_threads) == (9, q.warmup, 1)
    with pytest.raises(BenchError, match="--steps must be at least 1"):
        profiles.make_settings("quick", None, {"steps": 0})
    with pytest.raises(UnknownChoice, match="unknown profile 'slow'"):
        profiles.get_profile("slow")


def test_probe_frameworks_through_subprocesses(fakes: Path) -> None:  # noqa: F811
    res = matrix.probe_frameworks(["tensorflow", "torch"])
    assert res["torch"]["installed"] and res["torch"]["version"] == "9.9"
    assert not matrix.cuda_available(res["torch"])


def test_probe_failure_becomes_a_reason(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("FRAMEBENCH_PROBE_MODULE", "no_such_probe_module")
    res = matrix.probe_frameworks(["torch"])
    assert res["torch"]["installed"] is False
    assert "probe failed" in res["torch"]["reason"] and "no_such_probe_module" in res["torch"]["reason"]
    planned = matrix.build_matrix(profiles.get_profile("quick"), res, matrix.Filters(frameworks=("torch",)))
    assert not any(p.runnable for p in planned)


def test_onednn_default_follows_the_env_var() -> None:
    assert matrix.tf_onednn_default_on(None, {"TF_ENABLE_ONEDNN_OPTS": "0"}) is False
    assert matrix.tf_onednn_default_on(None, {"TF_ENABLE_ONEDNN_OPTS": "1"}) is True
    assert matrix.tf_onednn_default_on({"onednn_enabled": False}, {}) is False


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
    other = envinfo.machine_fingerprint({**env["cpu"], "model": "Other CPU"}, env["memory"], env["gpu"])
    assert other["hash"] != fp["hash"]
    assert "fingerprint" in envinfo.format_environment(env)


def test_cuda_detection_reads_bench_probe_format() -> None:
    # bench.probe: "cuda" is a bool and "devices" are GPU names (no "cuda" in them).
    gpu = {"framework": "torch", "installed": True, "cuda": True, "devices": ["NVIDIA H100 80GB HBM3"]}
    cpu = {"framework": "torch", "installed": True, "cuda": False, "devices": [],
           "reason": "no CUDA device (torch built without CUDA)"}
    assert matrix.cuda_available(gpu) and not matrix.cuda_available(cpu)
    assert matrix.cuda_available({"installed": True, "devices": ["cpu", "cuda:0"]})
    f = matrix.Filters(frameworks=("torch",), modes=("eager",), models=("dcgan-64",))
    planned = matrix.build_matrix(profiles.get_profile("quick"), {"torch": cpu}, f)
    assert {p.cell.device: p.skip_reason for p in planned} == {
        "cpu": None, "cuda": "no CUDA device (torch built without CUDA)"}
