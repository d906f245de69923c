"""What the machine and software were: recorded with every run so that numbers can be trusted and compared.

Framework-free: framework versions come from the per-framework probes (run in their own processes),
the hardware and its fingerprint from bench.host.machine, and the environment variables worth recording
from the framework descriptors (``speed_env_vars``/``speed_env_prefixes``) plus the generic ones here.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.clock import utc_now_iso
from bench.frameworks.registry import frameworks
from bench.host.machine import GIB, cuda_available, gpu_info, this_machine
from bench.host.processes import PROJECT_ROOT

# Environment variables that change speed or numerics whatever the framework: threading, CUDA
# device selection, preloaded allocators. Each framework's descriptor adds its own.
GENERIC_SPEED_ENV_VARS: tuple[str, ...] = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES", "CUDA_LAUNCH_BLOCKING", "LD_PRELOAD",
)
GENERIC_SPEED_ENV_PREFIXES: tuple[str, ...] = ("KMP_", "OMP_", "MKL_")


def git_info(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """Commit of the project checkout, whether it had local changes and, when it had, the SHA-256 of
    its uncommitted diff (``git diff HEAD --binary``: two runs of the same dirty tree share it, so a
    reader can tell them from runs of other changes); None outside git."""
    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    dirty = bool(status) if status is not None else None
    return {"commit": commit, "dirty": dirty, "diff_sha256": _diff_sha256(root) if dirty else None}


def _diff_sha256(root: Path) -> str | None:
    try:
        p = subprocess.run(["git", "-C", str(root), "diff", "HEAD", "--binary"], capture_output=True,
                           timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return hashlib.sha256(p.stdout).hexdigest() if p.returncode == 0 else None


def speed_env_names() -> tuple[frozenset[str], tuple[str, ...]]:
    """(names, prefixes) of the environment variables worth recording: generic ones and each framework's."""
    names = set(GENERIC_SPEED_ENV_VARS)
    prefixes = list(GENERIC_SPEED_ENV_PREFIXES)
    for d in frameworks():
        names.update(d.speed_env_vars)
        prefixes += [p for p in d.speed_env_prefixes if p not in prefixes]
    return frozenset(names), tuple(prefixes)


def speed_env_vars(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The speed-relevant environment variables that are set, by name."""
    environ = dict(os.environ if environ is None else environ)
    names, prefixes = speed_env_names()
    return {k: v for k, v in sorted(environ.items()) if k in names or k.startswith(prefixes)}


def _framework_summary(probes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for fw, p in sorted(probes.items()):
        out[fw] = {
            "installed": bool(p.get("installed")),
            "version": p.get("version"),
            "cuda_available": cuda_available(p),
            "cuda_build": p.get("cuda_build"),
            # Version strings when the probe reports them ("cuda" itself is availability, a bool).
            "cuda": p.get("cuda_version"),
            "cudnn": p.get("cudnn_version"),
            "devices": p.get("devices"),
            "reason": p.get("reason"),
            "python": p.get("python_executable"),
            "probe": p,  # the whole probe output, whatever extra it reports
        }
    return out


def gpus_with_sm_counts(gpu: dict[str, Any], probes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """NVML's GPUs, each missing SM count taken from a framework probe's device of the same name and
    index (CUDA_VISIBLE_DEVICES renumbers devices: a name that does not match is left unknown)."""
    props = next((p["device_properties"] for p in probes.values()
                  if isinstance(p.get("device_properties"), list) and p["device_properties"]), [])
    gpus = []
    for g in gpu.get("gpus", []):
        g = dict(g)
        i = g.get("index")
        if g.get("sm_count") is None and isinstance(i, int) and i < len(props) \
                and isinstance(props[i], dict) and props[i].get("name") == g.get("name"):
            g["sm_count"] = props[i].get("sm_count")
        gpus.append(g)
    return {**gpu, "gpus": gpus}


def collect_environment(frameworks_probe_results: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything recorded in <run_dir>/environment.json. Never raises for a missing component."""
    probes = frameworks_probe_results or {}
    machine = this_machine(gpus_with_sm_counts(gpu_info(), probes))
    summary = _framework_summary(probes)
    return {
        "schema": 1,
        "date": utc_now_iso("seconds"),
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
        "cpu": machine["cpu"],
        "memory": machine["memory"],
        "gpu": machine["gpu"],
        "frameworks": summary,
        # Flat copies of what reports quote most often.
        "framework_versions": {fw: f["version"] for fw, f in summary.items()},
        "cuda_versions": {fw: f["cuda"] for fw, f in summary.items()},
        "cudnn_versions": {fw: f["cudnn"] for fw, f in summary.items()},
        "git": git_info(),
        "env_vars": speed_env_vars(),
        "fingerprint": machine["fingerprint"],
    }


def _cpu_identity_line(ident: Any) -> str:
    if not isinstance(ident, dict) or not any(ident.values()):
        return "(unknown)"
    return (f"{ident.get('vendor')} family {ident.get('family')} model {ident.get('model')} "
            f"stepping {ident.get('stepping')}")


def format_environment(env: dict[str, Any]) -> str:
    """A readable multi-line summary for ``python -m bench env``."""
    cpu, mem, gpu = env.get("cpu", {}), env.get("memory", {}), env.get("gpu", {})
    lines = [
        ("date", env.get("date")),
        ("python", f"{env['python']['version']} ({env['python']['executable']})"),
        ("platform", env.get("platform", {}).get("platform")),
        ("cpu", f"{cpu.get('model')} — {cpu.get('physical_cores')} physical / "
                f"{cpu.get('logical_cores')} logical cores"),
        ("cpu id", _cpu_identity_line(cpu.get("identity"))),
        ("cpu isa", " ".join(cpu.get("isa_flags") or []) or "(unknown)"),
        ("cpu bf16", {True: "native (avx512_bf16 or amx_bf16)", False: "not native"}.get(
            cpu.get("supports_bf16"), "unknown")),
        ("memory", f"{mem.get('total_gib')} GiB"),
    ]
    gpus = gpu.get("gpus") or []
    if gpus:
        for g in gpus:
            mem_gib = (g.get("memory_total_bytes") or 0) / GIB
            lines.append((f"gpu {g['index']}",
                          f"{g['name']} ({mem_gib:.1f} GiB, {g.get('sm_count') or '?'} SMs, "
                          f"compute capability {g.get('compute_capability') or '?'}, "
                          f"driver {gpu.get('driver')})"))
    else:
        lines.append(("gpu", f"none ({gpu.get('reason', 'no NVIDIA GPU')})"))
    for fw, f in env.get("frameworks", {}).items():
        if f["installed"]:
            extra = ", ".join(f"{k} {f[k]}" for k in ("cuda", "cudnn") if f.get(k))
            lines.append((fw, f"{f['version']}" + (f" ({extra})" if extra else "")))
        else:
            lines.append((fw, f"not available: {f.get('reason')}"))
    git = env.get("git", {})
    diff = f" (local changes, diff sha256 {str(git.get('diff_sha256'))[:12]})" if git.get("dirty") else ""
    lines.append(("git", f"{git.get('commit')}{diff}"))
    ev = env.get("env_vars") or {}
    lines.append(("env vars", ", ".join(f"{k}={v}" for k, v in ev.items()) or "(none set)"))
    fp = env.get("fingerprint", {})
    hashed = ", ".join(k for k in fp.get("fields", {}) if k != "version")
    lines.append(("fingerprint", f"{fp.get('hash')} (of {hashed})"))
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)
