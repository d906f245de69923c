"""Shared helpers of the worker tests: spec files for real worker subprocesses, and a framework-free
fake backend that drives bench.scenarios.base.Measurement without TensorFlow or torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.frameworks import Backend, split_batches
from bench.results.records import Cell, RunSettings

ROOT = Path(__file__).resolve().parents[1]

TINY = RunSettings(steps=3, warmup=1, window_steps=3, n_batches=2, seed=0)


def write_spec(tmp: Path, cell: Cell, settings: RunSettings = TINY, **extra: Any) -> Path:
    out = tmp / cell.cell_id
    spec = {"cell": cell.to_dict(), "settings": settings.to_dict(),
            "result_path": str(out / "result.json"), "steps_path": str(out / "steps.jsonl"),
            "work_dir": str(out / "work"), "peak_flops": None, **extra}
    path = tmp / f"{cell.cell_id}.spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def run_worker(spec_path: Path, timeout: float = 600) -> tuple[subprocess.CompletedProcess, dict, list[dict]]:
    """Run ``python -m bench.worker.main`` like the launcher does; returns (process, result, step rows)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "bench.worker.main", str(spec_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    spec = json.loads(spec_path.read_text())
    result_path, steps_path = Path(spec["result_path"]), Path(spec["steps_path"])
    assert result_path.exists(), f"no result written; stderr:\n{proc.stderr[-3000:]}"
    result = json.loads(result_path.read_text())
    rows = [json.loads(line) for line in steps_path.read_text().splitlines()] if steps_path.exists() else []
    return proc, result, rows


class FakeBackend(Backend):
    """Numpy 'training': each loss is the mean of one input of the step (the GAN's "g" of the real
    images, "d" of the noise), so NaN data gives NaN losses.

    ``nan_at``: the call index whose losses are NaN; ``raise_at``: the call index that raises.
    """

    framework = "fake"

    def __init__(self, *args: Any, nan_at: int | None = None, raise_at: int | None = None,
                 unavailable: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nan_at, self.raise_at, self.unavailable = nan_at, raise_at, unavailable
        self.calls = 0
        self.traces = 0

    def setup(self) -> None:
        self.flags["fake_setup"] = True

    def versions(self) -> dict[str, Any]:
        return {"framework": "fake", "framework_version": "0"}

    def device_available(self) -> str | None:
        return self.unavailable

    def build(self, family: Any, spec: Any, batch_size: int, inputs: Any) -> None:
        self.loss_names = tuple(family.losses)
        self.batches = split_batches(list(zip(*inputs, strict=True)), len(inputs))

    def wrap(self) -> None:
        def step(*inputs: np.ndarray) -> dict[str, float]:
            i = self.calls
            self.calls += 1
            if i == self.raise_at:
                raise RuntimeError(f"boom at call {i}\nmore detail")
            means = [float(np.mean(x)) for x in inputs]
            if i == self.nan_at:
                means[0] = float("nan")
            # Returned in reverse order: the worker must store them by name, in the family's order.
            return dict(reversed(list(zip(self.loss_names, means, strict=True))))

        self.step_fn = step

    def fetch(self, handle: Any) -> dict[str, float]:
        return {k: float(v) for k, v in handle.items()}

    def compile_counters(self) -> dict[str, Any]:
        return {"traces": self.traces}

    def compile_report(self, before: dict[str, Any], after: dict[str, Any]) -> tuple[int | None, list[str]]:
        n = after["traces"] - before["traces"]
        return n, ([f"retraced {n}"] if n else [])


def fake_cell(**kw: Any) -> Cell:
    base = {"model": "dcgan-mnist", "framework": "torch", "mode": "eager", "device": "cpu",
            "precision": "fp32", "batch_size": 4, "variant": "default"}
    return Cell(**{**base, **kw})
