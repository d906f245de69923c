"""The matrix: which cells this machine runs, and which it records as skipped (with the reason).

Frameworks are probed in subprocesses (``<python> -m bench.probe <framework>``), once per
interpreter, so the parent never imports a framework and a broken install becomes a skip reason
instead of a crash. Building the matrix from probe results is a pure function (``build_matrix``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from models.spec import MODEL_NAMES, get_spec

from .errors import BenchError, UnknownChoice
from .launcher import child_env, last_json_line, module_for
from .profiles import Profile
from .records import Cell
from .vocab import (
    COMPILED_MODES,
    CUDA_ONLY_MODES,
    DEVICES,
    FRAMEWORKS,
    MODES,
    VARIANTS,
    check_device,
    check_framework,
    check_model,
    check_precision,
)

PROBE_TIMEOUT_S = 180.0  # a cold TF import on a busy 2-core machine can take tens of seconds


# --------------------------------------------------------------------------- probing


def _failed_probe(framework: str, reason: str) -> dict[str, Any]:
    return {"framework": framework, "installed": False, "version": None, "cuda": None, "devices": [],
            "reason": reason}




def _last_meaningful_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        s = line.strip()
        if s and set(s) - set("^~-= "):
            return s[:300]
    return "no output"


def probe_frameworks(frameworks: Iterable[str], pythons: dict[str, str] | None = None,
                     timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, dict[str, Any]]:
    """framework → probe result; the probes run in parallel, each in its framework's interpreter."""
    pythons = pythons or {}
    procs: dict[str, tuple[subprocess.Popen[str], str]] = {}
    results: dict[str, dict[str, Any]] = {}
    for fw in frameworks:
        python = pythons.get(fw, sys.executable)
        try:
            procs[fw] = (subprocess.Popen(
                [python, "-m", module_for("probe"), fw], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env=child_env(), start_new_session=True), python)
        except OSError as e:
            results[fw] = _failed_probe(fw, f"cannot start {python}: {e.strerror or e}")
    deadline = time.monotonic() + timeout_s
    for fw, (p, python) in procs.items():
        try:
            out, err = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(p)
            p.communicate()
            results[fw] = _failed_probe(fw, f"{fw} probe timed out after {timeout_s:.0f} s")
            continue
        except BaseException:  # Ctrl-C: leave no probe behind
            for q, _ in procs.values():
                _kill_group(q)
            raise
        d = last_json_line(out)
        if d is None:
            results[fw] = _failed_probe(fw, f"{fw} probe failed: {_last_meaningful_line(err)}")
        else:
            d.setdefault("framework", fw)
            d.setdefault("installed", False)
            if not d["installed"] and not d.get("reason"):
                d["reason"] = f"{fw} not installed"
            results[fw] = d
        results[fw]["python_executable"] = python
    return {fw: results[fw] for fw in frameworks if fw in results}


def _kill_group(p: subprocess.Popen[Any]) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(p.pid, signal.SIGKILL)


def cuda_available(probe: dict[str, Any]) -> bool:
    """Whether a probe saw a usable CUDA device (not merely a CUDA build)."""
    if not probe.get("installed"):
        return False
    if "cuda_available" in probe:
        return bool(probe["cuda_available"])
    if isinstance(probe.get("cuda"), bool):  # bench.probe: "cuda" true/false, "devices" = GPU names
        return probe["cuda"]
    devices = probe.get("devices")  # older/other probes: device strings such as "cuda:0"
    return isinstance(devices, list) and any(
        "cuda" in str(d).lower() or "gpu" in str(d).lower() for d in devices)


