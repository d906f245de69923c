"""Device roofline probe: achieved matmul FLOP/s per precision and copy bandwidth, once per run.

``python -m bench.host.roofline --device D --framework F`` measures with one source in this process and
prints ONE JSON line {"device", "framework", "peak_flops", "peak_flops_by_precision",
"bandwidth_bytes_s", ...}. A source is a framework package's ``roofline`` module
(``bench/frameworks/<name>/roofline.py``) or, on CPU, ``numpy`` (its BLAS, fp32 only).

``python -m bench.host.roofline --device D`` (no ``--framework``) measures with EVERY source, each in its
own process one after the other (``measure_peaks``), and keeps per precision the best one: a
device's peak is what the best library reaches on it, not what one framework's matmul happened to.
The answer names each precision's winner (``peak_sources``) and keeps every source's figures
(``sources``). ``peak_flops`` is the fp32 figure (TF32 as the run sets it); cells of another
precision use ``peak_flops_by_precision[precision]``: the ceiling of a mixed-precision step, the faster
of that precision's matmul and fp32's (a mixed step may run any op in fp32; on a CPU without AMX a bf16
matmul is slower than an fp32 one). The matmul figures themselves are ``matmul_flops_by_precision``.

Sizes: large enough for the BLAS to reach its steady rate (8192² on CUDA; 2048² on CPU, where a 512²
matmul reached only ~60% of it); the best of ``repeats`` timed runs (on CPU ten runs of one matmul:
on a shared machine the best of many short samples is the likeliest to be undisturbed). On CPU, bf16
is measured only where this CPU computes it natively (``bench.host.cpuinfo.cpu_supports_bf16``), the only
case where bf16 cells run. Measured, not datasheet numbers: a fraction of peak relative to what this
device really reaches.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bench.frameworks import frameworks, get_framework
from bench.frameworks.peak import best_rate
from bench.host.cpuinfo import cpu_supports_bf16
from bench.host.detect import ROOFLINE_TIMEOUT_S, run_roofline
from bench.lines import exception_line

DEFAULT_SIZES = {"cuda": 8192, "cpu": 2048}
DEFAULT_COPY_BYTES = {"cuda": 1 << 30, "cpu": 1 << 26}
DEFAULT_ITERS = {"cuda": 10, "cpu": 1}
# On CPU many short samples: the best of them is more likely to be one no other process disturbed.
DEFAULT_REPEATS = {"cuda": 3, "cpu": 10}
# The BLAS behind numpy: a framework-free CPU source (fp32 only; numpy has no bf16 matmul).
NUMPY_SOURCE = "numpy"
# A cell whose achieved FLOP/s is above its peak by more than this is flagged (the peak or the FLOP
# count is wrong, or the step skipped work): reconciled, never printed as a fraction above 1 unremarked.
PEAK_TOLERANCE = 1.0


def device_precisions(device: str) -> tuple[str, ...]:
    """The precisions whose matmul peak is measured on ``device``."""
    if device == "cuda":
        return ("fp32", "bf16", "fp16")
    return ("fp32", "bf16") if cpu_supports_bf16() else ("fp32",)


def roofline_frameworks() -> tuple[str, ...]:
    """Frameworks that can measure a roofline, preferred first."""
    ranked = sorted((d for d in frameworks() if d.roofline_priority is not None),
                    key=lambda d: d.roofline_priority or 0)
    return tuple(d.name for d in ranked)


def roofline_sources(device: str, candidates: Iterable[str] | None = None) -> tuple[str, ...]:
    """Every source that measures ``device``'s peak: the roofline frameworks among ``candidates``
    (default: all registered), preferred first, then numpy on CPU."""
    allowed = None if candidates is None else set(candidates)
    fws = tuple(f for f in roofline_frameworks() if allowed is None or f in allowed)
    return (*fws, NUMPY_SOURCE) if device == "cpu" else fws


def preferred_framework(candidates: Iterable[str] | None = None) -> str | None:
    """The preferred roofline framework among ``candidates`` (default: all registered); None if none."""
    allowed = None if candidates is None else set(candidates)
    return next((f for f in roofline_frameworks() if allowed is None or f in allowed), None)


def measure_numpy(device: str, size: int, copy_bytes: int, iters: int, repeats: int, tf32: bool,
                  precisions: Iterable[str] = ("fp32",)) -> dict[str, Any]:
    """numpy's BLAS: fp32 matmul FLOP/s and copy bandwidth (CPU only)."""
    import numpy as np

    if device != "cpu":
        raise RuntimeError("numpy measures the CPU only")

    def timer(fn: Callable[[], Any]) -> Callable[[], float]:
        def run() -> float:
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            return time.perf_counter() - t0
        return run

    rng = np.random.default_rng(0)
    by_precision: dict[str, float] = {}
    if "fp32" in precisions:
        a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
        out = np.empty((size, size), np.float32)
        run = timer(lambda: np.matmul(a, b, out=out))
        run()
        by_precision["fp32"] = best_rate(run, 2.0 * size**3 * iters, repeats)
    src = np.ones(copy_bytes // 4, np.float32)
    dst = np.empty_like(src)
    run = timer(lambda: np.copyto(dst, src))
    run()
    bandwidth = best_rate(run, 2.0 * src.nbytes * iters, repeats)
    return {"framework_version": np.__version__, "device_name": "cpu",
            "peak_flops_by_precision": by_precision, "bandwidth_bytes_s": bandwidth, "tf32": False,
            "timing": "host"}


def _source_measure(source: str) -> Callable[..., dict[str, Any]]:
    if source == NUMPY_SOURCE and source not in roofline_frameworks():
        return measure_numpy
    return get_framework(source).module("roofline").measure  # type: ignore[no-any-return]


def measure(device: str = "cuda", framework: str | None = None, size: int | None = None,
            copy_bytes: int | None = None, iters: int | None = None, repeats: int | None = None,
            tf32: bool = False, precisions: Iterable[str] | None = None) -> dict[str, Any]:
    """One source's roofline, in this process (``framework``: a roofline framework or "numpy")."""
    framework = framework or preferred_framework()
    if framework is None:
        raise RuntimeError("no registered framework measures a roofline")
    size = size or DEFAULT_SIZES[device]
    copy_bytes = copy_bytes or DEFAULT_COPY_BYTES[device]
    iters = iters or DEFAULT_ITERS[device]
    repeats = repeats or DEFAULT_REPEATS[device]
    wanted = tuple(precisions or device_precisions(device))
    out: dict[str, Any] = {"device": device, "framework": framework, "matmul_size": size,
                           "copy_bytes": copy_bytes, "iters": iters, "repeats": repeats}
    fn = _source_measure(framework)
    kwargs = {"precisions": wanted} if "precisions" in inspect.signature(fn).parameters else {}
    t0 = time.perf_counter()
    out.update(fn(device, size, copy_bytes, iters, repeats, tf32, **kwargs))
    out["seconds"] = round(time.perf_counter() - t0, 3)
    # A module that measures more precisions than asked keeps only those asked (bf16 on a CPU without
    # native bf16 is an emulation, not a peak any cell is held to).
    raw = {p: v for p, v in out.pop("peak_flops_by_precision").items() if p in wanted}
    out["matmul_flops_by_precision"] = raw
    out["peak_flops_by_precision"] = mixed_precision_ceilings(raw)
    out["peak_flops"] = raw["fp32"]
    return out


def mixed_precision_ceilings(matmul: Mapping[str, float]) -> dict[str, float]:
    """Each precision's ceiling from the matmul figures: fp32's own, a reduced precision's the faster of
    its matmul and fp32's (a mixed-precision step may run any op in fp32)."""
    fp32 = matmul.get("fp32")
    return {p: max(v, fp32) if fp32 and p != "fp32" else v for p, v in matmul.items()}


def above_peak(achieved_flops: float | None, peak_flops: float | None,
               tolerance: float = PEAK_TOLERANCE) -> str | None:
    """A one-line warning when a cell's achieved FLOP/s exceeds its device's measured peak (None when
    it does not, or either is unknown): a fraction of peak above 1 is a bug to explain (a FLOP count
    too high, a step skipping work, a peak measured too low), never a figure to print as is."""
    if not achieved_flops or not peak_flops or achieved_flops <= peak_flops * tolerance:
        return None
    return (f"achieved {achieved_flops / 1e9:.0f} GFLOP/s is {achieved_flops / peak_flops:.2f}x the measured "
            f"peak ({peak_flops / 1e9:.0f} GFLOP/s): the FLOP count or the peak is wrong")


# --------------------------------------------------------------------------- best of every source


def measure_peaks(device: str, candidates: Iterable[str], pythons: Mapping[str, str] | None = None,
                  tf32: bool = False, timeout_s: float = ROOFLINE_TIMEOUT_S,
                  options: Sequence[str] = ()) -> dict[str, Any]:
    """The device's peak per precision: the best of every source (``roofline_sources``), each
    measured in its own process (a framework in its interpreter from ``pythons``), one after the
    other so that none competes for the cores. Never raises: a source that fails is recorded in
    ``sources`` and the others decide; {"peak_flops": None, "error": ...} when all fail."""
    pythons = pythons or {}
    answers: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for source in roofline_sources(device, candidates):
        answers[source] = run_roofline(device, source, python=pythons.get(source), timeout_s=timeout_s,
                                       tf32=tf32, options=options)
    out = merge_peaks(device, answers)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def _rates(answer: Mapping[str, Any]) -> dict[str, float]:
    peaks = answer.get("matmul_flops_by_precision") or answer.get("peak_flops_by_precision")
    if not isinstance(peaks, Mapping):
        peaks = {"fp32": answer.get("peak_flops")}
    return {p: float(v) for p, v in peaks.items() if isinstance(v, (int, float)) and v > 0}


# What the merged answer keeps of each source's.
SOURCE_KEYS = ("framework_version", "device_name", "matmul_flops_by_precision", "bandwidth_bytes_s",
               "matmul_size", "iters", "repeats", "seconds", "timing", "error")


def merge_peaks(device: str, answers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One roofline answer from several sources' (``answers`` in preference order; a tie keeps the
    preferred one): per precision the highest FLOP/s and its source, the highest bandwidth; the
    fp32 winner's answer gives ``framework``, ``tf32``, ``matmul_size`` and ``timing``."""
    best: dict[str, float] = {}
    winner: dict[str, str] = {}
    for source, answer in answers.items():
        for precision, rate in _rates(answer).items():
            if rate > best.get(precision, 0.0):
                best[precision], winner[precision] = rate, source
    bandwidths = {s: a.get("bandwidth_bytes_s") for s, a in answers.items()
                  if isinstance(a.get("bandwidth_bytes_s"), (int, float))}
    bw_source = max(bandwidths, key=lambda s: bandwidths[s], default=None)
    fp32_source = winner.get("fp32")
    top = answers.get(fp32_source, {}) if fp32_source else {}
    out: dict[str, Any] = {
        "device": device, "framework": fp32_source, "peak_flops": best.get("fp32"),
        "peak_flops_by_precision": mixed_precision_ceilings(best) or None,
        "matmul_flops_by_precision": dict(best) or None, "peak_sources": winner,
        "bandwidth_bytes_s": bandwidths.get(bw_source) if bw_source else None, "bandwidth_source": bw_source,
        "tf32": top.get("tf32"), "matmul_size": top.get("matmul_size"), "timing": top.get("timing"),
        "method": "best of sources per precision, each in its own process",
        "sources": {s: {k: a[k] for k in SOURCE_KEYS if a.get(k) is not None} for s, a in answers.items()},
    }
    if fp32_source is None:
        failures = "; ".join(f"{s}: {a.get('error') or 'no fp32 peak'}" for s, a in answers.items())
        out["error"] = failures or f"no source measures the {device} roofline"
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.host.roofline", description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--framework", choices=(*roofline_frameworks(), NUMPY_SOURCE), default=None,
                   help="measure with this source only, in this process (default: the best of every "
                        "source, each in its own process)")
    p.add_argument("--size", type=int, default=None, help="square matmul size (default: 8192 cuda, 2048 cpu)")
    p.add_argument("--copy-bytes", type=int, default=None, help="bytes copied for the bandwidth")
    p.add_argument("--iters", type=int, default=None, help="matmuls per timed run (default: 10 cuda, 1 cpu)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs, the best kept (default: 3 cuda, 10 cpu)")
    p.add_argument("--tf32", action="store_true", help="allow TF32 for the fp32 matmul (as the run's tf32)")
    args = p.parse_args(argv)
    try:
        if args.framework is None:  # parent side: one process per source
            options = [f"--{k.replace('_', '-')}={v}" for k, v in
                       (("size", args.size), ("copy_bytes", args.copy_bytes), ("iters", args.iters),
                        ("repeats", args.repeats)) if v is not None]
            out = measure_peaks(args.device, roofline_frameworks(), tf32=args.tf32, options=options)
            print(json.dumps(out))
            return 0 if out.get("peak_flops") is not None else 1
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
