"""The generate scenario through the real CLI, end to end: ``bench all --scenarios generate`` plans the
cells, the real workers measure them (TensorFlow and PyTorch, eager, dcgan-mnist, one process each),
the store keeps the new fields, ``bench export`` and ``bench report`` read them, and the model page has
its Generation section. Slow: a few real processes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow
pytest.importorskip("tensorflow")
pytest.importorskip("torch")


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMEBENCH_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def generate_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("generate-e2e")
    run = work / "runs" / "gen"
    proc = _bench("all", "--scenarios", "generate", "--models", "dcgan-mnist", "--frameworks",
                  "tensorflow,torch", "--modes", "eager", "--devices", "cpu", "--out", str(run),
                  "--steps", "3", "--warmup", "1", "--window-steps", "2", "--repeats", "1", "--no-report",
                  cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = work / "reports"
    proc = _bench("report", "--runs", str(run), "--out", str(reports), cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return run, reports


def test_generate_cells_are_measured_and_stored(generate_run: tuple[Path, Path]) -> None:
    run, _ = generate_run
    results = [json.loads(p.read_text()) for p in sorted((run / "cells").glob("*/r1.json"))]
    assert sorted(r["framework"] for r in results) == ["tensorflow", "torch"]
    for r in results:
        assert r["scenario"] == "generate" and r["status"] == "ok", r.get("reason")
        assert r["cell_id"].endswith("__generate")
        assert r["latency_p99_s"] >= r["step_time_median_s"] > 0
        assert r["cold_start_s"] > 0 and r["throughput_img_s"] > 0 and r["throughput_batch"] == 64
        assert r["settings"]["denoising_steps"] == 4 and r["settings"]["generate_min_s"] == 1.0


def test_export_and_report_carry_the_generate_metrics(generate_run: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    run, reports = generate_run
    page = (reports / "dcgan-mnist.md").read_text()
    assert "## Generation" in page and "latency p99 ms [CI]" in page
    section = page.split("## Generation", 1)[1].split("\n## ", 1)[0]
    assert "| TensorFlow | eager | cpu |" in section and "| PyTorch | eager | cpu |" in section
    proc = _bench("export", "--run", str(run), "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for table in ("cells", "cell_summaries"):
        rows = list(csv.DictReader((tmp_path / f"x-{table}.csv").open()))
        assert len(rows) == 2 and all(row["latency_p99_s"] and row["cold_start_s"] for row in rows), table
