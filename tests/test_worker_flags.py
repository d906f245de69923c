"""Flag plumbing without a framework or GPU: what each cell must set, and the compile-cache states.

The generic part is ``bench.worker.flags``; each framework's part is its package's ``flags`` module (torch's
compile caches here), which imports no framework.
"""

from __future__ import annotations

import subprocess
import sys

from worker_helpers import ROOT, fake_cell

from bench.clock import physical_cores
from bench.frameworks.torch.flags import CACHE_COLD, CACHE_WARM, cache_dirs, compile_cache_state
from bench.results.records import RunSettings
from bench.worker.flags import needs_priming, plan_flags, prepare_compile_cache, variant_env


def test_threads_default_to_physical_cores_and_are_the_same_for_both_frameworks(tmp_path):
    s = RunSettings(intra_op_threads=0, inter_op_threads=1, seed=7, tf32=True, deterministic=False)
    tf = plan_flags(fake_cell(framework="tensorflow", mode="function"), s, tmp_path)
    pt = plan_flags(fake_cell(framework="torch", mode="eager"), s, tmp_path)
    assert tf["intra_op_threads"] == pt["intra_op_threads"] == physical_cores() >= 1
    for key in ("inter_op_threads", "seed", "tf32", "deterministic", "precision"):
        assert tf[key] == pt[key]
    assert (tf["seed"], tf["tf32"]) == (7, True)
    explicit = plan_flags(fake_cell(), RunSettings(intra_op_threads=3), tmp_path)
    assert explicit["intra_op_threads"] == 3


