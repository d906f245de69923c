"""The CPU's instruction sets that decide speed, and its identity (no framework import).

``isa_flags()`` is the sorted tuple of speed-deciding ISA extensions this CPU advertises (Linux:
/proc/cpuinfo; macOS: sysctl; elsewhere empty): the vector and matrix units a framework's kernels
pick from (avx, avx2, fma, f16c, every avx512*, avx_vnni, amx_*; on Arm asimd, sve, bf16, i8mm...).
``cpu_supports_bf16()`` says whether bf16 matmuls run natively (AVX-512-BF16 or AMX-BF16), which
decides whether bf16 CPU cells are worth running. ``cpu_identity()`` is vendor, family, model,
stepping and model name: two CPUs of the same name can differ in these (and in their flags, e.g. a VM
that hides AMX), and so in speed.

Each function takes the text of /proc/cpuinfo for tests; by default it reads this machine's once.
"""

from __future__ import annotations

import functools
import platform
from typing import Any

CPUINFO = "/proc/cpuinfo"

# Flags named exactly (x86 and Arm) and by prefix (x86 vector/matrix units) that decide kernel speed.
SPEED_FLAGS = frozenset({
    "fma", "f16c", "avx", "avx2",
    # Arm (the "Features" line of /proc/cpuinfo)
    "asimd", "asimdhp", "asimddp", "asimdfhm", "fphp", "sve", "sve2", "svebf16", "svei8mm", "bf16",
    "i8mm", "sme", "sme2",
})
SPEED_PREFIXES = ("avx512", "avx_", "amx")
# Native bf16 arithmetic (the contract: AVX-512-BF16 or AMX-BF16).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

# macOS (x86) names in `sysctl machdep.cpu.features/leaf7_features` -> /proc/cpuinfo names.
_MACOS_NAMES = {"avx1.0": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c", "avx512f": "avx512f",
                "avx512dq": "avx512dq", "avx512bw": "avx512bw", "avx512vl": "avx512vl",
                "avx512cd": "avx512cd", "avx512ifma": "avx512ifma", "avx512vbmi": "avx512vbmi",
                "avx512vnni": "avx512_vnni"}


def is_speed_flag(flag: str) -> bool:
    return flag in SPEED_FLAGS or flag.startswith(SPEED_PREFIXES)


@functools.lru_cache(maxsize=1)
def _this_cpuinfo() -> str:
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _first_block(text: str) -> dict[str, str]:
    """The key: value pairs of the first processor's block (all processors of a host share them)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if out:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _sysctl(key: str) -> str:
    import subprocess  # macOS only: importing this module (the matrix does) starts no process machinery

    try:
        p = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return p.stdout.strip() if p.returncode == 0 else ""


def _macos_flags() -> tuple[str, ...]:
    words = f"{_sysctl('machdep.cpu.features')} {_sysctl('machdep.cpu.leaf7_features')}".split()
    names = {_MACOS_NAMES.get(w.lower()) for w in words}
    names |= {name for name in ("bf16", "i8mm") if _sysctl(f"hw.optional.arm.FEAT_{name.upper()}") == "1"}
    return tuple(sorted(n for n in names if n))


def isa_flags(cpuinfo_text: str | None = None) -> tuple[str, ...]:
    """The speed-deciding ISA flags of this CPU, sorted; () where nothing can be known."""
    if cpuinfo_text is None and platform.system() == "Darwin":
        return _macos_flags()
    block = _first_block(_this_cpuinfo() if cpuinfo_text is None else cpuinfo_text)
    words = (block.get("flags") or block.get("features") or "").split()
    return tuple(sorted({w.lower() for w in words if is_speed_flag(w.lower())}))


def cpu_supports_bf16(cpuinfo_text: str | None = None) -> bool:
    """Whether bf16 matmuls run natively here (avx512_bf16 or amx_bf16)."""
    return bool(BF16_FLAGS & set(isa_flags(cpuinfo_text)))


def _int(v: str | None) -> int | str | None:
    if v is None:
        return None
    try:
        return int(v, 0)
    except ValueError:
        return v


def cpu_identity(cpuinfo_text: str | None = None) -> dict[str, Any]:
    """{"vendor", "family", "model", "stepping", "model_name"} (None where unknown). On Arm, family and
    model are the implementer and part numbers."""
    block = _first_block(_this_cpuinfo() if cpuinfo_text is None else cpuinfo_text)
    name = block.get("model name") or block.get("hardware") or block.get("cpu model")
    if not block and cpuinfo_text is None:
        name = platform.processor() or None
    return {
        "vendor": block.get("vendor_id") or block.get("cpu implementer"),
        "family": _int(block.get("cpu family") or block.get("cpu architecture")),
        "model": _int(block.get("model") if block.get("model", "").isdigit() else block.get("cpu part")),
        "stepping": _int(block.get("stepping") or block.get("cpu variant")),
        "model_name": name,
    }


def cpu_summary() -> dict[str, Any]:
    """What environment.json records of the ISA: {"isa_flags": [...], "supports_bf16", "identity"}."""
    isa = isa_flags()
    return {"isa_flags": list(isa), "supports_bf16": bool(BF16_FLAGS & set(isa)),
            "identity": cpu_identity()}


if __name__ == "__main__":  # python -m bench.host.cpuinfo
    import json

    print(json.dumps(cpu_summary(), indent=2))
