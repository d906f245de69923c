"""A worker never outlives the process that started it, nor its own deadline.

The launcher kills a cell's process group past its time limit and on Ctrl-C, but a parent killed
with SIGKILL (or by the OOM killer) can do neither, and the worker would run on with no limit of its
own. Two lines of defence, started first thing by every worker (``bench.worker.main``, the tests' fake
worker):

1. On Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its parent
   dies (its parent *thread*, which is the launcher's main thread).
2. A daemon thread polls the parent pid (a dead parent's children are re-parented, so ``getppid``
   changes) and the deadline, measured from the process's start. On either it kills the worker's own
   children (compiler subprocesses, a cache-priming child) and exits with a distinct status:
   ``EXIT_PARENT_GONE`` or ``EXIT_DEADLINE``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["DEADLINE_GRACE_S", "EXIT_DEADLINE", "EXIT_PARENT_GONE", "guard_cell", "set_parent_death_signal",
           "start"]

EXIT_PARENT_GONE = 97  # the worker's parent died: nobody is left to record its result
EXIT_DEADLINE = 98  # the worker passed its own deadline (the launcher should have stopped it first)
# A cell's own deadline is its time limit plus this: the launcher, when alive, times the cell out
# first (it waits the limit, then up to 5 s between SIGTERM and SIGKILL) and records "timeout".
DEADLINE_GRACE_S = 15.0
POLL_S = 0.5
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux); False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def process_start_time() -> float:
    """When this process started (wall clock; now when psutil cannot tell)."""
    try:
        import psutil

        return float(psutil.Process().create_time())
    except Exception:
        return time.time()


def _kill_children() -> None:
    try:
        import psutil

        children = psutil.Process().children(recursive=True)
    except Exception:
        return
    for child in children:
        with contextlib.suppress(Exception):
            child.kill()


def _end(code: int, why: str) -> None:
    with contextlib.suppress(Exception):
        print(f"watchdog: {why}; exiting with status {code}", file=sys.stderr, flush=True)
    _kill_children()
    os._exit(code)


def _watch(parent: int, deadline_s: float | None, started_at: float, poll_s: float) -> None:
    while True:
        if os.getppid() != parent:
            _end(EXIT_PARENT_GONE, f"parent process {parent} is gone")
        if deadline_s is not None and time.time() - started_at > deadline_s:
            _end(EXIT_DEADLINE, f"own deadline of {deadline_s:g} s since process start passed")
        time.sleep(poll_s)


def start(deadline_s: float | None = None, *, poll_s: float = POLL_S,
          parent_death_signal: bool = True) -> threading.Thread:
    """Start the watchdog of this process: exit when the parent dies, or ``deadline_s`` seconds after
    the process started (None: no deadline). Returns its (daemon) thread."""
    parent = os.getppid()
    if parent_death_signal:
        set_parent_death_signal()
    # A parent that died before prctl took effect is caught by the first poll (getppid changed).
    thread = threading.Thread(target=_watch, args=(parent, deadline_s, process_start_time(), poll_s),
                              name="framebench-watchdog", daemon=True)
    thread.start()
    return thread


def guard_cell(time_limit_s: float | None) -> threading.Thread:
    """The watchdog of a cell's worker: its parent, and its time limit plus ``DEADLINE_GRACE_S``."""
    return start(None if time_limit_s is None else float(time_limit_s) + DEADLINE_GRACE_S)
