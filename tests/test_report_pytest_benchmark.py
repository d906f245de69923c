"""pytest-benchmark export: same statistics as pytest-benchmark, accepted by `pytest-benchmark compare`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_benchmark.stats import Stats
from report_fixtures import cell_id, standard_cells, write_run

from bench.analysis.aggregate import timed_samples
from bench.cli import main as cli_main
from bench.report.pytest_benchmark import benchmark_stats, write_export
from bench.results.load import load_run


def _compare_cmd() -> list[str]:
    exe = shutil.which("pytest-benchmark") or shutil.which("py.test-benchmark")
    return [exe] if exe else [sys.executable, "-m", "pytest_benchmark"]


@pytest.mark.parametrize("n", [1, 2, 5, 6, 7, 8, 30])
def test_stats_match_pytest_benchmark(n: int) -> None:
    data = [0.01 * (1 + ((i * 37) % 11) / 10) for i in range(n)]
    ref = Stats()
    for x in data:
        ref.update(x)
    mine = benchmark_stats(data)
    for k, v in ref.as_dict().items():
        assert mine[k] == pytest.approx(v), k
    assert mine["data"] == data and mine["iterations"] == 1


def test_export_uses_stored_samples_and_skips_non_ok_cells(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", standard_cells())
    path = write_export(run)
    assert path == run / "pytest-benchmark.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert set(doc) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    assert doc["datetime"] == "2025-01-02T03:04:05Z"
    by = {b["fullname"]: b for b in doc["benchmarks"]}
    cid = cell_id(mode="compile")
    assert by[f"framebench::{cid}"]["stats"]["data"] == timed_samples(load_run(run))[cid]
    assert by[f"framebench::{cid}"]["params"]["mode"] == "compile"
    assert f"framebench::{cell_id(framework='tensorflow', mode='xla')}" not in by  # failed
    assert len(doc["benchmarks"]) == 6
    assert write_export(run).read_bytes() == path.read_bytes()  # deterministic


def test_pytest_benchmark_compare_accepts_the_export(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "run", standard_cells())
    out = tmp_path / "export" / "0001_framebench.json"
    assert cli_main(["export-pytest-benchmark", "--run", str(run), "--out", str(out)]) == 0
    work = tmp_path / "cwd"  # pytest-benchmark creates .benchmarks/ in its working directory
    work.mkdir()
    proc = subprocess.run(
        [*_compare_cmd(), "compare", str(out), "--group-by", "group", "--columns", "min,median,iqr,rounds"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert "Failed to load" not in text
    assert "benchmark 'dcgan-mnist cpu fp32 b8': 4 tests" in text
    assert "dcgan-mnist[torch-compile-cpu-fp32-b8-default]" in text
    assert "dcgan-64[torch-eager-cuda-fp32-b8-default]" in text


def test_export_of_corrupt_run_is_exit_2(tmp_path: Path, capsys) -> None:
    run = write_run(tmp_path / "run", standard_cells())
    (run / "environment.json").write_text("{", encoding="utf-8")
    assert cli_main(["export-pytest-benchmark", "--run", str(run)]) == 2
    assert str(run / "environment.json") in capsys.readouterr().err
