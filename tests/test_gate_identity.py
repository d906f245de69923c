"""The gate compares only like with like: same machine (down to the ISA), same measurement settings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import ENVIRONMENT, cell_id, standard_cells, write_run

from bench.cli import main as cli_main
from bench.gate.baseline import save_baseline
from bench.host.envinfo import format_environment
from bench.host.machine import fingerprint_of, machine_differences, machine_fingerprint
from bench.results.records import RunSettings

AVX2 = ["avx", "avx2", "f16c", "fma"]
AVX512 = [*AVX2, "avx512_bf16", "avx512_vnni", "avx512bw", "avx512dq", "avx512f", "avx512vl", "avx_vnni"]


def _env(flags: list[str]) -> dict[str, Any]:
    """The fixture environment on an AMD EPYC that records its ISA: only the flags differ."""
    env = copy.deepcopy(ENVIRONMENT)
    env["cpu"].update(model="AMD EPYC", isa_flags=flags, supports_bf16="avx512_bf16" in flags,
                      identity={"vendor": "AuthenticAMD", "family": 25, "model": 1, "stepping": 1,
                                "model_name": "AMD EPYC"})
    fp = fingerprint_of(env["cpu"], env["memory"], env["gpu"])
    env["fingerprint"] = fp
    return env


def _gate(tmp_path: Path, base: Path, run: Path, *extra: str) -> int:
    return cli_main(["gate", "--baseline", str(base), "--run", str(run), "--output", str(tmp_path / "g.md"),
                     *extra])


def test_environments_differing_only_in_avx512_get_different_fingerprints() -> None:
    zen3, zen5 = _env(AVX2), _env(AVX512)
    assert zen3["cpu"]["model"] == zen5["cpu"]["model"]
    assert machine_fingerprint(zen3) != machine_fingerprint(zen5)
    diffs, unknown = machine_differences(zen3["fingerprint"]["fields"], zen5["fingerprint"]["fields"])
    assert unknown == [] and len(diffs) == 1
    assert diffs[0].startswith("isa_flags (only the second has avx512_bf16 avx512_vnni")
    text = format_environment({**zen5, "frameworks": {}})
    assert "avx512_bf16" in text and "fingerprint" in text and "isa_flags" in text


def test_gate_refuses_another_isa_naming_it_and_force_compares(tmp_path: Path, capsys) -> None:
    base = save_baseline(write_run(tmp_path / "runs" / "A", standard_cells(salt=0), env=_env(AVX2)),
                         "zen3", tmp_path / "baselines")
    run = write_run(tmp_path / "runs" / "B", standard_cells(salt=1), env=_env(AVX512))
    assert _gate(tmp_path, base, run) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "machine isa_flags (only the second has avx512_bf16" in err
    assert "--force" in err
    assert _gate(tmp_path, base, run, "--force") == 0
    assert "compared despite machine isa_flags" in (tmp_path / "g.md").read_text(encoding="utf-8")
    same = write_run(tmp_path / "runs" / "C", standard_cells(salt=1), env=_env(AVX2))
    assert _gate(tmp_path, base, same) == 0


@pytest.mark.parametrize(("field", "value", "named"), [
    ("steps", 12, "setting steps (30 vs 12)"),
    ("intra_op_threads", 1, "setting intra_op_threads (2 vs 1)"),
    ("tf32", True, "setting tf32 (False vs True)"),
    ("data", "mnist.npz", "setting data ('synthetic' vs 'mnist.npz')"),
    ("profile", "full", "setting profile ('quick' vs 'full')"),
])
def test_gate_refuses_other_settings_naming_the_field(tmp_path: Path, capsys, field: str, value: Any,
                                                       named: str) -> None:
    base = save_baseline(write_run(tmp_path / "runs" / "A", standard_cells(salt=0)), "b", tmp_path / "bl")
    fields = {"profile": "quick", "steps": 30, "warmup": 2, "window_steps": 10, "seed": 0,
              "intra_op_threads": 2, "repeats": 1}
    settings = RunSettings(**{**fields, field: value})
    run = write_run(tmp_path / "runs" / "B", standard_cells(salt=1), settings=settings)
    assert _gate(tmp_path, base, run) == 2
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1
    assert _gate(tmp_path, base, run, "--force") == 0


def test_gate_names_a_batch_size_that_differs(tmp_path: Path, capsys) -> None:
    base = save_baseline(write_run(tmp_path / "runs" / "A", standard_cells(salt=0)), "b", tmp_path / "bl")
    run = write_run(tmp_path / "runs" / "B", [*standard_cells(salt=1)[:3]])
    data = json.loads((run / "run.json").read_text())
    assert data["cells_planned"]  # the same cells: passes
    assert _gate(tmp_path, base, run) == 0
    bigger = [c for c in standard_cells(salt=1)]
    for c in bigger:
        c.batch_size = 16
    run16 = write_run(tmp_path / "runs" / "C", bigger)
    assert _gate(tmp_path, base, run16) == 2
    assert "batch_size of dcgan-mnist on cpu ([8] vs [16])" in capsys.readouterr().err


def test_repeats_may_differ(tmp_path: Path) -> None:
    base = save_baseline(write_run(tmp_path / "runs" / "A", standard_cells(salt=0), repeats=3,
                                   between_cv=0.01), "b", tmp_path / "bl")
    run = write_run(tmp_path / "runs" / "B", standard_cells(salt=1), repeats=2, between_cv=0.01)
    assert _gate(tmp_path, base, run) == 0
    assert cell_id()  # the fixture cells exist


def test_gpu_identity_includes_sm_count_from_the_probe() -> None:
    from bench.host.envinfo import gpus_with_sm_counts

    nvml = {"gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "memory_total_bytes": 80 * 2**30,
                      "compute_capability": "9.0", "sm_count": None}]}
    probes = {"torch": {"device_properties": [{"name": "NVIDIA H100 80GB HBM3", "sm_count": 132}]}}
    full = gpus_with_sm_counts(nvml, probes)
    assert full["gpus"][0]["sm_count"] == 132 and nvml["gpus"][0]["sm_count"] is None
    other = gpus_with_sm_counts(nvml, {"torch": {"device_properties": [{"name": "Another", "sm_count": 1}]}})
    assert other["gpus"][0]["sm_count"] is None  # another device at that index: left unknown
    env = copy.deepcopy(ENVIRONMENT)
    env["gpu"] = full
    cut = copy.deepcopy(env)
    cut["gpu"]["gpus"][0]["sm_count"] = 114  # a cut-down part of the same name (e.g. H100 PCIe)
    assert machine_fingerprint(env) != machine_fingerprint(cut)
    diffs, _ = machine_differences(fingerprint_of(env["cpu"], env["memory"], env["gpu"])["fields"],
                                   fingerprint_of(cut["cpu"], cut["memory"], cut["gpu"])["fields"])
    assert len(diffs) == 1 and diffs[0].startswith("gpus (") and '"sm_count": 114' in diffs[0]
