"""Parent-side probes: which frameworks and devices this machine has, and the device's peak.

Each framework is probed in its own interpreter (``<python> -m bench.worker.probe <framework>``), in
parallel, so the parent never imports a framework and a broken install becomes a skip reason instead
of a crash. The probe answers with one JSON line (bench.worker.probe's protocol):

    {"framework", "installed": bool, "version", "cuda": bool, "devices": [GPU names],
     "reason": why not installed / no CUDA device, "cuda_build", ...framework extras}

The parent adds "python_executable". ``run_roofline`` measures a device's peak FLOP/s and bandwidth
(``-m bench.host.roofline --framework F``) the same way. Reading a probe result (``cuda_available``, defined
in bench.host.machine) is pure; the matrix uses it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.host.machine import cuda_available
from bench.host.processes import child_env, kill_group, module_for
from bench.lines import last_json_line, last_meaningful_line

PROBE_TIMEOUT_S = 180.0  # a cold framework import on a busy 2-core machine can take tens of seconds
ROOFLINE_TIMEOUT_S = 600.0

Probe = dict[str, Any]

__all__ = ["Probe", "cuda_available", "failed_probe", "probe_frameworks", "run_roofline"]


def failed_probe(framework: str, reason: str) -> Probe:
    """The probe result of a framework that could not be probed (cells are skipped with ``reason``)."""
    return {"framework": framework, "installed": False, "version": None, "cuda": False, "devices": [],
            "reason": reason}


# --------------------------------------------------------------------------- running probes


def probe_frameworks(frameworks: Iterable[str], pythons: Mapping[str, str] | None = None,
                     timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, Probe]:
    """framework → probe result; the probes run in parallel, each in its framework's interpreter."""
    frameworks = list(frameworks)
    pythons = pythons or {}
    procs: dict[str, tuple[subprocess.Popen[str], str]] = {}
    results: dict[str, Probe] = {}
    for fw in frameworks:
        python = pythons.get(fw, sys.executable)
        try:
            procs[fw] = (subprocess.Popen(
                [python, "-m", module_for("probe"), fw], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=child_env(), start_new_session=True), python)
        except OSError as e:
            results[fw] = failed_probe(fw, f"cannot start {python}: {e.strerror or e}")
    deadline = time.monotonic() + timeout_s  # the probes run together: one deadline for all
    try:
        for fw, (p, python) in procs.items():
            results[fw] = _answer(fw, p, deadline, timeout_s)
            results[fw]["python_executable"] = python
    except BaseException:  # Ctrl-C: leave no probe behind
        for q, _ in procs.values():
            kill_group(q)
        raise
    return {fw: results[fw] for fw in frameworks if fw in results}


def _answer(fw: str, p: subprocess.Popen[str], deadline: float, timeout_s: float) -> Probe:
    try:
        out, err = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        kill_group(p)
        p.communicate()
        return failed_probe(fw, f"{fw} probe timed out after {timeout_s:.0f} s")
    d = last_json_line(out)
    if d is None:
        return failed_probe(fw, f"{fw} probe failed: {last_meaningful_line(err.splitlines()) or 'no output'}")
    d.setdefault("framework", fw)
    d.setdefault("installed", False)
    if not d["installed"] and not d.get("reason"):
        d["reason"] = f"{fw} not installed"
    return d


def run_roofline(device: str, framework: str, python: str | None = None,
                 timeout_s: float = ROOFLINE_TIMEOUT_S, tf32: bool = False,
                 options: Sequence[str] = ()) -> dict[str, Any]:
    """Measure the device's peak FLOP/s and bandwidth with ``framework`` in its own process
    (``framework`` may also be "numpy" on CPU; ``options``: more ``bench.host.roofline`` arguments).
    ``bench.host.roofline.measure_peaks`` runs every source this way and keeps the best.

    Returns the probe's JSON object, or {"device", "peak_flops": None, "error": ...} on failure:
    a missing roofline only removes the fraction-of-peak column, it never stops a run.
    """
    cmd = [python or sys.executable, "-m", module_for("roofline"), "--device", device,
           "--framework", framework]
    if tf32:
        cmd.append("--tf32")
    cmd += list(options)
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=child_env(), start_new_session=True)
    except OSError as e:
        return {"device": device, "peak_flops": None, "error": f"cannot start roofline probe: {e}"}
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(p)
        p.communicate()
        return {"device": device, "peak_flops": None,
                "error": f"roofline probe timed out after {timeout_s:g} s"}
    except BaseException:
        kill_group(p)
        raise
    d = last_json_line(out)
    if d is not None:
        return d
    reason = last_meaningful_line(err.splitlines()) or f"exit code {p.returncode}"
    return {"device": device, "peak_flops": None, "error": f"roofline probe failed: {reason}"}
