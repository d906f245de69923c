"""Starting helper processes one way everywhere: the child's environment, its module, killing its group.

Every process the parent starts (a cell's worker, a framework probe, the roofline probe) is spawned
fresh with ``<python> -m <module>``, in its own session so that its whole process group can be killed.

Test hook (tests only): the environment variables FRAMEBENCH_WORKER_MODULE, FRAMEBENCH_PROBE_MODULE
and FRAMEBENCH_ROOFLINE_MODULE replace ``bench.worker.main``/``bench.worker.probe``/``bench.host.roofline``,
so the
orchestration tests can run fake workers and probes that crash, hang or succeed instantly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # bench/host/processes.py -> the checkout
# The entry point run for each kind of helper process (each takes the framework as an argument).
ENTRY_MODULES = {"worker": "bench.worker.main", "probe": "bench.worker.probe", "roofline":
"bench.host.roofline"}


def module_for(kind: str) -> str:
    """The module run for ``kind`` (worker/probe/roofline); overridable by env var for tests only."""
    return os.environ.get(f"FRAMEBENCH_{kind.upper()}_MODULE") or ENTRY_MODULES[kind]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: ours, with the project root first on PYTHONPATH.

    This lets another interpreter (``--python <framework>=/envs/x/bin/python``) import bench and
    models without installing the project into it. Nothing in it can point imports at the directory
    the child starts in (a run directory is untrusted input): PYTHONSAFEPATH=1 keeps the current
    directory off sys.path (``-P``), and relative PYTHONPATH entries (``""``, ``.``), which Python
    resolves against the current directory, are dropped.
    """
    env = dict(os.environ)
    env.update(extra or {})
    given = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.isabs(p)]
    # A caller that names the code to run (an A/B side's checkout of another revision) puts it first
    # itself; otherwise this project's tree comes first.
    first = [] if extra and "PYTHONPATH" in extra else [str(PROJECT_ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([*first, *given]))
    env["PYTHONSAFEPATH"] = "1"
    env["PYTHONUNBUFFERED"] = "1"  # the log shows progress as it happens, and survives a kill
    return env


def kill_group(proc: subprocess.Popen[Any], grace_s: float = 0.0) -> None:
    """SIGTERM (when a grace period is given) then SIGKILL to the process's whole group, and reap it."""
    sigs = [signal.SIGTERM, signal.SIGKILL] if grace_s > 0 else [signal.SIGKILL]
    for sig in sigs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=grace_s if sig == signal.SIGTERM else 30)
            return
        except subprocess.TimeoutExpired:
            continue


def kill_leftovers(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL what is left of an exited process's group (a worker's compiler subprocesses)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
