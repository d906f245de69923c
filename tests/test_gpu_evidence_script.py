"""scripts/gpu_evidence.sh end to end on this CPU machine, in its tiny configuration: the CUDA phases say
so and skip, one CPU cell runs (through the fake worker, probe and roofline, to stay well under a
minute on shared cores), `pytest -m cuda` skips every test, and the archive and summary are written."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest
from orch_helpers import ROOT, fake_env

torch = pytest.importorskip("torch")


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU box the script runs its CUDA phases")
def test_gpu_evidence_script_runs_on_cpu_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = fake_env(OUT=str(out), FB_TINY="1", FB_WORK=str(tmp_path / "work"), FB_BUDGET_S="120")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_evidence.sh")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    log = proc.stdout
    assert proc.returncode == 0, log[-3000:]
    assert "SKIP roofline: needs CUDA" in log
    assert "SKIP P3 eager, P4 graphs, P5 autotune: they need CUDA" in log
    assert "preflight apis: ok" in log
    assert "rc=0 (cpu-check)" in log and "pytest rc=0" in log
    with tarfile.open(out / "gpu_evidence.tar.gz") as tar:
        names = tar.getnames()
    assert "runs/cpu-check/run.json" in names and "preflight.json" in names and "pytest.txt" in names
    summary = (out / "summary.txt").read_text().splitlines()
    assert len(summary) == 1 and "vae-mnist__torch__eager__cpu__fp32__b4__default r1 ok" in summary[0]
    assert (out / "gpu_evidence.log").read_text() == log
