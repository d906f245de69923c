"""bench.plan.matrix, bench.plan.profiles, bench.host.detect, bench.host.envinfo: which cells run, which are
skipped and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from orch_helpers import FAKES, fakes  # noqa: F401 (fixture)

from bench.errors import BenchError, UnknownChoice
from bench.frameworks.tensorflow.onednn import onednn_default_on
from bench.host import detect as probing
from bench.host import envinfo, machine, roofline
from bench.plan import estimates, matrix, profiles
from bench.results.records import Cell
from models.registry import get_spec

# The built-in frameworks and models, named so that a plugin registered elsewhere cannot change these.
BUILTIN = {"models": ("dcgan-mnist", "dcgan-64"), "frameworks": ("tensorflow", "torch")}


def probe(fw: str, installed: bool = True, cuda: bool = False, **extra: object) -> dict:
    """A probe result in bench.worker.probe's protocol."""
    return {"framework": fw, "installed": installed, "version": "1" if installed else None,
            "cuda": installed and cuda, "devices": ["NVIDIA H100 80GB HBM3"] if installed and cuda else [],
            "reason": (None if cuda else "no CUDA device") if installed else f"{fw} not installed",
            "cuda_build": cuda, **extra}


CPU_ONLY = {"tensorflow": probe("tensorflow"), "torch": probe("torch")}


def by_id(planned: list[matrix.PlannedCell]) -> dict[str, matrix.PlannedCell]:
    return {p.cell.cell_id: p for p in planned}


def build(profile: str, probes: dict, cpu_native: tuple[str, ...] = ("fp32",),
          **filters: object) -> list[matrix.PlannedCell]:
    f = matrix.Filters(**{**BUILTIN, **filters})
    return matrix.build_matrix(profiles.get_profile(profile), probes, f, cpu_native=cpu_native)


GOLDEN = FAKES / "matrix_golden.json"
# A golden configuration "<probes>+bf16" plans on a CPU that runs bf16 natively.
NATIVE_BF16 = "+bf16"


def golden_matrices(golden: dict) -> dict[str, list[list[str | None]]]:
    """Today's matrix for each "<profile>/<probes config>[+bf16]" key of the golden file."""
    out = {}
    for key in golden["matrices"]:
        profile, config = key.split("/")
        probes, bf16, _ = config.partition(NATIVE_BF16)
        planned = build(profile, golden["probes"][probes], ("fp32", "bf16") if bf16 else ("fp32",))
        out[key] = [[p.cell.cell_id, p.skip_reason] for p in planned]
    return out


def golden_text(golden: dict) -> str:
    """The golden file as recorded: one line per probe configuration and per planned cell."""
    def block(d: dict, row: object) -> str:
        return ",\n".join(f"  {json.dumps(k)}: {row(v)}" for k, v in d.items())

    probes = block(golden["probes"], json.dumps)
    matrices = block(golden["matrices"], lambda rows: "[\n" + ",\n".join(
        f"   {json.dumps(r)}" for r in rows) + "\n  ]")
    return (f'{{\n "about": {json.dumps(golden["about"])},\n "probes": {{\n{probes}\n }},\n'
            f' "matrices": {{\n{matrices}\n }}\n}}\n')


def test_matrix_equals_the_recorded_one() -> None:
    """Every default matrix (quick and full; CPU only, CUDA, one framework missing; oneDNN on or off
    by default; a CPU with native bf16 or without) is cell for cell, in order and with its skip
    reasons, the recorded one. A deliberate change of the matrix re-records it:
    FRAMEBENCH_REGEN_GOLDEN=1 python -m pytest tests/test_orch_matrix.py -k recorded (then review the
    diff of tests/orch_fakes/matrix_golden.json)."""
    golden = json.loads(GOLDEN.read_text())
    today = golden_matrices(golden)
    if os.environ.get("FRAMEBENCH_REGEN_GOLDEN") == "1":
        golden["matrices"] = today
        GOLDEN.write_text(golden_text(golden))
    for key, expected in golden["matrices"].items():
        assert today[key] == expected, key


