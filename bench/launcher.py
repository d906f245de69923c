"""Launching one process of a cell: start it, bound it in time, and always come back with a CellResult.

A cell is measured in ``repeats`` fresh processes (bench.schedule orders them); ``run_cell`` runs one
of them, its ``repeat``, and stores its result as cells/<cell_id>/r<repeat>.json. A ``Launcher``
decides how the process is started and waited for. ``ProcessLauncher`` (the default) spawns one
fresh process (``<python> -m bench.worker spec-r<k>.json``) in its own session, so that a timeout or
Ctrl-C kills the worker and all its children. A multi-process launcher (one process per rank, for
data-parallel cells) is another ``Launcher`` whose ``launch`` starts several and waits for all of
them under the same limit.

The worker writes its result itself; when it cannot (a crash, the OOM killer, a hang past the time
limit), the launcher records the result from what it saw: the exit status and the tail of the log.
"""

from __future__ import annotations

import abc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

from . import rundir, store
from .clock import utc_now_iso
from .lines import ERROR_TAIL_LINES, last_meaningful_line
from .processes import child_env, kill_group, kill_leftovers, module_for
from .records import Cell, CellResult, RunSettings
from .watchdog import EXIT_DEADLINE, EXIT_PARENT_GONE

__all__ = [
    "Interrupted",
    "Launch",
    "LaunchOutcome",
    "Launcher",
    "ProcessLauncher",
    "child_env",
    "classify_exit",
    "run_cell",
    "skipped_result",
    "tail_lines",
]

MAX_TAIL_LINE_CHARS = 2000  # ERROR_TAIL_LINES such lines stay under bench.storedfile.MAX_STRING_CHARS
KILL_GRACE_S = 5.0  # between SIGTERM and SIGKILL of a timed-out worker


class Interrupted(Exception):
    """Ctrl-C while a cell ran: its process is gone; finished cells are on disk."""

    def __init__(self, cell: Cell) -> None:
        super().__init__(cell.cell_id)
        self.cell = cell


@dataclass(frozen=True)
class Launch:
    """What a launcher starts: the worker command for one cell, where it runs and logs, and its limit."""

    cell: Cell
    command: list[str]  # [python, "-m", worker module, spec-r<k>.json]
    work_dir: Path  # the cell's scratch directory, shared by its processes (not its cwd: see launch)
    log_path: Path  # stdout and stderr of this process (logs/<cell_id>/r<k>.log)
    env: dict[str, str]
    time_limit_s: float
    repeat: int = 1


@dataclass(frozen=True)
class LaunchOutcome:
    """How the cell's process(es) ended; the worker's result file is read afterwards."""

    returncode: int | None = None  # of the process that decides (rank 0); None: none ran to its end
    timed_out: bool = False
    start_error: str | None = None  # the process could not be started at all


class Launcher(abc.ABC):
    """Starts one cell's process(es), waits at most ``job.time_limit_s``, and cleans up.

    ``launch(job)`` must not raise for a failing worker (it reports it in the outcome); on Ctrl-C it kills
    everything it started and raises ``Interrupted``.
    """

    @abc.abstractmethod
    def launch(self, job: Launch) -> LaunchOutcome: ...


class ProcessLauncher(Launcher):
    """One worker process in its own process group: killed (TERM, then KILL) past the time limit."""

    def __init__(self, kill_grace_s: float = KILL_GRACE_S) -> None:
        self.kill_grace_s = kill_grace_s

    def launch(self, job: Launch) -> LaunchOutcome:
        # The worker starts outside the run directory (untrusted: nothing in it may pass for a module;
        # bench.processes.child_env keeps the cwd off sys.path too) and writes only where its spec says.
        with store.create_fresh(job.log_path) as logf, tempfile.TemporaryDirectory(
                prefix="framebench-worker-") as cwd:
            logf.write(f"# {' '.join(job.command)}\n")
            logf.flush()
            try:
                proc = subprocess.Popen(job.command, stdout=logf, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=cwd, env=job.env,
                                        start_new_session=True)
            except OSError as e:
                return LaunchOutcome(start_error=f"cannot start {job.command[0]}: {e.strerror or e}")
            try:
                proc.wait(timeout=job.time_limit_s)
            except subprocess.TimeoutExpired:
                kill_group(proc, grace_s=self.kill_grace_s)
                return LaunchOutcome(returncode=proc.returncode, timed_out=True)
            except BaseException:
                kill_group(proc)
                raise Interrupted(job.cell) from None
            finally:
                if proc.returncode is not None:
                    kill_leftovers(proc)  # a worker's leftover children (compiler subprocesses) go with it
        return LaunchOutcome(returncode=proc.returncode)


