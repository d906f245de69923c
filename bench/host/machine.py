"""Machine identity: what hardware a run ran on, its fingerprint, and whether two runs share it.

Timings only compare on the same hardware, so every run records this machine (``cpu_info``,
``memory_info``, ``gpu_info``, through bench.host.envinfo) with a fingerprint: a hash of what decides
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

from bench.host.cpuinfo import cpu_summary

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
        # Part of the fingerprint: a VM can hide AVX-512 or AMX under the same model name.
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
            try:  # NVML answers this for MIG slices and some whole GPUs; bench.host.envinfo fills the rest
                gpu["sm_count"] = int(pynvml.nvmlDeviceGetAttributes(h).multiprocessorCount)
            except Exception:
                gpu["sm_count"] = None
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
    """Whether a framework probe (bench.worker.probe's one JSON line) saw a usable CUDA device.

    Not merely a CUDA build: the probe's "cuda" is true only when a device answered.
    """
    return bool(probe.get("installed")) and probe.get("cuda") is True


# --------------------------------------------------------------------------- fingerprints

FINGERPRINT_VERSION = 2


def _gpu_identity(g: dict[str, Any]) -> dict[str, Any]:
    mem = g.get("memory_total_bytes")
    return {
        "name": g.get("name"),
        "memory_gib": round(mem / GIB) if isinstance(mem, (int, float)) and mem > 0 else None,
        "sm_count": g.get("sm_count"),
        "compute_capability": g.get("compute_capability"),
    }


def fingerprint_fields(cpu: dict[str, Any], memory: dict[str, Any], gpu: dict[str, Any]) -> dict[str, Any]:
    """What decides speed, from the recorded hardware: the CPU's vendor, family, model and stepping and
    the ISA extensions its kernels pick from (two CPUs sold under one name, or a VM that hides AVX-512
    or AMX, run different oneDNN/Inductor code), its cores, the RAM, and each GPU's name, memory, SM
    count and compute capability. None marks what the record does not hold (older runs)."""
    ident = cpu.get("identity") if isinstance(cpu.get("identity"), dict) else {}
    isa = cpu.get("isa_flags")
    gpus = [g for g in gpu.get("gpus", []) if isinstance(g, dict)]
    return {
        "version": FINGERPRINT_VERSION,
        "cpu_model": cpu.get("model"),
        "cpu_vendor": ident.get("vendor"),
        "cpu_family": ident.get("family"),
        "cpu_model_number": ident.get("model"),
        "cpu_stepping": ident.get("stepping"),
        "isa_flags": sorted(str(f) for f in isa) if isinstance(isa, list) else None,
        "physical_cores": cpu.get("physical_cores"),
        "logical_cores": cpu.get("logical_cores"),
        "usable_cores": cpu.get("usable_cores"),
        "machine": cpu.get("machine"),
        # Whole GiB: a few MiB reserved differently between boots do not make another machine.
        "ram_gib": round((memory.get("total_bytes") or 0) / GIB),
        "gpus": sorted((_gpu_identity(g) for g in gpus), key=lambda d: json.dumps(d, sort_keys=True)),
    }


def fingerprint_of(cpu: dict[str, Any], memory: dict[str, Any], gpu: dict[str, Any]) -> dict[str, Any]:
    """A stable hash of the hardware that decides speed (not of software or load): {"hash": 16 hex
    chars, "fields": what was hashed (``fingerprint_fields``)}, so a mismatch can be explained."""
    fields = fingerprint_fields(cpu, memory, gpu)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return {"hash": digest, "fields": fields}


def this_machine(gpu: dict[str, Any] | None = None) -> dict[str, Any]:
    """The hardware part of an environment.json for this machine: cpu, memory, gpu, fingerprint.
    ``gpu`` replaces the NVML query (bench.host.envinfo passes it completed with the probes' SM counts)."""
    cpu, memory = cpu_info(), memory_info()
    gpu = gpu_info() if gpu is None else gpu
    return {"cpu": cpu, "memory": memory, "gpu": gpu, "fingerprint": fingerprint_of(cpu, memory, gpu)}


def _part(env: Any, key: str) -> dict[str, Any]:
    v = env.get(key) if isinstance(env, dict) else None
    return v if isinstance(v, dict) else {}


def machine_fields(env: dict[str, Any]) -> dict[str, Any] | None:
    """The identity fields of an environment.json, computed from the hardware it records (so every
    run, old or new, is identified the same way); None when it records no CPU or GPU."""
    if not isinstance(env, dict) or not any(isinstance(env.get(k), dict) for k in ("cpu", "gpu")):
        return None
    return fingerprint_fields(_part(env, "cpu"), _part(env, "memory"), _part(env, "gpu"))


def machine_fingerprint(env: dict[str, Any]) -> str:
    """The fingerprint of an environment.json: computed from the hardware it records, else its stored
    "fingerprint" hash; "unknown" when it records neither."""
    if machine_fields(env) is not None:
        return str(fingerprint_of(_part(env, "cpu"), _part(env, "memory"), _part(env, "gpu"))["hash"])
    fp = env.get("fingerprint") if isinstance(env, dict) else None
    if isinstance(fp, dict) and fp.get("hash"):
        return str(fp["hash"])
    if isinstance(fp, str) and fp:
        return fp
    return UNKNOWN


def _show(v: Any) -> str:
    if v is None:
        return "not recorded"
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else str(v)


def machine_differences(a: dict[str, Any] | None, b: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """(differences, unknowns) between two sets of identity fields (``fingerprint_fields``), each a
    readable "field: A vs B". A field one side does not record is an unknown, not a difference;
    ISA flags are named by what only one side has."""
    if a is None or b is None:
        return [], []
    diffs: list[str] = []
    unknown: list[str] = []
    for key in sorted(set(a) | set(b)):
        if key == "version":
            continue
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        if va is None or vb is None:
            unknown.append(f"{key} ({_show(va)} vs {_show(vb)})")
        elif key == "isa_flags":
            only_a, only_b = sorted(set(va) - set(vb)), sorted(set(vb) - set(va))
            parts = [f"only the first has {' '.join(only_a)}" if only_a else "",
                     f"only the second has {' '.join(only_b)}" if only_b else ""]
            diffs.append(f"isa_flags ({'; '.join(p for p in parts if p)})")
        else:
            diffs.append(f"{key} ({_show(va)} vs {_show(vb)})")
    return diffs, unknown


def _isa_summary(isa: list[str] | None) -> str:
    if not isa:
        return ""
    top = "AVX-512" if "avx512f" in isa else "AVX2" if "avx2" in isa else ""
    extra = [n for f, n in (("avx512_bf16", "BF16"), ("avx512_fp16", "FP16"), ("avx512_vnni", "VNNI"),
                            ("amx_tile", "AMX")) if f in isa]
    return f", {top}{' + ' + '/'.join(extra) if extra else ''}" if top or extra else ""


def describe_fields(fields: dict[str, Any]) -> str:
    gpus = ", ".join(str(g.get("name") if isinstance(g, dict) else g) for g in fields.get("gpus") or [])
    return (f"{fields.get('cpu_model') or 'unknown CPU'}, {fields.get('physical_cores') or '?'} cores"
            f"{_isa_summary(fields.get('isa_flags'))}, {gpus or 'no GPU'}")


def machine_description(env: dict[str, Any]) -> str:
    """One line saying what hardware a fingerprint stands for (for refusal messages)."""
    fields = machine_fields(env)
    if fields is None:
        fp = _part(env, "fingerprint")
        fields = fp.get("fields") if isinstance(fp.get("fields"), dict) else {}
    return describe_fields(fields)


def check_same_machine(
    stored_env: dict[str, Any], current_env: dict[str, Any] | None = None, what: str = "the run"
) -> str | None:
    """Why ``what`` (recorded with ``stored_env``) must not continue here, or None when it may.

    ``current_env`` defaults to this machine (``this_machine()``). Fields one side does not record
    do not refuse: there is nothing to compare.
    """
    current = current_env if current_env is not None else this_machine()
    a, b = machine_fields(stored_env), machine_fields(current)
    if a is None or b is None:
        stored, now = machine_fingerprint(stored_env), machine_fingerprint(current)
        if UNKNOWN in (stored, now) or stored == now:
            return None
        return (f"{what} was recorded on another machine (fingerprint {stored} vs {now}); "
                f"start a new run here instead")
    diffs, _ = machine_differences(a, b)
    if not diffs:
        return None
    return (f"{what} was recorded on another machine (fingerprint {machine_fingerprint(stored_env)} vs "
            f"{machine_fingerprint(current)}: {'; '.join(diffs)}); start a new run here instead")
