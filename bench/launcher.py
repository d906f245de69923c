"""One spawned process per cell: start it, bound it in time, and always come back with a CellResult.

The worker (``<python> -m bench.worker spec.json``) writes its result itself; when it cannot (a
crash, the OOM killer, a hang past the time limit), the launcher writes the result from what it saw:
the exit status and the tail of the worker's stderr. Processes are spawned fresh (never forked from
this process), each in its own session so that a timeout kills the worker and all its children.

Test hook (tests only): the environment variables FRAMEBENCH_WORKER_MODULE, FRAMEBENCH_PROBE_MODULE
and FRAMEBENCH_ROOFLINE_MODULE replace ``bench.worker``/``bench.probe``/``bench.roofline``, so the
orchestration tests can run fake workers that crash, hang or succeed instantly.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import store
from .records import Cell, CellResult, RunSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ERROR_TAIL_LINES = 30
KILL_GRACE_S = 5.0  # between SIGTERM and SIGKILL of a timed-out worker
ROOFLINE_TIMEOUT_S = 600.0
_DEFAULT_MODULES = {"worker": "bench.worker", "probe": "bench.probe", "roofline": "bench.roofline"}


class Interrupted(Exception):
    """Ctrl-C while a cell ran: its process is gone; finished cells are on disk."""

    def __init__(self, cell: Cell) -> None:
        super().__init__(cell.cell_id)
        self.cell = cell


def module_for(kind: str) -> str:
    """The module run for ``kind`` (worker/probe/roofline); overridable by env var for tests only."""
    return os.environ.get(f"FRAMEBENCH_{kind.upper()}_MODULE") or _DEFAULT_MODULES[kind]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: ours, with the project root first on PYTHONPATH.

    This lets another interpreter (``--python tensorflow=/envs/tf/bin/python``) import bench and
    models without installing the project into it.
    """
    env = dict(os.environ)
    paths = [str(PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"  # the log shows progress as it happens, and survives a kill
    env.update(extra or {})
    return env


def _kill_group(proc: subprocess.Popen[Any], grace_s: float = 0.0) -> None:
    """SIGTERM (when a grace period is given) then SIGKILL to the worker's whole process group."""
    sigs = [signal.SIGTERM, signal.SIGKILL] if grace_s > 0 else [signal.SIGKILL]
    for sig in sigs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace_s if sig == signal.SIGTERM else 30)
            return
        except subprocess.TimeoutExpired:
            continue


def tail_lines(path: Path, n: int = ERROR_TAIL_LINES) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n") for line in deque(f, maxlen=n)]
    except OSError:
        return []


def last_meaningful_line(lines: list[str]) -> str | None:
    """The last line that says something (skips blanks and traceback markers like ``^^^^``)."""
    for line in reversed(lines):
        s = line.strip()
        if s and set(s) - set("^~-=| "):
            return s[:300]
    return None


def classify_exit(returncode: int, tail: list[str]) -> tuple[str, str]:
    """(status, reason) of a worker that exited without writing a result."""
    text = "\n".join(tail)
    last = last_meaningful_line(tail)
    if "MemoryError" in text or "out of memory" in text.lower() or "OutOfMemory" in text:
        return "oom", last or "out of memory"
    if returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return "oom", "worker killed by SIGKILL (most likely the out-of-memory killer)"
    if "Killed" in text:
        return "oom", "worker killed (most likely the out-of-memory killer)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return "failed", f"worker died from {name}" + (f": {last}" if last else "")
    if returncode == 0:
        return "failed", "worker exited without writing a result" + (f": {last}" if last else "")
    return "failed", last or f"worker exited with code {returncode} and no output"


def run_cell(
    cell: Cell,
    settings: RunSettings,
    run_dir: Path,
    *,
    python: str | None = None,
    peak_flops: float | dict[str, float] | None = None,
    env_extra: dict[str, str] | None = None,
) -> CellResult:
    """Run one cell in a fresh process and store its CellResult (and steps) in ``run_dir``.

    Raises Interrupted on Ctrl-C after killing the worker; never raises for a worker's failure.
    """
    run_dir = Path(run_dir).resolve()  # the worker runs in its own directory: absolute paths only
    cid = cell.cell_id
    work = store.work_dir(run_dir, cid)
    work.mkdir(parents=True, exist_ok=True)
    # The worker writes into the cell's scratch dir; only a checked result is moved into cells/
    # and steps/, so a stale result of an earlier (failed) attempt can never pass for a new one.
    result_tmp, steps_tmp = work / "result.json", work / "steps.jsonl"
    for p in (result_tmp, steps_tmp):
        p.unlink(missing_ok=True)
    spec = {
        "cell": cell.to_dict(),
        "settings": settings.to_dict(),
        "result_path": str(result_tmp),
        "steps_path": str(steps_tmp),
        "work_dir": str(work),
        "peak_flops": peak_flops,
    }
    spec_path = store.atomic_write_json(work / "spec.json", spec)
    log = store.log_path(run_dir, cid)
    log.parent.mkdir(parents=True, exist_ok=True)
    python = python or sys.executable
    cmd = [python, "-m", module_for("worker"), str(spec_path)]
    started_at = store.utc_now_iso()
    t0 = time.monotonic()
    timed_out = False
    with open(log, "w", encoding="utf-8") as logf:
        logf.write(f"# {' '.join(cmd)}\n")
        logf.flush()
        try:
            proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=work, env=child_env(env_extra), start_new_session=True)
        except OSError as e:
            return _store_failure(run_dir, cell, settings, "failed",
                                  f"cannot start {python}: {e.strerror or e}", [], started_at,
                                  time.monotonic() - t0)
        try:
            proc.wait(timeout=settings.time_limit_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc, grace_s=KILL_GRACE_S)
        except BaseException:
            _kill_group(proc)
            raise Interrupted(cell) from None
        finally:
            # A worker's leftover children (compiler subprocesses) go with it.
            if proc.returncode is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
    wall = time.monotonic() - t0
    tail = [line for line in tail_lines(log) if not line.startswith("# ")]

    result = None if timed_out else _read_worker_result(result_tmp, cell)
    _tidy_work_dir(work)
    if isinstance(result, str):  # an unreadable or mismatched result file
        return _store_failure(run_dir, cell, settings, "failed", result, tail, started_at, wall)
    if result is None:
        if timed_out:
            status, reason = "timeout", f"exceeded the time limit of {settings.time_limit_s:g} s"
        else:
            status, reason = classify_exit(proc.returncode, tail)
        return _store_failure(run_dir, cell, settings, status, reason, tail, started_at, wall)

    # Fill what the worker may have left out; never overwrite what it measured.
    result = replace(
        result,
        settings=result.settings or settings.to_dict(),
        wall_s=result.wall_s if result.wall_s is not None else wall,
        started_at=result.started_at or started_at,
        finished_at=result.finished_at or store.utc_now_iso(),
        error_tail=(result.error_tail if (result.error_tail or result.status == "ok")
                    else "\n".join(tail) or None),
    )
    if steps_tmp.exists():
        dest = store.steps_path(run_dir, cid)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(steps_tmp, dest)
    store.write_cell_result(run_dir, result)
    return result


