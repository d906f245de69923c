"""Measure ONE process of a cell in this (fresh) process: ``python -m bench.worker.main <spec.json>``.

spec.json = {"cell": Cell.to_dict(), "settings": RunSettings.to_dict(), "result_path", "steps_path",
"work_dir", "peak_flops", "repeat", "block", "order"} (the last three: which of the cell's processes
this is and its place in the run's schedule, stored in the result and its steps). The worker is the
same for every scenario: spec → the cell's flags and environment (applied before the framework
import) → the framework's backend (``bench.frameworks``) → the cell's scenario
(``bench.scenarios.get_scenario(cell.scenario).run``: what is built and timed, e.g. ``train``'s first
step, warm-up, timed steps and throughput window) → one result. It writes the CellResult and the
StepRecord rows atomically and exits 0 whenever it wrote a result, whatever the cell's status; the
launcher deals with a worker that dies without one.

A cell whose framework keeps a warm compile cache (``bench.worker.flags.needs_priming``) first runs this
module with ``--prime`` in a child process: the same cell, first steps only, nothing written, so that
the measured process starts with a primed compile cache.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.axes import check_cell
from bench.clock import utc_now_iso
from bench.frameworks import frameworks, get_framework, load_backend
from bench.frameworks.base import TIMING_METHOD
from bench.host.envinfo import speed_env_vars
from bench.lines import ERROR_TAIL_LINES, one_line
from bench.results.records import Cell, CellResult, RunSettings, StepRecord
from bench.scenarios import get_scenario
from bench.scenarios import skip_reason as scenario_skip_reason
from bench.worker import flags as flagplan
from bench.worker import watchdog
from bench.worker.faults import TEST_FAULTS
from bench.worker.memory import current_rss_bytes, device_used_bytes
from models.registry import family_of


@dataclass
class WorkerSpec:
    cell: Cell
    settings: RunSettings
    result_path: Path
    steps_path: Path
    work_dir: Path
    peak_flops: float | dict[str, float] | None = None
    test_fault: str | None = None
    repeat: int = 1
    block: int | None = None
    order: int | None = None
    # Which rank of its process slot this worker is (bench.launchers), and the device (of the cell's
    # kind) it runs on; specs written before ranks existed load as the one rank on device 0.
    rank: int = 0
    world_size: int = 1
    device_index: int = 0

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WorkerSpec:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        result_path = Path(d["result_path"])
        return cls(
            cell=Cell.from_dict(d["cell"]),
            settings=RunSettings.from_dict(d.get("settings") or {}),
            result_path=result_path,
            steps_path=Path(d.get("steps_path") or result_path.with_suffix(".steps.jsonl")),
            work_dir=Path(d.get("work_dir") or result_path.parent / "work"),
            peak_flops=d.get("peak_flops"),
            test_fault=d.get("test_fault"),
            repeat=int(d.get("repeat") or 1),
            block=d.get("block"),
            order=d.get("order"),
            rank=int(d.get("rank") or 0),
            world_size=int(d.get("world_size") or 1),
            device_index=int(d.get("device_index") or 0),
        )


# --------------------------------------------------------------------------- error classification


def oom_markers() -> tuple[frozenset[str], tuple[str, ...]]:
    """(exception class names, message fragments) that mean the device or host ran out of memory:
    Python's MemoryError and what each registered framework declares (no framework import)."""
    names = {"MemoryError"}
    messages: list[str] = []
    for d in frameworks():
        names.update(d.oom_exception_names)
        messages += d.oom_messages
    return frozenset(names), tuple(dict.fromkeys(messages))


def classify_exception(exc: BaseException, is_oom: bool = False) -> tuple[str, str]:
    """(status, reason) of a cell that raised ``exc``: "oom" for out-of-memory, else "failed".

    Exception types are matched by name anywhere in the MRO, so no framework import is needed here.
    """
    type_names, messages = oom_markers()
    names = {c.__name__ for c in type(exc).__mro__}
    message = str(exc)
    oom = is_oom or bool(names & type_names) or any(m in message for m in messages)
    reason = f"{type(exc).__name__}: {one_line(message)}" if message.strip() else type(exc).__name__
    return ("oom" if oom else "failed"), reason


def error_tail(exc: BaseException, lines: int = ERROR_TAIL_LINES) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------- helpers


def validate_cell(cell: Cell) -> None:
    check_cell(cell.to_dict())


def skip_reason_before_import(cell: Cell) -> str | None:
    if get_framework(cell.framework).needs_cuda(cell.mode) and cell.device != "cuda":
        return f"{cell.framework} mode {cell.mode!r} needs a CUDA device"
    # ValueError for an unknown model: a failed cell.
    return scenario_skip_reason(cell, tuple(family_of(cell.model).scenarios))


def prime_compile_cache(spec_path: str, spec: WorkerSpec) -> dict[str, Any]:
    """Run the cell's first steps in a child process to fill the persistent compile cache."""
    timeout = max(60.0, 0.5 * spec.settings.time_limit_s)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.worker.main", spec_path, "--prime"],
                              env=dict(os.environ), timeout=timeout, check=False)
        rc: int | str = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    return {"cache_priming_s": time.perf_counter() - t0, "cache_primed": rc == 0, "cache_priming_rc": rc}


