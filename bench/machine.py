"""Machine identity: what hardware a run ran on, its fingerprint, and whether two runs share it.

Timings only compare on the same hardware, so every run records this machine (``cpu_info``,
``memory_info``, ``gpu_info``, through bench.envinfo) with a fingerprint: a hash of what decides
speed (not of software or load). The gate refuses to compare runs of different fingerprints and
``--resume`` refuses to continue a run recorded elsewhere. Framework-free: standard library, psutil
and NVML only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from typing import Any

from .cpuinfo import cpu_summary

GIB = 1024**3
UNKNOWN = "unknown"


# --------------------------------------------------------------------------- this machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or UNKNOWN


def cpu_info() -> dict[str, Any]:
    import psutil

    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        freq = psutil.cpu_freq()
        max_mhz = float(freq.max) if freq and freq.max else None
    except (OSError, NotImplementedError, AttributeError):
        max_mhz = None
    isa = cpu_summary()
    return {
        "model": cpu_model(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "usable_cores": affinity,  # CPU affinity/cgroup view: what this process may run on
        "max_mhz": max_mhz,
        "machine": platform.machine(),
        # Not (yet) part of the fingerprint: a VM can hide AVX-512 or AMX under the same model name.
        "isa_flags": isa["isa_flags"],
        "supports_bf16": isa["supports_bf16"],
        "identity": isa["identity"],
    }


def memory_info() -> dict[str, Any]:
    import psutil

    total = int(psutil.virtual_memory().total)
    return {"total_bytes": total, "total_gib": round(total / GIB, 1)}


def gpu_info() -> dict[str, Any]:
    """GPUs as NVML sees them; {"gpus": [], "reason": ...} when there is no NVIDIA driver."""
    try:
        import pynvml
    except ImportError:
        return {"driver": None, "gpus": [], "reason": "nvidia-ml-py not installed"}
    try:
        pynvml.nvmlInit()
    except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded...: no GPU here
        return {"driver": None, "gpus": [], "reason": f"NVML unavailable: {e}"}
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpu: dict[str, Any] = {"index": i, "name": _text(pynvml.nvmlDeviceGetName(h))}
            try:
                gpu["memory_total_bytes"] = int(pynvml.nvmlDeviceGetMemoryInfo(h).total)
            except Exception:
                gpu["memory_total_bytes"] = None
            try:
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
                gpu["compute_capability"] = f"{major}.{minor}"
            except Exception:
                gpu["compute_capability"] = None
            gpus.append(gpu)
        try:
            cuda_driver = pynvml.nvmlSystemGetCudaDriverVersion()
            cuda_driver_s = f"{cuda_driver // 1000}.{(cuda_driver % 1000) // 10}"
        except Exception:
            cuda_driver_s = None
        return {"driver": driver, "cuda_driver_version": cuda_driver_s, "gpus": gpus}
    except Exception as e:
        return {"driver": None, "gpus": [], "reason": f"NVML query failed: {e}"}
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def cuda_available(probe: dict[str, Any]) -> bool:
    """Whether a framework probe (bench.probe's one JSON line) saw a usable CUDA device.

    Not merely a CUDA build: the probe's "cuda" is true only when a device answered.
    """
    return bool(probe.get("installed")) and probe.get("cuda") is True


# --------------------------------------------------------------------------- fingerprints


def fingerprint_of(cpu: dict[str, Any], memory: dict[str, Any], gpu: dict[str, Any]) -> dict[str, Any]:
    """A stable hash of the hardware that decides speed (not of software or load).

    RAM is rounded to whole GiB so that a few MiB reserved differently between boots do not count.
    Returns {"hash": 16 hex chars, "fields": what was hashed} so a mismatch can be explained.
    """
    fields = {
        "cpu_model": cpu.get("model"),
        "physical_cores": cpu.get("physical_cores"),
        "logical_cores": cpu.get("logical_cores"),
        "machine": cpu.get("machine"),
        "ram_gib": round((memory.get("total_bytes") or 0) / GIB),
        "gpus": sorted(g.get("name", "") for g in gpu.get("gpus", [])),
    }
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return {"hash": digest, "fields": fields}


def this_machine() -> dict[str, Any]:
    """The hardware part of an environment.json for this machine: cpu, memory, gpu, fingerprint."""
    cpu, memory, gpu = cpu_info(), memory_info(), gpu_info()
    return {"cpu": cpu, "memory": memory, "gpu": gpu, "fingerprint": fingerprint_of(cpu, memory, gpu)}


def _part(env: Any, key: str) -> dict[str, Any]:
    v = env.get(key) if isinstance(env, dict) else None
    return v if isinstance(v, dict) else {}


def machine_fingerprint(env: dict[str, Any]) -> str:
    """The fingerprint of an environment.json: its "fingerprint" hash, else computed from the CPU,
    memory and GPUs it records (``fingerprint_of``); "unknown" when it records neither."""
    fp = env.get("fingerprint") if isinstance(env, dict) else None
    if isinstance(fp, dict) and fp.get("hash"):
        return str(fp["hash"])
    if isinstance(fp, str) and fp:
        return fp
    if not isinstance(env, dict) or not any(isinstance(env.get(k), dict) for k in ("cpu", "gpu")):
        return UNKNOWN
    return str(fingerprint_of(_part(env, "cpu"), _part(env, "memory"), _part(env, "gpu"))["hash"])


def machine_description(env: dict[str, Any]) -> str:
    """One line saying what hardware a fingerprint stands for (for refusal messages)."""
    fp = _part(env, "fingerprint")
    fields = fp.get("fields") if isinstance(fp.get("fields"), dict) else None
    if fields is None:
        cpu, gpu = _part(env, "cpu"), _part(env, "gpu")
        fields = {
            "cpu_model": cpu.get("model"),
            "physical_cores": cpu.get("physical_cores"),
            "gpus": [g.get("name") for g in gpu.get("gpus", []) if isinstance(g, dict)],
        }
    gpus = ", ".join(str(g) for g in fields.get("gpus") or []) or "no GPU"
    return f"{fields.get('cpu_model') or 'unknown CPU'}, {fields.get('physical_cores') or '?'} cores, {gpus}"


def check_same_machine(
    stored_env: dict[str, Any], current_env: dict[str, Any] | None = None, what: str = "the run"
) -> str | None:
    """Why ``what`` (recorded with ``stored_env``) must not continue here, or None when it may.

    ``current_env`` defaults to this machine (``this_machine()``). An environment whose fingerprint
    is unknown does not refuse: there is nothing to compare.
    """
    stored = machine_fingerprint(stored_env)
    now = machine_fingerprint(current_env if current_env is not None else this_machine())
    if UNKNOWN in (stored, now) or stored == now:
        return None
    return (f"{what} was recorded on another machine (fingerprint {stored} vs {now}); "
            f"start a new run here instead")