def test_default_quick_matrix_on_a_cpu_machine() -> None:
    planned = build("quick", CPU_ONLY, models=None)  # the default models: quick's generation joins them
    runnable = [p.cell for p in planned if p.runnable]
    assert all(c.device == "cpu" and c.precision == "fp32" for c in runnable)
    quick = profiles.get_profile("quick")
    # The CPU batch: the model's default halved to fit the quick profile's CPU step FLOPs budget.
    assert all(c.batch_size == quick.batch_size(c.model, "cpu", get_spec(c.model).batch_size)
               for c in runnable)
    ids = by_id(planned)
    for model in BUILTIN["models"]:
        b = quick.batch_size(model, "cpu", get_spec(model).batch_size)
        for fw, mode, variant in [("tensorflow", "function", "default"), ("tensorflow", "xla", "default"),
                                  ("torch", "eager", "default"), ("torch", "eager", "adam-fused"),
                                  ("torch", "compile", "adam-compiled")]:
            assert ids[Cell(model, fw, mode, "cpu", "fp32", b, variant).cell_id].runnable
        for fw, mode in [("tensorflow", "function"), ("tensorflow", "xla"), ("torch", "eager")]:
            cuda = ids[Cell(model, fw, mode, "cuda", "fp32", get_spec(model).batch_size).cell_id]
            assert cuda.skip_reason == "no CUDA device"
        for mode in ("reduce-overhead", "max-autotune"):
            assert ids[Cell(model, "torch", mode, "cpu", "fp32", b).cell_id].skip_reason == "needs CUDA"
    # quick keeps what answers the headline: each framework's shipped default and its tuned candidates
    # (torch: the fused Adam in eager, the compiled optimizer step with the compiled modules, so that the
    # tuned column compares like scopes); TF eager and torch's modules-only compile are left to full; no
    # bf16 CPU cell (those are in full).
    train = [c for c in runnable if c.scenario == "train"]
    assert {(c.framework, c.mode, c.variant) for c in train} == {
        ("tensorflow", "function", "default"), ("tensorflow", "xla", "default"),
        ("torch", "eager", "default"), ("torch", "eager", "adam-fused"),
        ("torch", "compile", "adam-compiled")}
    # Generation for one model: each framework's shipped way and every deployed runtime.
    gen = [c for c in runnable if c.scenario == "generate"]
    assert {c.model for c in gen} == {"dcgan-mnist"} and {c.variant for c in gen} == {"default"}
    assert {(c.framework, c.mode) for c in gen} == {
        ("tensorflow", m) for m in ("function", "savedmodel", "litert", "onnx")} | {
        ("torch", m) for m in ("eager", "aoti", "onnx", "torchscript")}
    assert all(p.cell.precision == "fp32" for p in build("quick", CPU_ONLY, ("fp32", "bf16")) if p.runnable)


@pytest.mark.parametrize("onednn", [True, False])
def test_onednn_flip_on_cpu_follows_the_probe_in_the_full_profile(onednn: bool) -> None:
    probes = {"tensorflow": probe("tensorflow", onednn_enabled=onednn), "torch": probe("torch")}
    flipped = "onednn-off" if onednn else "onednn-on"
    for profile, modes in (("quick", set()), ("full", {"eager", "function", "xla"})):
        planned = build(profile, probes, frameworks=("tensorflow",))
        extra = [p.cell for p in planned if p.runnable and p.cell.variant.startswith("onednn")]
        assert {(c.mode, c.device, c.variant) for c in extra} == {(m, "cpu", flipped) for m in modes}, profile


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_bf16_cpu_cells_only_where_the_cpu_runs_bf16_and_the_descriptor_asks(profile: str) -> None:
    """bf16 on CPU: only with native bf16, only the default variant of the modes each framework's
    descriptor names for the profile (no framework is named in bench.plan.matrix)."""
    from bench.frameworks.registry import get_framework

    assert not any(p.cell.precision == "bf16" and p.cell.device == "cpu" for p in build(profile, CPU_ONLY))
    planned = build(profile, CPU_ONLY, ("fp32", "bf16"), devices=("cpu",))
    bf16 = {(p.cell.framework, p.cell.mode) for p in planned if p.cell.precision == "bf16"}
    expected = {(fw, m) for fw in BUILTIN["frameworks"]
                for m in get_framework(fw).cpu_reduced_precision_modes.get(profile, ())}
    assert bf16 == expected
    assert all(p.runnable and p.cell.variant == "default" for p in planned if p.cell.precision == "bf16")
    fp32 = {(p.cell.framework, p.cell.mode) for p in planned if p.cell.precision == "fp32" and p.runnable}
    assert expected <= fp32  # each bf16 cell has its fp32 twin
    # A framework that is not installed adds no bf16 cells; explicit --precisions are taken as given.
    missing = {"tensorflow": probe("tensorflow", installed=False), "torch": probe("torch")}
    assert not any(p.cell.precision == "bf16" and p.cell.framework == "tensorflow"
                   for p in build(profile, missing, ("fp32", "bf16"), devices=("cpu",)))
    given = build(profile, CPU_ONLY, ("fp32",), devices=("cpu",), precisions=("bf16",), modes=("eager",),
                  variants=("default",))
    assert {p.cell.precision for p in given} == {"bf16"} and len(given) == 4  # 2 models x 2 frameworks


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
    # The optional variants are the descriptor's (extra_variants), planned where they apply.
    from bench.frameworks.registry import get_framework

    desc = get_framework("torch")
    torch_extra = {(c.mode, c.device, c.variant) for c in runnable
                   if c.framework == "torch" and c.variant != "default"}
    expected = {(m, d, v) for m in desc.mode_names for d in ("cpu", "cuda")
                for v in desc.extra_variants("full", m, d, probes["torch"])
                if not (d == "cpu" and desc.needs_cuda(m)) and desc.variant_skip_reason(m, d, v) is None}
    assert torch_extra == expected
    compiled = ("compile", "reduce-overhead", "max-autotune")
    assert {(m, "cuda", "warm-cache") for m in compiled} <= torch_extra
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
    code = ("import sys, bench.plan.matrix\n"
            "print(sorted(m for m in ('bench.launchers.slot', 'bench.launchers.process',"
            " 'bench.host.processes',"
            " 'bench.host.detect', 'subprocess')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_quick_profile_estimate_counts_every_process() -> None:
    """The dry-run estimate of the default quick matrix (every model in the quick profile, bf16 where
    native) counts each cell's processes; a process of an expensive model costs what its few steps and
    start-up cost."""
    from models.registry import family_of, model_names

    planned = matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY, matrix.Filters(),
                                  cpu_native=("fp32", "bf16"))
    runnable = [p.cell for p in planned if p.runnable]
    quick_models = {m for m in model_names() if family_of(m).in_quick_profile}
    assert {c.model for c in runnable} == quick_models and quick_models < set(model_names())
    full = matrix.build_matrix(profiles.get_profile("full"), CPU_ONLY, matrix.Filters())
    assert {p.cell.model for p in full if p.runnable} == set(model_names())
    named = matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY, matrix.Filters(models=model_names()))
    assert {p.cell.model for p in named if p.runnable} == set(model_names())
    settings = {m: profiles.make_settings("quick", m, physical_cores=2) for m in model_names()}
    assert {s.repeats for s in settings.values()} == {3}
    one = [estimates.estimate_cell_seconds(c, settings[c.model]) for c in runnable]
    assert all(3 < t < 60 for t in one), one
    total = sum(3 * t for t in one)
    assert 5 * 60 < total < 60 * 60, total


