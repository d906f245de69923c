"""Issue 11, processes: a worker cannot outlive its parent (SIGKILLed) nor its own deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from orch_helpers import ROOT, fake_env

from bench.launchers.base import classify_exit
from bench.worker import watchdog

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its (new) parent to reap it is dead
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, within_s: float) -> float:
    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < within_s:
        time.sleep(0.05)
    assert not _alive(pid), f"worker {pid} outlived its parent by more than {within_s} s"
    return time.monotonic() - t0


@linux_only
def test_worker_dies_with_its_sigkilled_parent(tmp_path: Path) -> None:
    """Before: the hung worker ran on for its full hour after `kill -9` of `python -m bench all`."""
    env = fake_env(ORCH_FAKE_PLAN=json.dumps({"__eager__": "hang"}),
                   ORCH_FAKE_LOG=str(tmp_path / "started.log"))
    parent = subprocess.Popen(
        [sys.executable, "-m", "bench", "all", "--models", "dcgan-mnist", "--frameworks", "torch", "--modes",
         "eager", "--devices", "cpu", "--no-report", "--steps", "2", "--time-limit", "600", "--out", "run"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker is None:
            pid_files = list((tmp_path / "run" / "work").glob("*/pid"))
            if pid_files and pid_files[0].read_text().strip():
                worker = int(pid_files[0].read_text())
            time.sleep(0.05)
        assert worker is not None, "the worker never started"
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        _wait_gone(worker, within_s=5)
    finally:
        if parent.poll() is None:
            parent.kill()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)


# A grandchild with only the polling watchdog (no PDEATHSIG); its grandparent becomes the subreaper that
# inherits it when the middle process dies, so the grandchild's exit status can be read.
_ORPHAN = textwrap.dedent("""
    import ctypes, os, signal, subprocess, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    middle = subprocess.Popen([sys.executable, "-c", '''
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "from bench.worker import watchdog; import time; "
                              "watchdog.start(None, poll_s=0.05, parent_death_signal=False); time.sleep(60)"])
    print(child.pid, flush=True)
    time.sleep(60)
    '''], stdout=subprocess.PIPE, text=True)
    grandchild = int(middle.stdout.readline())
    time.sleep(0.5)
    middle.kill(); middle.wait()
    t0 = time.monotonic()
    _, status = os.waitpid(grandchild, 0)
    print(os.waitstatus_to_exitcode(status), round(time.monotonic() - t0, 2))
""")


@linux_only
def test_polling_watchdog_exits_with_its_own_status_when_the_parent_is_gone(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-c", _ORPHAN], cwd=tmp_path, env=fake_env(), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    code, took = p.stdout.split()
    assert int(code) == watchdog.EXIT_PARENT_GONE and float(took) < 5
    assert "parent process" in p.stderr and "is gone" in p.stderr


def test_watchdog_enforces_the_deadline_from_process_start(tmp_path: Path) -> None:
    code = ("from bench.worker import watchdog; import time; "
            "watchdog.start(1.0, poll_s=0.05); time.sleep(60)")
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == watchdog.EXIT_DEADLINE, p.stderr
    assert time.monotonic() - t0 < 20 and "own deadline of 1 s" in p.stderr


def test_a_cells_deadline_leaves_the_launcher_time_to_time_it_out_first() -> None:
    from bench.launchers.base import KILL_GRACE_S

    assert watchdog.DEADLINE_GRACE_S > KILL_GRACE_S + 1
    assert classify_exit(watchdog.EXIT_DEADLINE, [])[0] == "timeout"
    status, reason = classify_exit(watchdog.EXIT_PARENT_GONE, [])
    assert status == "failed" and "parent" in reason


@linux_only
def test_parent_death_signal_is_available_on_linux() -> None:
    code = "from bench.worker import watchdog; print(watchdog.set_parent_death_signal())"
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "True", p.stderr


def test_the_real_worker_starts_the_watchdog() -> None:
    """bench.worker.main guards itself as the fake worker does (the SIGKILL test above runs the fake)."""
    import inspect

    from bench.worker import main as worker

    assert "watchdog.guard_cell(WorkerSpec.load(args.spec).settings.time_limit_s)" in inspect.getsource(
        worker.main)
