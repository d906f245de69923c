"""Machine identity (bench.host.machine) and the environment variables recorded with a run
(bench.host.envinfo)."""

from __future__ import annotations

import copy

from report_fixtures import ENVIRONMENT

from bench.frameworks.registry import frameworks
from bench.host.envinfo import GENERIC_SPEED_ENV_VARS, speed_env_vars
from bench.host.machine import (
    check_same_machine,
    cuda_available,
    fingerprint_of,
    machine_description,
    machine_fingerprint,
    this_machine,
)


def test_fingerprint_of_this_machine_is_stable_and_hardware_only() -> None:
    here = this_machine()
    assert here["fingerprint"] == this_machine()["fingerprint"]
    assert len(here["fingerprint"]["hash"]) == 16
    other_cpu = {**here["cpu"], "model": "Other CPU"}
    assert fingerprint_of(other_cpu, here["memory"], here["gpu"])["hash"] != here["fingerprint"]["hash"]
    assert machine_fingerprint(here) == here["fingerprint"]["hash"]


def test_check_same_machine_refuses_other_hardware_naming_the_field() -> None:
    assert check_same_machine(ENVIRONMENT, ENVIRONMENT) is None
    other = copy.deepcopy(ENVIRONMENT)
    other["fingerprint"]["hash"] = "ffffffffffffffff"  # a stored hash is not the identity: the hardware is
    assert check_same_machine(ENVIRONMENT, other) is None
    other["cpu"]["physical_cores"] = 64
    why = check_same_machine(ENVIRONMENT, other, what="runs/x")
    assert why is not None and why.startswith("runs/x was recorded on another machine")
    assert machine_fingerprint(ENVIRONMENT) in why and machine_fingerprint(other) in why
    assert "physical_cores (2 vs 64)" in why
    assert check_same_machine({}, other) is None  # nothing recorded: nothing to compare


def test_machine_description_from_fields_or_hardware() -> None:
    assert machine_description(ENVIRONMENT) == "Test CPU @ 3.0GHz, 2 cores, Test GPU 80GB"
    bare = {k: v for k, v in ENVIRONMENT.items() if k != "fingerprint"}
    assert machine_description(bare) == "Test CPU @ 3.0GHz, 2 cores, Test GPU 80GB"
    assert machine_description({}) == "unknown CPU, ? cores, no GPU"


def test_cuda_available_reads_the_probe_protocol() -> None:
    assert cuda_available({"installed": True, "cuda": True, "devices": ["Some GPU"]})
    assert not cuda_available({"installed": True, "cuda": False, "cuda_build": True})
    assert not cuda_available({"installed": False, "cuda": True})


def test_speed_env_vars_come_from_descriptors_and_generic_names() -> None:
    environ = {"HOME": "/root", "PATH": "/bin", "OMP_NUM_THREADS": "2", "KMP_AFFINITY": "x"}
    for d in frameworks():
        environ.update({name: "1" for name in d.speed_env_vars})
        environ.update({f"{prefix}SOMETHING": "1" for prefix in d.speed_env_prefixes})
    got = speed_env_vars(environ)
    assert "HOME" not in got and "PATH" not in got
    assert set(got) == set(environ) - {"HOME", "PATH"}
    assert set(GENERIC_SPEED_ENV_VARS) >= {"OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "LD_PRELOAD"}