def test_make_settings_profiles_and_overrides() -> None:
    q = profiles.make_settings("quick", "dcgan-64", physical_cores=2)
    m = profiles.make_settings("quick", "dcgan-mnist", physical_cores=2)
    v = profiles.make_settings("quick", "vae-mnist", physical_cores=2)
    f = profiles.make_settings("full", "dcgan-64", physical_cores=2)
    assert q.steps < v.steps < f.steps and q.intra_op_threads == 2 and q.profile == "quick"
    # Few steps per process (3 processes per cell carry the interval); a cheap step gets more.
    assert [(s.warmup, s.steps, s.window_steps) for s in (m, q, v, f)] == [
        (3, 5, 3), (3, 5, 3), (3, 10, 10), (10, 50, 100)]
    assert (q.repeats, f.repeats) == (3, 3)
    quick = profiles.get_profile("quick")
    assert quick.step_counts(None) == quick.step_counts("dcgan-64")
    o = profiles.make_settings("quick", "dcgan-64", {"steps": 9, "warmup": None, "intra_op_threads": 1,
                                                     "repeats": 1})
    assert (o.steps, o.warmup, o.intra_op_threads, o.repeats) == (9, q.warmup, 1, 1)
    with pytest.raises(BenchError, match="--steps must be at least 1"):
        profiles.make_settings("quick", None, {"steps": 0})
    with pytest.raises(BenchError, match="--repeats must be at least 1"):
        profiles.make_settings("quick", None, {"repeats": 0})
    with pytest.raises(UnknownChoice, match="unknown profile 'slow'"):
        profiles.get_profile("slow")


def test_probe_frameworks_through_subprocesses(fakes: Path) -> None:  # noqa: F811
    res = probing.probe_frameworks(["tensorflow", "torch"])
    assert res["torch"]["installed"] and res["torch"]["version"] == "9.9"
    assert res["torch"]["python_executable"] == sys.executable
    assert not machine.cuda_available(res["torch"])


