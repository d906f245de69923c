"""Shared helpers of the orchestration tests: run the CLI against the fake worker/probe modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FAKES = Path(__file__).resolve().parent / "orch_fakes"
ROOT = Path(__file__).resolve().parent.parent


def fake_env(**extra: str) -> dict[str, str]:
    """os.environ plus the launcher's test hooks pointing at tests/orch_fakes."""
    env = dict(os.environ)
    env.update({
        "FRAMEBENCH_WORKER_MODULE": "orch_fake_worker",
        "FRAMEBENCH_PROBE_MODULE": "orch_fake_probe",
        "FRAMEBENCH_ROOFLINE_MODULE": "orch_fake_roofline",
        "PYTHONPATH": os.pathsep.join([str(FAKES), str(ROOT)]),
    })
    env.update(extra)
    return env


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """In-process CLI calls use the fakes; the cwd is a fresh tmp dir (so reports/runs lands there)."""
    for k, v in fake_env().items():
        if k.startswith(("FRAMEBENCH_", "PYTHONPATH")):
            monkeypatch.setenv(k, v)
    monkeypatch.delenv("ORCH_FAKE_PLAN", raising=False)
    monkeypatch.delenv("ORCH_FAKE_CUDA", raising=False)
    monkeypatch.delenv("ORCH_FAKE_INSTALLED", raising=False)
    monkeypatch.setenv("ORCH_FAKE_LOG", str(tmp_path / "started.log"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def results_by_cell(run: Path) -> dict[str, Any]:
    """cell_id -> CellResult of a run measured in one process per cell (--repeats 1)."""
    from bench.results.load import read_process_results

    results = read_process_results(run)
    assert all(k == 1 for _, k in results), sorted(results)
    return {cid: r for (cid, _), r in results.items()}


def started(tmp_path: Path) -> list[str]:
    log = tmp_path / "started.log"
    return log.read_text().split() if log.exists() else []


def set_plan(monkeypatch: pytest.MonkeyPatch, plan: dict[str, str]) -> None:
    monkeypatch.setenv("ORCH_FAKE_PLAN", json.dumps(plan))


def run_cli(args: list[str], cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench ...` in a subprocess with the fakes."""
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=fake_env(**env),
                          capture_output=True, text=True, timeout=timeout)
