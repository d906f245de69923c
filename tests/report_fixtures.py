"""Small stored runs for the report/gate tests, written in exactly the run-directory layout of
bench.results.write.

Everything is deterministic in its arguments (numpy Generator seeded per cell), so a fixture run is
the same bytes every time it is built; no framework is imported.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.results.records import SCHEMA_VERSION, Cell, CellResult, RunSettings, StepRecord
from bench.results.write import atomic_write_json, write_cell_result, write_steps
from bench.stats import summarize_step_times

FINGERPRINT = "0123456789abcdef"

ENVIRONMENT: dict[str, Any] = {
    # The shape of bench.host.envinfo.collect_environment()'s output.
    "schema": 1,
    "date": "2025-01-02T03:04:05Z",
    "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/usr/bin/python"},
    "platform": {"system": "Linux", "release": "6.1.0", "platform": "Linux-6.1.0-x86_64", "hostname": "box"},
    "cpu": {
        "model": "Test CPU @ 3.0GHz",
        "physical_cores": 2,
        "logical_cores": 4,
        "usable_cores": 4,
        "max_mhz": 3000.0,
        "machine": "x86_64",
    },
    "memory": {"total_bytes": 24 * 2**30, "total_gib": 24.0},
    "gpu": {
        "driver": "550.54",
        "cuda_driver_version": "12.4",
        "gpus": [
            {
                "index": 0,
                "name": "Test GPU 80GB",
                "memory_total_bytes": 80 * 2**30,
                "compute_capability": "9.0",
            }
        ],
    },
    "frameworks": {
        "tensorflow": {
            "installed": True,
            "version": "2.21.0",
            "cuda": None,
            "cudnn": None,
            "devices": ["cpu"],
            "reason": None,
            "python": "/usr/bin/python",
            "probe": {"framework": "tensorflow"},
        },
        "torch": {
            "installed": True,
            "version": "2.13.0",
            "cuda": "12.4",
            "cudnn": "9.1",
            "devices": ["cpu", "cuda"],
            "reason": None,
            "python": "/usr/bin/python",
            "probe": {"framework": "torch"},
        },
    },
    "framework_versions": {"tensorflow": "2.21.0", "torch": "2.13.0"},
    "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
    "env_vars": {"OMP_NUM_THREADS": "2"},
    "fingerprint": {
        "hash": FINGERPRINT,
        "fields": {
            "cpu_model": "Test CPU @ 3.0GHz",
            "physical_cores": 2,
            "logical_cores": 4,
            "machine": "x86_64",
            "ram_gib": 24,
            "gpus": ["Test GPU 80GB"],
        },
    },
}


@dataclass
class FixtureCell:
    """One cell of a fixture run. ``status`` != "ok" writes a result without measurements."""

    model: str = "dcgan-mnist"
    framework: str = "torch"
    mode: str = "eager"
    device: str = "cpu"
    precision: str = "fp32"
    batch_size: int = 8
    variant: str = "default"
    status: str = "ok"
    reason: str | None = None
    median_s: float = 0.010  # centre of the step-time distribution
    cv: float = 0.03  # spread of the step-time distribution (lognormal sigma ≈ cv)
    n_steps: int = 30
    first_step_s: float = 0.5
    peak_rss_bytes: int = 1_500 * 2**20
    device_alloc_peak_bytes: int | None = None
    nvml_peak_bytes: int | None = None
    loss_offset: float = 0.0  # this cell's losses move (1 + loss_offset) times as far (parity tests)
    loss_names: tuple[str, ...] = ("g", "d")  # the model family's loss names
    flags: dict[str, Any] = field(default_factory=dict)
    seed_salt: int = 0  # a different draw from the same distribution
    scenario: str = "train"

    @property
    def cell(self) -> Cell:
        return Cell(
            model=self.model,
            framework=self.framework,
            mode=self.mode,
            device=self.device,
            precision=self.precision,
            batch_size=self.batch_size,
            variant=self.variant,
            scenario=self.scenario,
        )


def _rng(cell_id: str, salt: int) -> np.random.Generator:
    # Stable across processes (unlike hash()): the same cell and salt always draw the same samples.
    return np.random.default_rng([zlib.crc32(cell_id.encode()), salt])


def _losses(step: int, offset: float, rng: np.random.Generator, names: tuple[str, ...]) -> dict[str, float]:
    """One value per loss name: the first falls, the second drifts down, any further ones decay; with
    ``offset``, each moves (1 + offset) times as far from its step-0 value (parity compares changes)."""
    def curve(i: int, s: int) -> float:
        if i == 0:
            return 0.7 + 0.6 * np.exp(-s / 15.0)
        if i == 1:
            return 1.38 - 0.3 * (1 - np.exp(-s / 20.0))
        return 1.0 + 0.2 * np.exp(-s / (10.0 + 5 * i))

    out = {}
    for i, name in enumerate(names):
        v = curve(i, step) + offset * (curve(i, step) - curve(i, 0))
        out[name] = float(v + 0.02 * rng.standard_normal())
    return out


def build_cell(fc: FixtureCell, settings: RunSettings) -> tuple[CellResult, list[StepRecord]]:
    cell = fc.cell
    cid = cell.cell_id
    base = dict(
        cell=cell,
        status=fc.status,
        reason=fc.reason,
        settings=settings.to_dict(),
        flags={"intra_op_threads": 2, "tf32": False, **fc.flags},
        versions={"framework": "2.21.0" if fc.framework == "tensorflow" else "2.13.0", "python": "3.11.7"},
        started_at="2025-01-02T03:04:05Z",
        finished_at="2025-01-02T03:04:15Z",
    )
    if fc.status != "ok":
        tail = (
            f"Traceback (most recent call last):\n  ...\nRuntimeError: {fc.reason}"
            if fc.status in ("failed", "oom", "timeout")
            else None
        )
        return CellResult(**base, error_tail=tail, wall_s=1.0), []
    rng = _rng(cid, fc.seed_salt)
    sigma = fc.cv
    timed = fc.median_s * np.exp(sigma * rng.standard_normal(fc.n_steps))
    warm = fc.median_s * np.exp(sigma * rng.standard_normal(settings.warmup))
    window = fc.median_s * np.exp(sigma * rng.standard_normal(settings.window_steps))
    records: list[StepRecord] = []
    step = 0

    def add(phase: str, t: float | None) -> None:
        nonlocal step
        records.append(
            StepRecord(
                cell_id=cid,
                step=step,
                phase=phase,
                step_time_s=None if t is None else float(t),
                losses=_losses(step, fc.loss_offset, rng, fc.loss_names),
            )
        )
        step += 1

    add("first", fc.first_step_s)
    for t in warm:
        add("warmup", t)
    for t in timed:
        add("timed", t)
    for _ in window:
        add("window", None)
    stats = summarize_step_times(timed)
    window_time = float(window.sum())
    flops = 2.0e9 * fc.batch_size
    res = CellResult(
        **base,
        time_to_first_step_s=fc.first_step_s,
        warmup_step_times_s=[float(t) for t in warm],
        **stats,
        window_steps=settings.window_steps,
        window_time_s=window_time,
        throughput_img_s=fc.batch_size * settings.window_steps / window_time,
        flops_per_step=flops,
        achieved_flops=flops / stats["step_time_median_s"],
        peak_flops=1.0e15 if fc.device == "cuda" else None,
        fraction_of_peak=(flops / stats["step_time_median_s"]) / 1.0e15 if fc.device == "cuda" else None,
        recompiles=0,
        peak_rss_bytes=fc.peak_rss_bytes,
        device_alloc_peak_bytes=fc.device_alloc_peak_bytes,
        device_reserved_peak_bytes=fc.device_alloc_peak_bytes,
        nvml_peak_bytes=fc.nvml_peak_bytes,
        final_losses=dict(records[-1].losses),
        wall_s=10.0,
    )
    return res, records


def _processes(
    cells: list[FixtureCell], settings: RunSettings, repeats: int, between_cv: float,
    block_factors: dict[int, float] | None, failed: dict[str, tuple[int, ...]] | None,
) -> tuple[list[tuple[CellResult, list[StepRecord]]], list[dict[str, Any]]]:
    """Every process of a run (``repeats`` per runnable cell, one per skipped cell) and its schedule.

    Blocks: for each repeat, one block per model holding every runnable cell of it, in an order that
    rotates with the repeat. A process draws its steps around ``median_s`` × exp(between_cv · z) ×
    ``block_factors[block]`` (a machine slower in some blocks); ``failed[cell_id]`` lists repeats
    whose process failed. With one repeat and no spread, a cell is exactly ``build_cell``'s.
    """
    models = list(dict.fromkeys(fc.model for fc in cells))
    out: list[tuple[CellResult, list[StepRecord]]] = []
    schedule: list[dict[str, Any]] = []
    for fc in cells:
        if fc.status == "skipped":
            out.append(build_cell(fc, settings))
    for r in range(1, repeats + 1):
        for m_i, model in enumerate(models):
            block = (r - 1) * len(models) + m_i
            mine = [fc for fc in cells if fc.model == model and fc.status != "skipped"]
            shift = (r - 1) % len(mine) if mine else 0
            for fc in mine[shift:] + mine[:shift]:
                cid = fc.cell.cell_id
                proc = fc
                if repeats > 1 or between_cv or block_factors:
                    z = float(_rng(cid, 1000 + r).standard_normal())
                    factor = float(np.exp(between_cv * z)) * (block_factors or {}).get(block, 1.0)
                    proc = FixtureCell(**{**fc.__dict__, "seed_salt": fc.seed_salt * 100 + r,
                                          "median_s": fc.median_s * factor})
                if r in (failed or {}).get(cid, ()):
                    proc = FixtureCell(**{**proc.__dict__, "status": "failed",
                                          "reason": f"process {r} crashed"})
                res, steps = build_cell(proc, settings)
                res.repeat, res.block, res.order = r, block, len(schedule)
                steps = [StepRecord(**{**s.to_dict(), "repeat": r}) for s in steps]
                schedule.append({"order": len(schedule), "block": block, "cell_id": cid, "repeat": r})
                out.append((res, steps))
    return out, schedule


def write_run(
    run_dir: Path,
    cells: Iterable[FixtureCell],
    *,
    run_id: str | None = None,
    env: dict[str, Any] | None = None,
    settings: RunSettings | None = None,
    created_at: str = "2025-01-02T03:04:05Z",
    repeats: int = 1,
    between_cv: float = 0.0,
    block_factors: dict[int, float] | None = None,
    failed: dict[str, tuple[int, ...]] | None = None,
) -> Path:
    """Write a complete run directory (run.json, environment.json, cells/, steps/, logs/): ``repeats``
    processes per runnable cell, scheduled in blocks (``_processes``)."""
    from bench.results.paths import log_path, steps_path

    run_dir = Path(run_dir)
    settings = settings or RunSettings(
        profile="quick", steps=30, warmup=2, window_steps=10, seed=0, intra_op_threads=2, repeats=repeats
    )
    cells = list(cells)
    procs, schedule = _processes(cells, settings, repeats, between_cv, block_factors, failed)
    meta = {
        "schema": SCHEMA_VERSION,
        "run_id": run_id or run_dir.name,
        "created_at": created_at,
        "argv": ["python", "-m", "bench", "all"],
        "profile": settings.profile,
        "settings": settings.to_dict(),
        "cells_planned": [fc.cell.cell_id for fc in cells],
        "repeats": repeats,
        "schedule_seed": 0,
        "schedule": schedule,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "environment.json", env if env is not None else ENVIRONMENT)
    for res, steps in procs:
        cid = res.cell.cell_id
        write_cell_result(run_dir, res)
        if steps:
            path = steps_path(run_dir, cid, res.repeat)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_steps(path, steps)
        log = log_path(run_dir, cid, res.repeat)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("", encoding="utf-8")
    atomic_write_json(run_dir / "run.json", meta)
    return run_dir


def standard_cells(
    *,
    scale: dict[str, float] | None = None,
    salt: int = 0,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> list[FixtureCell]:
    """The golden fixture: two models, ok/skipped/failed cells on CPU and CUDA.

    ``scale`` multiplies the median step time of the named cell ids (an injected slowdown);
    ``overrides`` replaces FixtureCell fields of the named cell ids.
    """
    cuda_mem = {"device_alloc_peak_bytes": 900 * 2**20, "nvml_peak_bytes": 1_400 * 2**20}
    cells = [
        FixtureCell(framework="tensorflow", mode="eager", median_s=0.020, first_step_s=0.8),
        FixtureCell(framework="tensorflow", mode="function", median_s=0.012, first_step_s=3.0),
        FixtureCell(
            framework="tensorflow",
            mode="xla",
            status="failed",
            reason="XLA compilation failed: unsupported op",
        ),
        FixtureCell(framework="torch", mode="eager", median_s=0.015, first_step_s=0.3, loss_offset=0.01),
        FixtureCell(framework="torch", mode="compile", median_s=0.010, first_step_s=20.0, loss_offset=0.01),
        FixtureCell(
            framework="torch",
            mode="reduce-overhead",
            status="skipped",
            reason="mode reduce-overhead needs a CUDA device",
        ),
        FixtureCell(
            model="dcgan-64",
            framework="tensorflow",
            mode="eager",
            device="cuda",
            status="skipped",
            reason="TensorFlow not installed on this machine",
        ),
        FixtureCell(
            model="dcgan-64",
            framework="torch",
            mode="eager",
            device="cuda",
            median_s=0.004,
            first_step_s=1.5,
            **cuda_mem,
        ),
        FixtureCell(
            model="dcgan-64",
            framework="torch",
            mode="compile",
            device="cuda",
            median_s=0.003,
            first_step_s=40.0,
            **cuda_mem,
        ),
    ]
    for fc in cells:
        fc.seed_salt = salt
        cid = fc.cell.cell_id
        if scale and cid in scale:
            fc.median_s *= scale[cid]
        for k, v in ((overrides or {}).get(cid) or {}).items():
            setattr(fc, k, v)
    return cells


def cell_id(
    model: str = "dcgan-mnist",
    framework: str = "torch",
    mode: str = "eager",
    device: str = "cpu",
    precision: str = "fp32",
    batch_size: int = 8,
    variant: str = "default",
) -> str:
    return FixtureCell(model, framework, mode, device, precision, batch_size, variant).cell.cell_id


def corrupt_json(path: Path) -> None:
    """Truncate a JSON file in the middle, as a killed writer or a bad hand edit would."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def gate_markdown(tmp_path: Path, base: Path, run: Path, *extra: str) -> tuple[int, str]:
    """`bench gate` of ``run`` against ``base``: its exit code and the Markdown verdict it wrote."""
    from bench.cli import main

    out = tmp_path / "gate.md"
    code = main(["gate", "--baseline", str(base), "--run", str(run), "--output", str(out), *extra])
    return code, out.read_text(encoding="utf-8") if out.exists() else ""


def table_row(md: str, cell_id: str) -> str:
    """The verdict table's row of one cell."""
    return next(line for line in md.splitlines() if line.startswith(f"| {cell_id} |"))
