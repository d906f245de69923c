"""A machine's roofline peak, pinned: measured once as the best of several probes, kept with the
machine's fingerprint and reused by every later run on it, so that fraction of peak does not move
with the luck of one probe (two unchanged runs re-measured it as 331.8 and 267.8 GFLOP/s).

Kept in ``<machines_dir>/<fingerprint>/roofline-<device>.json`` (``reports/machines/`` for runs in the
default place, beside ``reports/baselines/``; ``-tf32`` is added to the name when TF32 was allowed: a
CUDA fp32 peak with TF32 is another figure). The file is the merged roofline answer
(``bench.host.roofline.merge_peaks``) of every probe, per precision the best, with a ``pinned`` block:
the fingerprint, the number of probes, when they ran and each probe's figures. A run copies the
answer it used into its own roofline file, with ``pinned.reused`` saying whether it was read or
measured now, so that its report stays a function of the run alone. ``--reprobe-peak`` measures
the probes again and replaces the stored file.

A stored file is untrusted input: one that does not validate, names another fingerprint, device or
TF32 setting, or holds no fp32 peak is ignored (re-probed and replaced), never a crash.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.clock import utc_now_iso
from bench.errors import BenchError
from bench.host.roofline import mixed_precision_ceilings

# Probes behind a pinned peak: the best of them is the likeliest to be one no other process disturbed.
PINNED_PROBES = 3
MACHINES_SUBDIR = "machines"
PINNED_METHOD = "best of {n} probes per precision (each the best of sources, each source in its own process)"

Measure = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class PeakPinning:
    """Where a run's device peaks are pinned, and whether to measure them again."""

    machines_dir: Path
    fingerprint: str
    reprobe: bool = False
    probes: int = PINNED_PROBES


def pinned_path(machines_dir: Path, fingerprint: str, device: str, tf32: bool = False) -> Path:
    """The pinned peak of ``device`` on the machine ``fingerprint``."""
    return Path(machines_dir) / fingerprint / f"roofline-{device}{'-tf32' if tf32 else ''}.json"


def _rates(answer: Mapping[str, Any], key: str) -> dict[str, float]:
    v = answer.get(key)
    if not isinstance(v, Mapping):
        return {}
    return {str(p): float(x) for p, x in v.items() if isinstance(x, (int, float)) and x > 0}


def best_of_probes(device: str, answers: list[dict[str, Any]]) -> dict[str, Any]:
    """One roofline answer from several probes of the same device: per precision the highest matmul
    figure (and its mixed-precision ceiling), the highest bandwidth; the other fields from the probe
    that gave the best fp32 figure. {"peak_flops": None, "error"} when no probe measured fp32."""
    best: dict[str, float] = {}
    top: dict[str, Any] = {}
    for a in answers:
        rates = _rates(a, "matmul_flops_by_precision") or _rates(a, "peak_flops_by_precision")
        for precision, rate in rates.items():
            if rate > best.get(precision, 0.0):
                best[precision] = rate
                if precision == "fp32":
                    top = a
    bandwidths = [float(a["bandwidth_bytes_s"]) for a in answers
                  if isinstance(a.get("bandwidth_bytes_s"), (int, float))]
    out = {k: v for k, v in top.items() if k not in ("seconds", "error")}
    out.update({
        "device": device, "peak_flops": best.get("fp32"),
        "peak_flops_by_precision": mixed_precision_ceilings(best) or None,
        "matmul_flops_by_precision": dict(best) or None,
        "bandwidth_bytes_s": max(bandwidths) if bandwidths else None,
        "method": PINNED_METHOD.format(n=len(answers)),
    })
    if "fp32" not in best:
        out["error"] = "; ".join(str(a.get("error") or "no fp32 peak") for a in answers) or "no probe ran"
    return out


def _probe_summary(answer: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("peak_flops", "matmul_flops_by_precision", "bandwidth_bytes_s", "peak_sources", "seconds",
            "error")
    return {k: answer[k] for k in keep if answer.get(k) is not None}


def read_pinned(path: Path, fingerprint: str, device: str, tf32: bool) -> dict[str, Any] | None:
    """The stored pinned peak, or None when there is none or it cannot be trusted for this machine."""
    from bench.results.load import read_json
    from bench.results.schema import validate_roofline

    if not path.is_file():
        return None
    try:
        data = validate_roofline(read_json(path, "pinned roofline file"), path)
    except (BenchError, OSError, ValueError):
        return None
    pin = data.get("pinned")
    if (not isinstance(pin, dict) or pin.get("fingerprint") != fingerprint or data.get("device") != device
            or bool(pin.get("tf32")) != tf32 or not isinstance(data.get("peak_flops"), (int, float))):
        return None
    return dict(data)


def write_pinned(path: Path, roof: dict[str, Any]) -> None:
    """Write the pinned file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(roof, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def pinned_roofline(device: str, pinning: PeakPinning, measure: Measure, *, tf32: bool = False,
                    now: Callable[[], str] | None = None,
                    say: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """The machine's pinned peak for ``device``: read from its file unless ``pinning.reprobe`` (or it is
    missing or unusable), else measured as the best of ``pinning.probes`` calls of ``measure`` and
    stored. The answer carries ``pinned`` (fingerprint, probes, probed_at, path, reused)."""
    path = pinned_path(pinning.machines_dir, pinning.fingerprint, device, tf32)
    stored = None if pinning.reprobe else read_pinned(path, pinning.fingerprint, device, tf32)
    if stored is not None:
        say(f"{device.upper()} peak: pinned for machine {pinning.fingerprint} ({path}); "
            "--reprobe-peak measures it again")
        stored["pinned"] = {**stored["pinned"], "reused": True}
        return stored
    n = max(1, pinning.probes)
    say(f"measuring the {device.upper()} device's peak (roofline): best of {n} probes, pinned for machine "
        f"{pinning.fingerprint} in {path} ...")
    answers = [measure() for _ in range(n)]
    roof = best_of_probes(device, answers)
    if roof.get("peak_flops") is None:
        return roof  # nothing worth pinning: the run records the failure, the next run probes again
    roof["pinned"] = {"fingerprint": pinning.fingerprint, "device": device, "tf32": tf32, "probes": n,
                      "probed_at": now() if now else utc_now_iso("seconds"), "path": str(path),
                      "each_probe": [_probe_summary(a) for a in answers]}
    try:
        write_pinned(path, {**roof, "pinned": {**roof["pinned"]}})
    except OSError as e:  # the run goes on with the peak it measured; the next one probes again
        say(f"warning: cannot pin the {device} peak in {path}: {e.strerror or e}")
    roof["pinned"]["reused"] = False
    return roof


def default_machines_dir(runs_root: Path) -> Path:
    """Where a run in ``runs_root`` pins its peaks: ``machines/`` beside ``runs/``."""
    return Path(runs_root).parent / MACHINES_SUBDIR
