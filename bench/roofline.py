"""Device roofline probe: achieved matmul FLOP/s and copy bandwidth, once per run.

``python -m bench.roofline --device cuda [--framework F] [--tf32]`` prints ONE JSON line
{"device", "framework", "peak_flops", "peak_flops_by_precision", "bandwidth_bytes_s", ...}.
``peak_flops`` is the fp32 matmul figure (TF32 as the run sets it); cells of another precision use
``peak_flops_by_precision[precision]``. The measurement itself is the framework package's
``roofline`` module (``bench/frameworks/<name>/roofline.py``); ``--framework`` defaults to the
framework whose timing is the most precise (``preferred_framework``). On CPU small sizes are used so
that it also runs in tests. Measured, not datasheet numbers: a fraction of peak relative to what this
device really reaches.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

from .frameworks import frameworks, get_framework
from .lines import exception_line

DEFAULT_SIZES = {"cuda": 8192, "cpu": 512}
DEFAULT_COPY_BYTES = {"cuda": 1 << 30, "cpu": 1 << 24}


def best_rate(timed_fn: Callable[[], float], work: float, repeats: int) -> float:
    """Work per second of the fastest of ``repeats`` runs (the least disturbed one)."""
    return max(work / max(timed_fn(), 1e-12) for _ in range(repeats))


def roofline_frameworks() -> tuple[str, ...]:
    """Frameworks that can measure a roofline, preferred first."""
    ranked = sorted((d for d in frameworks() if d.roofline_priority is not None),
                    key=lambda d: d.roofline_priority or 0)
    return tuple(d.name for d in ranked)


def preferred_framework(candidates: Iterable[str] | None = None) -> str | None:
    """The preferred roofline framework among ``candidates`` (default: all registered); None if none."""
    allowed = None if candidates is None else set(candidates)
    return next((f for f in roofline_frameworks() if allowed is None or f in allowed), None)


def measure(device: str = "cuda", framework: str | None = None, size: int | None = None,
            copy_bytes: int | None = None, iters: int = 10, repeats: int = 3,
            tf32: bool = False) -> dict[str, Any]:
    framework = framework or preferred_framework()
    if framework is None:
        raise RuntimeError("no registered framework measures a roofline")
    size = size or DEFAULT_SIZES[device]
    copy_bytes = copy_bytes or DEFAULT_COPY_BYTES[device]
    out: dict[str, Any] = {"device": device, "framework": framework, "matmul_size": size,
                           "copy_bytes": copy_bytes, "iters": iters}
    out.update(get_framework(framework).module("roofline").measure(device, size, copy_bytes, iters,
                                                                  repeats, tf32))
    out["peak_flops"] = out["peak_flops_by_precision"]["fp32"]
    return out


def main(argv: list[str] | None = None) -> int:
    choices = roofline_frameworks()
    p = argparse.ArgumentParser(prog="python -m bench.roofline", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--framework", choices=choices, default=choices[0] if choices else None)
    p.add_argument("--size", type=int, default=None, help="square matmul size (default: 8192 cuda, 512 cpu)")
    p.add_argument("--copy-bytes", type=int, default=None, help="bytes copied device to device")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tf32", action="store_true", help="allow TF32 for the fp32 matmul (as the run's tf32)")
    args = p.parse_args(argv)
    try:
        out = measure(args.device, args.framework, args.size, args.copy_bytes, args.iters, args.repeats,
                      args.tf32)
    except Exception as e:  # one line, never a bare traceback
        out = {"device": args.device, "framework": args.framework, "peak_flops": None,
               "bandwidth_bytes_s": None, "error": exception_line(e)}
        print(json.dumps(out))
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