def test_onednn_variants_set_the_env_var_and_default_leaves_it_alone(tmp_path):
    s = RunSettings()
    on = variant_env(fake_cell(framework="tensorflow", mode="eager", variant="onednn-on"), s, tmp_path)
    off = variant_env(fake_cell(framework="tensorflow", mode="eager", variant="onednn-off"), s, tmp_path)
    default = variant_env(fake_cell(framework="tensorflow", mode="eager"), s, tmp_path)
    assert on == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    assert off == {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert default == {}
    plan = plan_flags(fake_cell(framework="tensorflow", mode="eager", variant="onednn-off"), s, tmp_path)
    assert plan["onednn_requested"] == "off" and plan["env"] == off


def test_compile_cache_cold_by_default_warm_for_the_variant_none_for_eager(tmp_path):
    cold = fake_cell(mode="compile")
    warm = fake_cell(mode="max-autotune", device="cuda", variant="warm-cache")
    eager = fake_cell(mode="eager", variant="warm-cache")
    assert compile_cache_state(cold) == CACHE_COLD
    assert compile_cache_state(warm) == CACHE_WARM
    assert compile_cache_state(eager) is None
    assert needs_priming(warm) and not needs_priming(cold) and not needs_priming(eager)
    env_cold = variant_env(cold, RunSettings(), tmp_path)
    env_warm = variant_env(warm, RunSettings(), tmp_path)
    assert env_cold["TORCHINDUCTOR_CACHE_DIR"] != env_warm["TORCHINDUCTOR_CACHE_DIR"]
    for env in (env_cold, env_warm):
        assert set(env) == {"TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"}
        assert all(v.startswith(str(tmp_path)) for v in env.values())
    assert variant_env(eager, RunSettings(), tmp_path) == {}


def test_cold_cache_is_emptied_and_warm_cache_is_kept(tmp_path):
    cold, warm = fake_cell(mode="compile"), fake_cell(mode="compile", variant="warm-cache")
    for state in (CACHE_COLD, CACHE_WARM):
        for d in cache_dirs(tmp_path, state).values():
            d.mkdir(parents=True)
            (d / "old-kernel").write_text("x")
    assert prepare_compile_cache(cold, tmp_path) == CACHE_COLD
    assert prepare_compile_cache(warm, tmp_path) == CACHE_WARM
    for d in cache_dirs(tmp_path, CACHE_COLD).values():
        assert d.is_dir() and list(d.iterdir()) == []
    for d in cache_dirs(tmp_path, CACHE_WARM).values():
        assert (d / "old-kernel").exists()
    assert prepare_compile_cache(fake_cell(), tmp_path) is None
    # A framework without a compile cache (no hook in its flags module): nothing to prepare or prime.
    tf_cell = fake_cell(framework="tensorflow", mode="function")
    assert prepare_compile_cache(tf_cell, tmp_path) is None and not needs_priming(tf_cell)


def test_determinism_turns_off_cudnn_autotune_and_sets_cublas_workspace_on_cuda(tmp_path):
    s = RunSettings(deterministic=True, cudnn_benchmark=True)
    cuda = plan_flags(fake_cell(device="cuda"), s, tmp_path)
    cpu = plan_flags(fake_cell(), s, tmp_path)
    assert cuda["cudnn_benchmark"] is False and cuda["deterministic"] is True
    assert cuda["env"]["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert "CUBLAS_WORKSPACE_CONFIG" not in cpu["env"]
    relaxed = plan_flags(fake_cell(device="cuda"), RunSettings(cudnn_benchmark=True), tmp_path)
    assert relaxed["cudnn_benchmark"] is True and "CUBLAS_WORKSPACE_CONFIG" not in relaxed["env"]
    tf = plan_flags(fake_cell(framework="tensorflow", mode="xla"), s, tmp_path)
    assert tf["env"]["TF_DETERMINISTIC_OPS"] == "1"


def test_sync_method_and_per_framework_switches(tmp_path):
    s = RunSettings()
    # Each plan says how its backend's sync() waits for the device (the framework's own words; the
    # timing around it is shared, bench.frameworks.base): a CUDA cell's sync differs from a CPU cell's.
    torch_gpu, torch_cpu = (plan_flags(fake_cell(device=d), s, tmp_path)["sync"] for d in ("cuda", "cpu"))
    assert isinstance(torch_gpu, str) and isinstance(torch_cpu, str) and torch_gpu != torch_cpu
    tf_gpu = plan_flags(fake_cell(framework="tensorflow", mode="function", device="cuda"), s, tmp_path)
    assert isinstance(tf_gpu["sync"], str) and tf_gpu["memory_growth"] is True
    assert plan_flags(fake_cell(variant="channels-last"), s, tmp_path)["channels_last"] is True
    assert plan_flags(fake_cell(), s, tmp_path)["channels_last"] is False
    assert plan_flags(fake_cell(precision="bf16"), s, tmp_path)["precision"] == "bf16"


def test_variant_environment_comes_from_the_descriptor():
    from bench.frameworks import get_framework

    tf = get_framework("tensorflow")
    for v in tf.variants:
        cell = fake_cell(framework="tensorflow", mode="eager", variant=v.name)
        assert variant_env(cell, RunSettings(), ".") == dict(v.env)


def test_planning_flags_imports_no_framework():
    code = ("import sys\n"
            "from bench.host.envinfo import speed_env_vars\n"
            "from bench.worker.flags import plan_flags\n"
            "from bench.results.records import Cell, RunSettings\n"
            "for fw, mode in (('tensorflow', 'xla'), ('torch', 'compile')):\n"
            "    plan_flags(Cell('dcgan-mnist', fw, mode, 'cuda'), RunSettings(deterministic=True))\n"
            "speed_env_vars()\n"
            "print(sorted(m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_framework_without_a_flags_module_gets_the_common_plan(tmp_path, monkeypatch):
    from bench.frameworks import FrameworkDescriptor, Mode, Variant, framework_names, registry

    framework_names()  # the built-ins are loaded before one is added for this test only
    fake = FrameworkDescriptor(name="fakefw", label="Fake", colour="#000000",
                               package="bench.frameworks",  # a package that has no flags module
                               modes=(Mode("eager"), Mode("jit", compiles=True)),
                               variants=(Variant("default"), Variant("fast", env={"FAKE_FAST": "1"})))
    monkeypatch.setitem(registry._REGISTRY, "fakefw", fake)
    cell = fake_cell(framework="fakefw", mode="jit", variant="fast")
    plan = plan_flags(cell, RunSettings(seed=3), tmp_path)
    assert plan["env"] == {"FAKE_FAST": "1"} and plan["seed"] == 3 and plan["mode"] == "jit"
    assert "sync" not in plan and "channels_last" not in plan  # the built-ins' own entries only
    assert prepare_compile_cache(cell, tmp_path) is None and not needs_priming(cell)


def test_a_shared_compile_cache_is_kept_between_the_cells_processes(tmp_path):
    from bench.frameworks.torch.flags import CACHE_SHARED
    from bench.launchers.scratch import SHARED_SUFFIX, _tidy_work_dir
    from bench.plan.profiles import make_settings

    quick, full = make_settings("quick", None), make_settings("full", None)
    assert (quick.compile_cache, full.compile_cache) == ("shared", "cold")
    cell = fake_cell(mode="compile")
    assert compile_cache_state(cell, quick) == CACHE_SHARED
    assert compile_cache_state(cell, full) == CACHE_COLD
    assert compile_cache_state(fake_cell(mode="compile", variant="warm-cache"), quick) == CACHE_WARM
    dirs = cache_dirs(tmp_path, CACHE_SHARED)
    assert all(d.name.endswith(SHARED_SUFFIX) for d in dirs.values())
    for d in dirs.values():
        d.mkdir(parents=True)
        (d / "kernel").write_text("x")
    assert prepare_compile_cache(cell, tmp_path, quick) == CACHE_SHARED
    _tidy_work_dir(tmp_path)  # between two processes of the cell
    assert all((d / "kernel").exists() for d in dirs.values())
    env = plan_flags(cell, quick, tmp_path)["env"]
    assert env["TORCHINDUCTOR_CACHE_DIR"] == str(dirs["TORCHINDUCTOR_CACHE_DIR"])


def test_a_cpu_slots_threads_are_split_among_the_ranks_of_each_machine(tmp_path):
    two = fake_cell(workers=2)
    one_machine = plan_flags(two, RunSettings(intra_op_threads=4, inter_op_threads=2), tmp_path)
    assert (one_machine["intra_op_threads"], one_machine["inter_op_threads"]) == (2, 1)
    # two machines, one rank each: each rank has its own machine's threads
    across = plan_flags(two, RunSettings(intra_op_threads=4, inter_op_threads=2, nodes=2), tmp_path)
    assert (across["intra_op_threads"], across["inter_op_threads"]) == (4, 2)
