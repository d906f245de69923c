"""The default launcher: one fresh worker process for a slot of one rank (``<python> -m bench.worker.main
spec-r<k>.json``), in its own session, so that a timeout or Ctrl-C kills the worker and all its
children.

``run_ranks`` starts each rank of a slot as such a process and waits for all of them under the slot's
time limit; it is what ``ProcessLauncher`` runs for its one rank, and what a launcher whose ranks are
plain processes reuses (tests/plugins/fakelauncher). A rank that exits with a failure stops the others
(a data-parallel rank would otherwise wait for its peer until the time limit).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from contextlib import ExitStack

from bench.host.processes import kill_group, kill_leftovers
from bench.launchers.base import KILL_GRACE_S, Interrupted, Launch, Launcher, LaunchOutcome
from bench.results.write import create_fresh

POLL_S = 0.05  # how often a slot of several ranks is looked at (one rank is simply waited for)


def run_ranks(job: Launch, kill_grace_s: float = KILL_GRACE_S,
              env_of_rank: dict[int, dict[str, str]] | None = None) -> LaunchOutcome:
    """Start every rank of ``job`` in its own process group; wait for all of them (TERM, then KILL,
    past the time limit); never raise for a failing rank. ``env_of_rank``: a rank's environment, where
    it differs from ``job.env``."""
    ranks = job.rank_jobs
    # The workers start outside the run directory (untrusted: nothing in it may pass for a module;
    # bench.host.processes.child_env keeps the cwd off sys.path too) and write only where their spec says.
    with ExitStack() as stack:
        cwd = stack.enter_context(tempfile.TemporaryDirectory(prefix="framebench-worker-"))
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for r in ranks:
                logf = stack.enter_context(create_fresh(r.log_path))
                logf.write(f"# {' '.join(r.command)}\n")
                logf.flush()
                try:
                    procs.append(subprocess.Popen(
                        r.command, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                        env=(env_of_rank or {}).get(r.rank, job.env), start_new_session=True))
                except OSError as e:
                    _stop(procs, kill_grace_s)
                    return LaunchOutcome(start_error=f"cannot start {r.command[0]}: {e.strerror or e}")
            timed_out, failed = _wait_all(procs, job.time_limit_s, kill_grace_s)
        except BaseException:
            for p in procs:
                kill_group(p)
            raise Interrupted(job.cell) from None
        finally:
            for p in procs:
                if p.returncode is not None:
                    kill_leftovers(p)  # a worker's leftover children (compiler subprocesses) go with it
    codes = tuple(p.returncode for p in procs)
    return LaunchOutcome(returncode=codes[0], timed_out=timed_out,
                         returncodes=codes if len(codes) > 1 else (), failed_rank=failed)


def _wait_all(procs: list[subprocess.Popen[bytes]], limit_s: float,
              grace_s: float) -> tuple[bool, int | None]:
    """(timed out, the rank whose failed exit stopped the others) once every process has ended."""
    if len(procs) == 1:
        try:
            procs[0].wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            kill_group(procs[0], grace_s=grace_s)
            return True, None
        return False, None
    deadline = time.monotonic() + limit_s
    while True:
        failed = next((i for i, p in enumerate(procs) if p.poll() not in (None, 0)), None)
        if failed is not None:
            _stop(procs, grace_s)
            return False, failed
        if all(p.returncode is not None for p in procs):
            return False, None
        if time.monotonic() >= deadline:
            _stop(procs, grace_s)
            return True, None
        time.sleep(POLL_S)


def _stop(procs: list[subprocess.Popen[bytes]], grace_s: float) -> None:
    for p in procs:
        if p.poll() is None:
            kill_group(p, grace_s=grace_s)


class ProcessLauncher(Launcher):
    """One worker process in its own process group: killed (TERM, then KILL) past the time limit."""

    name = "process"

    def __init__(self, kill_grace_s: float = KILL_GRACE_S) -> None:
        self.kill_grace_s = kill_grace_s

    def launch(self, job: Launch) -> LaunchOutcome:
        return run_ranks(job, self.kill_grace_s)


LAUNCHER = ProcessLauncher