def test_fake_probe_speaks_the_real_probes_protocol(fakes: Path) -> None:  # noqa: F811
    from bench.worker.probe import probe as real_probe

    fake = probing.probe_frameworks(["torch"])["torch"]
    fake.pop("python_executable")
    # The keys every answer of bench.worker.probe has (an unknown name answers without importing anything).
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
    assert roofline.preferred_framework(["tensorflow", "torch"]) == "torch"
    assert roofline.preferred_framework(["tensorflow", "tensorflow"]) == "tensorflow"
    assert roofline.preferred_framework([]) is None


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
    # bench.worker.probe: "cuda" is a bool and "devices" are GPU names (no "cuda" in them).
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
    from bench.plan.profiles import get_profile
    from models.registry import family_of, get_spec

    quick, full = get_profile("quick"), get_profile("full")
    expected = {"dcgan-mnist": 64, "dcgan-64": 16, "ddpm-32": 4, "vae-mnist": 128}
    for model, cpu_batch in expected.items():
        spec, flops = get_spec(model), family_of(model).train_step_flops
        batch = quick.batch_size(model, "cpu", spec.batch_size)
        assert batch == cpu_batch and spec.batch_size % batch == 0, model
        assert flops(spec, batch) <= quick.cpu_step_flops_budget
        assert batch == spec.batch_size or flops(spec, 2 * batch) > quick.cpu_step_flops_budget
        assert quick.batch_size(model, "cuda", spec.batch_size) == spec.batch_size
        assert full.batch_size(model, "cpu", spec.batch_size) == spec.batch_size


def test_deployed_runtimes_are_modes_of_the_generate_scenario_only() -> None:
    """The exported runtimes (bench/frameworks/<fw>/runtimes.py) are modes the train matrix never plans,
    not even as skipped cells: the default run's cells are unchanged by them."""
    from bench.frameworks.registry import get_framework

    runtime_modes = {fw: get_framework(fw).runtime_modes() for fw in BUILTIN["frameworks"]}
    assert runtime_modes == {"torch": ("aoti", "onnx", "torchscript"),
                             "tensorflow": ("savedmodel", "litert", "onnx")}
    for fw, modes in runtime_modes.items():
        d = get_framework(fw)
        for m in modes:
            assert d.mode(m).scenarios == ("generate",) and not d.mode(m).applies_to("train")
            assert d.compiled_scopes[m] and d.mode(m).note
            assert d.extra_variants("full", m, "cpu", CPU_ONLY[fw]) == ()
        assert all(d.mode(m).applies_to("train") for m in d.mode_names if m not in modes)
    assert "legacy" in get_framework("torch").mode("torchscript").note
    for profile in ("quick", "full"):  # full plans every model's generate cells, quick one model's
        cells = [p.cell for p in build(profile, CPU_ONLY, models=None)]
        deployed = [c for c in cells if c.mode in runtime_modes[c.framework]]
        assert deployed and all(c.scenario == "generate" for c in deployed)
        assert {c.model for c in deployed} == (
            {"dcgan-mnist"} if profile == "quick" else set(profiles.get_profile(profile).default_models()))
    # Crossed with generate, they are planned for it alone (runnable where the family declares generate).
    f = matrix.Filters(models=("dcgan-mnist",), devices=("cpu",), scenarios=("train", "generate"))
    cells = [p.cell for p in matrix.build_matrix(profiles.get_profile("full"), CPU_ONLY, f)]
    in_runtimes = [c for c in cells if c.mode in runtime_modes[c.framework]]
    assert {c.scenario for c in in_runtimes} == {"generate"} and len(in_runtimes) == 6
    with pytest.raises(BenchError, match="no cell matches"):
        matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY,
                            matrix.Filters(modes=("aoti",), scenarios=("train",)))


def test_what_quick_leaves_to_full_runs_whenever_named() -> None:
    """quick's default matrix leaves TF eager, torch's modules-only compile cell and the generate cells of
    every model but dcgan-mnist to full; naming the mode, the variant or the scenarios brings them back."""
    quick = profiles.get_profile("quick")

    def ids(**kw: object) -> set[str]:
        f = matrix.Filters(**{"devices": ("cpu",), **kw})  # type: ignore[arg-type]
        return {p.cell.cell_id for p in matrix.build_matrix(quick, CPU_ONLY, f) if p.runnable}

    tf_eager = Cell("vae-mnist", "tensorflow", "eager", "cpu", "fp32", 128).cell_id
    compile_default = Cell("vae-mnist", "torch", "compile", "cpu", "fp32", 128).cell_id
    assert tf_eager not in ids(models=("vae-mnist",)) and compile_default not in ids(models=("vae-mnist",))
    assert tf_eager in ids(models=("vae-mnist",), modes=("eager",))
    assert compile_default in ids(models=("vae-mnist",), variants=("default",))
    assert compile_default in ids(models=("vae-mnist",), modes=("compile",))
    # generate: dcgan-mnist's in the unfiltered default; with --models, only when the scenario is named,
    # then for every model (and mode) named.
    assert any(i.endswith("__generate") for i in ids())
    assert not any(i.endswith("__generate") for i in ids(models=("dcgan-mnist",)))
    named = ids(models=("vae-mnist",), scenarios=("generate",))
    assert {i.split("__")[2] for i in named} == {"eager", "function", "xla", "savedmodel", "litert", "onnx",
                                                 "compile", "aoti", "torchscript"}
    assert tf_eager in ids(models=("vae-mnist",), scenarios=("train",))