def run_cell(
    cell: Cell,
    settings: RunSettings,
    run_dir: Path,
    *,
    repeat: int = 1,
    block: int | None = None,
    order: int | None = None,
    python: str | None = None,
    peak_flops: float | dict[str, float] | None = None,
    env_extra: dict[str, str] | None = None,
    launcher: Launcher | None = None,
) -> CellResult:
    """Run process ``repeat`` of a cell (block and order: its place in the run's schedule) and store its
    CellResult (and steps) in ``run_dir``.

    Raises Interrupted on Ctrl-C after killing the worker; never raises for a worker's failure.
    """
    run_dir = Path(run_dir).resolve()  # the worker runs in its own directory: absolute paths only
    cid = cell.cell_id
    place = Place(repeat, block, order)
    work = store.work_dir(run_dir, cid)
    log = store.log_path(run_dir, cid, repeat)  # checks the cell id and the repeat before any write
    work.mkdir(parents=True, exist_ok=True)
    # The worker writes into the cell's scratch dir; only a checked result is moved into cells/
    # and steps/, so a stale result of an earlier (failed) attempt can never pass for a new one.
    name = f"r{repeat}"
    result_tmp, steps_tmp = work / f"result-{name}.json", work / f"steps-{name}.jsonl"
    for p in (result_tmp, steps_tmp):
        p.unlink(missing_ok=True)
    spec = {
        "cell": cell.to_dict(),
        "settings": settings.to_dict(),
        "result_path": str(result_tmp),
        "steps_path": str(steps_tmp),
        "work_dir": str(work),
        "peak_flops": peak_flops,
        "repeat": repeat,
        "block": block,
        "order": order,
    }
    spec_path = store.atomic_write_text(work / f"spec-{name}.json", store.dumps(spec), within=run_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    job = Launch(cell=cell, command=[python or sys.executable, "-m", module_for("worker"), str(spec_path)],
                 work_dir=work, log_path=log, env=child_env(env_extra), time_limit_s=settings.time_limit_s,
                 repeat=repeat)
    started_at = utc_now_iso("seconds")
    t0 = time.monotonic()
    outcome = (launcher or ProcessLauncher()).launch(job)
    wall = time.monotonic() - t0
    fail = _Failure(run_dir, cell, settings, place, started_at, wall)
    if outcome.start_error:
        return fail.store("failed", outcome.start_error, [])
    tail = [line for line in tail_lines(log) if not line.startswith("# ")]

    result = None if outcome.timed_out else _read_worker_result(result_tmp, cell, place)
    _tidy_work_dir(work)
    if isinstance(result, str):  # an unreadable or mismatched result file
        return fail.store("failed", result, tail)
    if result is None:
        if outcome.timed_out:
            status, reason = "timeout", f"exceeded the time limit of {settings.time_limit_s:g} s"
        else:
            status, reason = classify_exit(outcome.returncode or 0, tail)
        return fail.store(status, reason, tail)

    # Fill what the worker may have left out; never overwrite what it measured.
    result = replace(
        result,
        settings=result.settings or settings.to_dict(),
        wall_s=result.wall_s if result.wall_s is not None else wall,
        started_at=result.started_at or started_at,
        finished_at=result.finished_at or utc_now_iso("seconds"),
        error_tail=(result.error_tail if (result.error_tail or result.status == "ok")
                    else "\n".join(tail) or None),
    )
    if steps_tmp.exists():
        dest = store.steps_path(run_dir, cid, repeat)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(steps_tmp, dest)
    store.write_cell_result(run_dir, result)
    return result


@dataclass(frozen=True)
class Place:
    """Which process of its cell a run_cell call runs, and where in the run's schedule."""

    repeat: int = 1
    block: int | None = None
    order: int | None = None


def tail_lines(path: Path, n: int = ERROR_TAIL_LINES) -> list[str]:
    """The last ``n`` lines of a log, each cut to MAX_TAIL_LINE_CHARS (a stored string stays bounded)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n")[:MAX_TAIL_LINE_CHARS] for line in deque(f, maxlen=n)]
    except OSError:
        return []


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
    if returncode == EXIT_DEADLINE:
        return "timeout", "worker stopped by its own watchdog past its time limit"
    if returncode == EXIT_PARENT_GONE:
        return "failed", "worker stopped by its watchdog: its parent process was gone"
    if returncode == 0:
        return "failed", "worker exited without writing a result" + (f": {last}" if last else "")
    return "failed", last or f"worker exited with code {returncode} and no output"


# A scratch directory a framework shares between the processes of one cell (e.g. a compile cache
# that the quick profile lets processes 2..R reuse): kept between processes, dropped at the run's end.
SHARED_SUFFIX = "-shared"


def _tidy_work_dir(work: Path) -> None:
    """Drop compile caches and raw results; keep the spec files (to rerun a process by hand).

    A process starts from an empty scratch unless its framework asked for a directory shared by the
    cell's processes (``SHARED_SUFFIX``). Run directories may be committed; megabytes of compile
    caches must not come with them (``drop_shared_scratch`` at the run's end).
    """
    for p in work.iterdir():
        if p.is_dir() and not p.is_symlink():
            if not p.name.endswith(SHARED_SUFFIX):
                shutil.rmtree(p, ignore_errors=True)
        elif p.name.startswith("result-") and p.suffix == ".json":
            p.unlink(missing_ok=True)


def drop_shared_scratch(run_dir: Path) -> None:
    """Remove the cells' shared scratch directories (the run is over; a resume starts them cold)."""
    work_root = Path(run_dir) / rundir.WORK_DIR
    if not work_root.is_dir() or work_root.is_symlink():
        return
    for cell_dir in work_root.iterdir():
        if cell_dir.is_dir() and not cell_dir.is_symlink():
            for p in cell_dir.iterdir():
                if p.is_dir() and not p.is_symlink() and p.name.endswith(SHARED_SUFFIX):
                    shutil.rmtree(p, ignore_errors=True)


def _read_worker_result(path: Path, cell: Cell, place: Place) -> CellResult | str | None:
    if not path.exists():
        return None
    try:
        result = store.read_cell_result(path)
    except Exception as e:  # BenchError or anything a half-baked worker could cause
        return f"worker wrote an unreadable result: {e}"
    if result.cell.cell_id != cell.cell_id:
        return f"worker wrote a result for another cell ({result.cell.cell_id})"
    got = Place(result.repeat, result.block, result.order)
    if got != place:
        return f"worker wrote a result for another process ({got}, expected {place})"
    return result


@dataclass(frozen=True)
class _Failure:
    """Records a process that produced no result of its own (a crash, a kill, a timeout)."""

    run_dir: Path
    cell: Cell
    settings: RunSettings
    place: Place
    started_at: str
    wall: float

    def store(self, status: str, reason: str, tail: list[str]) -> CellResult:
        cid, repeat = self.cell.cell_id, self.place.repeat
        store.steps_path(self.run_dir, cid, repeat).unlink(missing_ok=True)  # no half series of an old try
        (store.work_dir(self.run_dir, cid) / f"steps-r{repeat}.jsonl").unlink(missing_ok=True)
        result = CellResult(cell=self.cell, status=status, repeat=repeat, block=self.place.block,
                            order=self.place.order, reason=reason, error_tail="\n".join(tail) or None,
                            settings=self.settings.to_dict(), wall_s=self.wall, started_at=self.started_at,
                            finished_at=utc_now_iso("seconds"))
        store.write_cell_result(self.run_dir, result)
        return result


def skipped_result(cell: Cell, settings: RunSettings, reason: str) -> CellResult:
    now = utc_now_iso("seconds")
    return CellResult(cell=cell, status="skipped", reason=reason, settings=settings.to_dict(),
                      wall_s=0.0, started_at=now, finished_at=now)
