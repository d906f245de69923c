"""One timing method for every framework: the backends share bench.frameworks.base's timing code.

A ratio of two medians is a comparison only if both were taken the same way, so no backend may bring
its own timing loop (e.g. CUDA events for one framework, the host clock for the other).
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.frameworks import base, frameworks
from bench.frameworks.base import TIMING_METHODS, Backend
from bench.results.records import Cell, RunSettings

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_BACKEND = ROOT / "tests" / "plugins" / "fakeplug"


def _backend_files() -> list[Path]:
    files = sorted((ROOT / "bench" / "frameworks").glob("*/backend.py"))
    files += sorted(PLUGIN_BACKEND.rglob("*backend*.py"))
    return files


def _methods_defined(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            names |= {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return names


def test_every_framework_package_has_a_backend_file() -> None:
    names = {p.parent.name for p in _backend_files() if p.parent.parent.name == "frameworks"}
    assert {d.name for d in frameworks() if d.package.startswith("bench.frameworks.")} <= names


@pytest.mark.parametrize("path", _backend_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_backend_brings_its_own_timing(path: Path) -> None:
    overridden = _methods_defined(path) & set(TIMING_METHODS)
    assert not overridden, f"{path.relative_to(ROOT)} overrides the shared timing: {sorted(overridden)}"


class _Recording(Backend):
    """A backend whose device takes ``device_s`` to finish a step, visible only to ``sync``."""

    framework = "fake"

    def __init__(self, device_s: float) -> None:
        cell = Cell("vae-mnist", "fake", "eager", "cpu", "fp32", 8, "default")
        super().__init__(cell, RunSettings(), {})
        self.device_s = device_s
        self.events: list[str] = []
        self.loss_names = ("loss",)
        self.batches = [()]
        self.step_fn = lambda: None

    def call(self, i: int) -> int:
        self.events.append(f"call{i}")
        return i

    def keep(self, handle: int) -> int:
        self.events.append(f"keep{handle}")
        return handle

    def sync(self) -> None:
        self.events.append("sync")
        time.sleep(self.device_s)

    def fetch(self, handle: int) -> dict[str, float]:
        self.events.append(f"fetch{handle}")
        return {"loss": float(handle)}


def test_each_timed_step_ends_with_a_full_sync_inside_the_clock() -> None:
    b = _Recording(device_s=0.03)
    out = b.time_steps(5, 2)
    assert [losses for _, losses in out] == [{"loss": 5.0}, {"loss": 6.0}]
    assert b.events == ["call5", "keep5", "sync", "fetch5", "call6", "keep6", "sync", "fetch6"]
    # The device's time is charged to the step that queued it.
    assert all(t >= 0.03 for t, _ in out)


class _Logged(_Recording):
    """A backend with two named losses whose fetch logs the read of each one."""

    def __init__(self) -> None:
        super().__init__(device_s=0.0)
        self.loss_names = ("g", "d")

    def fetch(self, handle: int) -> dict[str, float]:
        out = {}
        for k, name in enumerate(self.loss_names):
            self.events.append(f"read{handle}.{name}")
            out[name] = float(10 * handle + k)
        return out


def test_each_timed_step_is_synced_and_every_loss_read_between_its_clock_reads(monkeypatch) -> None:
    """The promise that issue 27's trimming keeps: per step, the clock starts, the step is called, the
    device synchronised and each of its losses read, and only then the clock stops."""
    b = _Logged()

    def clock() -> float:
        b.events.append("clock")
        return float(len(b.events))

    monkeypatch.setattr(base, "time", SimpleNamespace(perf_counter=clock))
    out = b.time_steps(3, 2)
    per_step = ["clock", "call{i}", "keep{i}", "sync", "read{i}.g", "read{i}.d", "clock"]
    assert b.events == [e.format(i=i) for i in (3, 4) for e in per_step]
    assert [losses for _, losses in out] == [{"g": 30.0, "d": 31.0}, {"g": 40.0, "d": 41.0}]
    assert all(t > 0 for t, _ in out)


def test_the_window_syncs_once_at_its_end() -> None:
    b = _Recording(device_s=0.02)
    elapsed, losses = b.time_window(0, 3)
    assert b.events.count("sync") == 2  # one drain before the clock starts, one at the window's end
    assert b.events[1:4] == ["call0", "keep0", "call1"]
    assert len(losses) == 3 and elapsed >= 0.02


_CHECK = """
import importlib, sys
from bench.frameworks.base import TIMING_METHODS, Backend
mod = importlib.import_module(sys.argv[1])
cls = mod.BACKEND
bad = [m for m in TIMING_METHODS if getattr(cls, m) is not getattr(Backend, m)]
print("OK" if not bad else "OVERRIDDEN " + " ".join(bad))
"""


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_real_backends_use_the_shared_timing_code(framework: str) -> None:
    """Imported for real (each in its own process: the two frameworks never share one)."""
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed")
    proc = subprocess.run([sys.executable, "-c", _CHECK, f"bench.frameworks.{framework}.backend"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "OK"