def tf_onednn_default_on(probe: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> bool:
    """Whether TensorFlow runs with oneDNN on this machine when left alone."""
    for key in ("onednn_default", "onednn_enabled", "onednn"):
        if probe and isinstance(probe.get(key), bool):
            return probe[key]
    v = (os.environ if environ is None else environ).get("TF_ENABLE_ONEDNN_OPTS")
    if v is not None:
        return v.strip().lower() in ("1", "true", "yes", "on")
    # TensorFlow ≥ 2.9 enables oneDNN by default in its Linux x86-64 builds.
    return platform.system() == "Linux" and platform.machine().lower() in ("x86_64", "amd64")


def opposite_onednn_variant(probe: dict[str, Any] | None = None) -> str:
    return "onednn-off" if tf_onednn_default_on(probe) else "onednn-on"


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """What the user asked for; None = the profile's default choice."""

    models: tuple[str, ...] | None = None
    frameworks: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    batch_size: int = 0

    def validate(self) -> Filters:
        """Check every name; raises UnknownChoice (one line listing the valid choices)."""
        for m in self.models or ():
            check_model(m)
        for f in self.frameworks or ():
            check_framework(f)
        fws = self.frameworks or FRAMEWORKS
        all_modes = tuple(dict.fromkeys(m for fw in fws for m in MODES[fw]))
        for m in self.modes or ():
            if m not in all_modes:
                raise UnknownChoice("mode", m, all_modes)
        for d in self.devices or ():
            check_device(d)
        for p in self.precisions or ():
            check_precision(p)
        all_variants = tuple(dict.fromkeys(v for fw in fws for v in VARIANTS[fw]))
        for v in self.variants or ():
            if v not in all_variants:
                raise UnknownChoice("variant", v, all_variants)
        if self.batch_size < 0:
            raise BenchError(f"--batch-size must not be negative (got {self.batch_size})")
        return self

    def matches(self, cell: Cell) -> bool:
        return all((
            self.models is None or cell.model in self.models,
            self.frameworks is None or cell.framework in self.frameworks,
            self.modes is None or cell.mode in self.modes,
            self.devices is None or cell.device in self.devices,
            self.precisions is None or cell.precision in self.precisions,
            self.variants is None or cell.variant in self.variants,
            self.batch_size == 0 or cell.batch_size == self.batch_size,
        ))


def split_list(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """argparse values as given ("a,b c") → ("a", "b", "c"); None/["all"] → None (no filter)."""
    if not values:
        return None
    items = tuple(dict.fromkeys(v.strip() for chunk in values for v in chunk.split(",") if v.strip()))
    return None if not items or items == ("all",) else items


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    skip_reason: str | None = None  # None: runnable

    @property
    def runnable(self) -> bool:
        return self.skip_reason is None


def _variant_reason(framework: str, mode: str, device: str, variant: str) -> str | None:
    if variant.startswith("onednn") and device != "cpu":
        return "oneDNN variants apply to CPU only"
    if variant == "warm-cache" and (framework, mode) not in COMPILED_MODES:
        return "warm-cache applies to compiled modes only"
    return None


def build_matrix(profile: Profile, probes: dict[str, dict[str, Any]], filters: Filters) -> list[PlannedCell]:
    """Every cell of the (filtered) matrix, runnable or skipped with a reason. Pure: no I/O.

    Default choices (where a filter is None): both models; both frameworks; every mode; cpu, and
    cuda (skipped "no CUDA device" when no probe saw one); fp32 on cpu and the profile's CUDA
    precisions on cuda; the "default" variant plus the profile's extras (TensorFlow with oneDNN
    flipped from this machine's default, for the profile's modes, on CPU; torch channels-last on
    CUDA and warm-cache for compiled modes in the full profile).
    """
    planned: dict[str, PlannedCell] = {}
    any_cuda = any(cuda_available(p) for p in probes.values())

    def add(cell: Cell, reason: str | None) -> None:
        planned.setdefault(cell.cell_id, PlannedCell(cell, reason))

    for model in filters.models or MODEL_NAMES:
        batch = filters.batch_size or get_spec(model).batch_size
        for fw in filters.frameworks or FRAMEWORKS:
            probe = probes.get(fw) or _failed_probe(fw, f"{fw} was not probed")
            fw_reason = None if probe.get("installed") else (probe.get("reason") or f"{fw} not installed")
            for mode in MODES[fw]:
                if filters.modes is not None and mode not in filters.modes:
                    continue
                for device in filters.devices or DEVICES:
                    if fw_reason:
                        reason = fw_reason
                    elif device == "cuda" and not cuda_available(probe):
                        if any_cuda:
                            reason = f"{fw} sees no CUDA device"
                        else:
                            probe_reason = str(probe.get("reason") or "")
                            reason = probe_reason if probe_reason.startswith("no CUDA") else "no CUDA device"
                    elif device == "cpu" and (fw, mode) in CUDA_ONLY_MODES:
                        reason = "needs CUDA"
                    else:
                        reason = None
                    if filters.precisions is not None:
                        precisions: tuple[str, ...] = filters.precisions
                    else:
                        precisions = profile.cuda_precisions if device == "cuda" else ("fp32",)
                    if filters.variants is not None:
                        variants = tuple(v for v in filters.variants if v in VARIANTS[fw])
                    elif reason is not None:
                        variants = ("default",)  # one skipped cell says it; no need to multiply it
                    else:
                        extra: list[str] = []
                        if (fw == "tensorflow" and device == "cpu"
                                and mode in profile.tf_opposite_onednn_modes):
                            extra.append(opposite_onednn_variant(probe))
                        if fw == "torch":
                            for v in profile.torch_extra_variants:
                                if _variant_reason(fw, mode, device, v) is None and not (
                                        v == "channels-last" and device != "cuda"):
                                    extra.append(v)
                        variants = ("default", *extra)
                    for precision in precisions:
                        for variant in variants:
                            cell = Cell(model=model, framework=fw, mode=mode, device=device,
                                        precision=precision, batch_size=batch, variant=variant)
                            add(cell, reason or _variant_reason(fw, mode, device, variant))
    cells = list(planned.values())
    if not cells:
        raise BenchError("no cell matches the filters (check --models/--frameworks/--modes/--variants)")
    return cells


def frameworks_needed(filters: Filters) -> tuple[str, ...]:
    return filters.frameworks or FRAMEWORKS
