"""What the machine and software were: recorded with every run so that numbers can be trusted and compared.

Framework-free: framework versions, CUDA and cuDNN come from the per-framework probes (run in their
own processes, see bench.matrix); everything else from the standard library, psutil and NVML.
The machine fingerprint lets the regression gate refuse to compare runs from different hardware.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from .store import utc_now_iso

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Environment variables that change speed or numerics: recorded whenever set.
SPEED_ENV_VARS: tuple[str, ...] = (
    "TF_ENABLE_ONEDNN_OPTS", "TF_XLA_FLAGS", "XLA_FLAGS", "TF_GPU_ALLOCATOR", "TF_FORCE_GPU_ALLOW_GROWTH",
    "TF_CUDNN_DETERMINISTIC", "TF_DETERMINISTIC_OPS", "TF_INTRA_OP_PARALLELISM_THREADS",
    "TF_INTER_OP_PARALLELISM_THREADS", "NVIDIA_TF32_OVERRIDE",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES", "CUDA_LAUNCH_BLOCKING", "CUBLAS_WORKSPACE_CONFIG", "CUDA_MODULE_LOADING",
    "PYTORCH_CUDA_ALLOC_CONF", "LD_PRELOAD",
)
SPEED_ENV_PREFIXES: tuple[str, ...] = (
    "TORCHINDUCTOR_", "TORCH_COMPILE", "TORCHDYNAMO_", "TRITON_", "KMP_", "OMP_", "MKL_", "DNNL_", "ONEDNN_",
)

_GIB = 1024**3


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


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
    return {
        "model": cpu_model(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "usable_cores": affinity,  # CPU affinity/cgroup view: what this process may run on
        "max_mhz": max_mhz,
        "machine": platform.machine(),
    }


def physical_cores() -> int:
    """Physical cores, or logical ones where psutil cannot tell; at least 1."""
    import psutil

    return int(psutil.cpu_count(logical=False) or psutil.cpu_count(logical=True) or 1)


def memory_info() -> dict[str, Any]:
    import psutil

    total = int(psutil.virtual_memory().total)
    return {"total_bytes": total, "total_gib": round(total / _GIB, 1)}


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


def git_info(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """Commit of the project checkout and whether it had local changes; None outside git."""
    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def speed_env_vars(environ: dict[str, str] | None = None) -> dict[str, str]:
    environ = dict(os.environ if environ is None else environ)
    return {
        k: v for k, v in sorted(environ.items())
        if k in SPEED_ENV_VARS or k.startswith(SPEED_ENV_PREFIXES)
    }


def machine_fingerprint(cpu: dict[str, Any], memory: dict[str, Any], gpu: dict[str, Any]) -> dict[str, Any]:
    """A stable hash of the hardware that decides speed (not of software or load).

    RAM is rounded to whole GiB so that a few MiB reserved differently between boots do not count.
    Returns {"hash": 16 hex chars, "fields": what was hashed} so a mismatch can be explained.
    """
    fields = {
        "cpu_model": cpu.get("model"),
        "physical_cores": cpu.get("physical_cores"),
        "logical_cores": cpu.get("logical_cores"),
        "machine": cpu.get("machine"),
        "ram_gib": round((memory.get("total_bytes") or 0) / _GIB),
        "gpus": sorted(g.get("name", "") for g in gpu.get("gpus", [])),
    }
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
    return {"hash": digest, "fields": fields}


def _framework_summary(probes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from .matrix import cuda_available

    out = {}
    for fw, p in sorted(probes.items()):
        cuda = p.get("cuda")
        out[fw] = {
            "installed": bool(p.get("installed")),
            "version": p.get("version"),
            "cuda_available": cuda_available(p),
            "cuda_build": p.get("cuda_build"),
            # Version strings when the probe reports them ("cuda" is availability in bench.probe).
            "cuda": p.get("cuda_version") or (cuda if isinstance(cuda, str) else None),
            "cudnn": p.get("cudnn_version") or p.get("cudnn"),
            "devices": p.get("devices"),
            "reason": p.get("reason"),
            "python": p.get("python_executable"),
            "probe": p,  # the whole probe output, whatever extra it reports
        }
    return out


def collect_environment(frameworks_probe_results: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything recorded in <run_dir>/environment.json. Never raises for a missing component."""
    probes = frameworks_probe_results or {}
    cpu = cpu_info()
    memory = memory_info()
    gpu = gpu_info()
    frameworks = _framework_summary(probes)
    return {
        "schema": 1,
        "date": utc_now_iso(),
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "platform": platform.platform(),
            "hostname": platform.node(),
        },
        "cpu": cpu,
        "memory": memory,
        "gpu": gpu,
        "frameworks": frameworks,
        # Flat copies of what reports quote most often.
        "framework_versions": {fw: f["version"] for fw, f in frameworks.items()},
        "cuda_versions": {fw: f["cuda"] for fw, f in frameworks.items()},
        "cudnn_versions": {fw: f["cudnn"] for fw, f in frameworks.items()},
        "git": git_info(),
        "env_vars": speed_env_vars(),
        "fingerprint": machine_fingerprint(cpu, memory, gpu),
    }


def format_environment(env: dict[str, Any]) -> str:
    """A readable multi-line summary for ``python -m bench env``."""
    cpu, mem, gpu = env.get("cpu", {}), env.get("memory", {}), env.get("gpu", {})
    lines = [
        ("date", env.get("date")),
        ("python", f"{env['python']['version']} ({env['python']['executable']})"),
        ("platform", env.get("platform", {}).get("platform")),
        ("cpu", f"{cpu.get('model')} — {cpu.get('physical_cores')} physical / "
                f"{cpu.get('logical_cores')} logical cores"),
        ("memory", f"{mem.get('total_gib')} GiB"),
    ]
    gpus = gpu.get("gpus") or []
    if gpus:
        for g in gpus:
            mem_gib = (g.get("memory_total_bytes") or 0) / _GIB
            lines.append((f"gpu {g['index']}",
                          f"{g['name']} ({mem_gib:.1f} GiB, driver {gpu.get('driver')})"))
    else:
        lines.append(("gpu", f"none ({gpu.get('reason', 'no NVIDIA GPU')})"))
    for fw, f in env.get("frameworks", {}).items():
        if f["installed"]:
            extra = ", ".join(f"{k} {f[k]}" for k in ("cuda", "cudnn") if f.get(k))
            lines.append((fw, f"{f['version']}" + (f" ({extra})" if extra else "")))
        else:
            lines.append((fw, f"not available: {f.get('reason')}"))
    git = env.get("git", {})
    lines.append(("git", f"{git.get('commit')}" + (" (local changes)" if git.get("dirty") else "")))
    ev = env.get("env_vars") or {}
    lines.append(("env vars", ", ".join(f"{k}={v}" for k, v in ev.items()) or "(none set)"))
    lines.append(("fingerprint", env.get("fingerprint", {}).get("hash")))
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)