def kept_steps(result: CellResult, records: list[StepRecord], settings: RunSettings) -> list[StepRecord]:
    """A process that failed after recording more rows than its result accounts for (a scenario that
    counts its steps once they are done) keeps its first ones, within the bound a stored run is held to
    (bench.results.load.row_bound), so that the run still loads; the flags say how many were dropped."""
    from bench.results.load import row_bound

    bound = row_bound(settings, result)
    if len(records) > bound:
        result.flags["steps_dropped"] = len(records) - bound
    return records[:bound]


def write_outputs(spec: WorkerSpec, result: CellResult, records: list[StepRecord]) -> None:
    from bench.results.write import atomic_write_json, write_steps

    write_steps(spec.steps_path, records)
    atomic_write_json(spec.result_path, result.to_dict())


def run(spec_path: str, prime_only: bool = False) -> int:
    # From the process's start, so wall_s includes interpreter and framework start-up.
    t_start = watchdog.process_start_time()
    spec = WorkerSpec.load(spec_path)
    cell, settings = spec.cell, spec.settings
    result = CellResult(cell=cell, status="failed", repeat=spec.repeat, block=spec.block, order=spec.order,
                        settings=settings.to_dict(), started_at=utc_now_iso())
    result.flags["timing"] = TIMING_METHOD
    records: list[StepRecord] = []
    backend: Any = None
    try:
        validate_cell(cell)
        scenario = get_scenario(cell.scenario)  # UnknownChoice for an unregistered one: a failed cell
        if spec.test_fault is not None and spec.test_fault not in TEST_FAULTS:
            raise ValueError(f"unknown test_fault {spec.test_fault!r}")
        reason = skip_reason_before_import(cell)
        if reason:
            result.status, result.reason = "skipped", reason
        else:
            plan = flagplan.plan_flags(cell, settings, spec.work_dir)
            os.environ.update(plan["env"])  # before the framework import: variant switches, caches
            result.flags["compile_cache"] = flagplan.prepare_compile_cache(cell, spec.work_dir, settings) \
                if not prime_only else plan.get("compile_cache")
            if flagplan.needs_priming(cell) and not prime_only:
                priming = prime_compile_cache(spec_path, spec)
                result.flags.update(priming)
                if not priming["cache_primed"]:
                    rc = priming["cache_priming_rc"]
                    result.compile_warnings.append(
                        f"compile-cache priming failed (rc={rc}): the cache may be cold")
            result.flags["env"] = speed_env_vars()  # the same set the run's environment records
            # Before any CUDA context, on the rank's own device.
            baseline = device_used_bytes(spec.device_index) if cell.device == "cuda" else None
            try:
                backend_cls = load_backend(cell.framework)  # imports the framework
                result.rss_after_import_bytes = current_rss_bytes()
            except ImportError as e:
                missing = getattr(e, "name", None) or ""
                if missing.split(".")[0] in get_framework(cell.framework).import_names:
                    result.status, result.reason = "skipped", f"{cell.framework} not installed ({e})"
                    backend_cls = None
                else:
                    raise
            if backend_cls is not None:
                backend = backend_cls(cell, settings, plan, device_index=spec.device_index,
                                      rank=spec.rank, world_size=spec.world_size)
                scenario.run(spec, backend, result, records, device_baseline=baseline, prime_only=prime_only)
    except BaseException as exc:  # every failure, Ctrl-C included, becomes a recorded cell
        is_oom = False
        if backend is not None:
            with contextlib.suppress(Exception):
                is_oom = backend.is_oom(exc)
        result.status, result.reason = classify_exception(exc, is_oom)
        if backend is not None and result.status == "failed":
            with contextlib.suppress(Exception):
                if backend.unsupported(exc):  # the engine's own limit, its error's line as the reason
                    result.status = "unsupported"
        result.error_tail = error_tail(exc)
        traceback.print_exc(file=sys.stderr)
    if prime_only:
        return 0 if result.status == "ok" else 1
    result.finished_at = utc_now_iso()
    result.wall_s = time.time() - t_start
    if result.status != "ok":
        records = kept_steps(result, records, spec.settings)
    write_outputs(spec, result, records)
    print(json.dumps({"cell_id": cell.cell_id, "status": result.status, "reason": result.reason,
                      "throughput_img_s": result.throughput_img_s}), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker.main", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="path to the cell's spec.json")
    parser.add_argument("--prime", action="store_true",
                        help="only run the first steps to fill the compile cache; write nothing")
    args = parser.parse_args(argv)
    # Never outlive the parent (a SIGKILLed CLI) nor the cell's own time limit (bench.worker.watchdog); here,
    # not in run(), so that calling run() in-process never arms a watchdog on the caller.
    watchdog.guard_cell(WorkerSpec.load(args.spec).settings.time_limit_s)
    return run(args.spec, prime_only=args.prime)


if __name__ == "__main__":
    sys.exit(main())