def _tidy_work_dir(work: Path) -> None:
    """Drop compile caches and the raw result; keep spec.json (to rerun the cell by hand).

    Run directories may be committed; megabytes of inductor/XLA caches must not come with them.
    """
    import shutil

    for p in work.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
    (work / "result.json").unlink(missing_ok=True)


def _read_worker_result(path: Path, cell: Cell) -> CellResult | str | None:
    if not path.exists():
        return None
    try:
        result = store.read_cell_result(path)
    except Exception as e:  # BenchError or anything a half-baked worker could cause
        return f"worker wrote an unreadable result: {e}"
    if result.cell.cell_id != cell.cell_id:
        return f"worker wrote a result for another cell ({result.cell.cell_id})"
    return result


def _store_failure(run_dir: Path, cell: Cell, settings: RunSettings, status: str, reason: str,
                   tail: list[str], started_at: str, wall: float) -> CellResult:
    store.steps_path(run_dir, cell.cell_id).unlink(missing_ok=True)  # no half series from an old try
    (store.work_dir(run_dir, cell.cell_id) / "steps.jsonl").unlink(missing_ok=True)
    result = CellResult(cell=cell, status=status, reason=reason, error_tail="\n".join(tail) or None,
                        settings=settings.to_dict(), wall_s=wall, started_at=started_at,
                        finished_at=store.utc_now_iso())
    store.write_cell_result(run_dir, result)
    return result


def skipped_result(cell: Cell, settings: RunSettings, reason: str) -> CellResult:
    now = store.utc_now_iso()
    return CellResult(cell=cell, status="skipped", reason=reason, settings=settings.to_dict(),
                      wall_s=0.0, started_at=now, finished_at=now)


def last_json_line(text: str) -> dict[str, Any] | None:
    """The last line of ``text`` that is a JSON object (probes print one; libraries may print more)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(d, dict):
                return d
    return None


def run_roofline(device: str = "cuda", python: str | None = None,
                 timeout_s: float = ROOFLINE_TIMEOUT_S, tf32: bool = False) -> dict[str, Any]:
    """Measure the device's peak FLOP/s and bandwidth (``-m bench.roofline``) in its own process.

    Returns the probe's JSON object, or {"device", "peak_flops": None, "error": ...} on failure:
    a missing roofline only removes the fraction-of-peak column, it never stops a run.
    """

    cmd = [python or sys.executable, "-m", module_for("roofline"), "--device", device]
    if tf32:
        cmd.append("--tf32")
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=child_env(), start_new_session=True)
    except OSError as e:
        return {"device": device, "peak_flops": None, "error": f"cannot start roofline probe: {e}"}
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(p)
        return {"device": device, "peak_flops": None,
                "error": f"roofline probe timed out after {timeout_s:g} s"}
    except BaseException:
        _kill_group(p)
        raise
    d = last_json_line(out)
    if d is not None:
        return d
    reason = last_meaningful_line(err.splitlines()) or f"exit code {p.returncode}"
    return {"device": device, "peak_flops": None, "error": f"roofline probe failed: {reason}"}
