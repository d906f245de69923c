"""Memory: the kernel's peak RSS always; on CUDA, NVML memory and utilisation sampled by a thread.

On CPU nothing samples: a Python thread waking every 50 ms would take a core from the framework's
compute threads (OpenMP, Eigen) on a small machine, in the middle of the timed steps. The process's
peak RSS is read once, at the end, from the kernel's high-water mark (``getrusage``'s ``ru_maxrss``),
which no sampling can beat. On CUDA a thread samples NVML (and RSS) every ``interval_s``; it mostly
sleeps while the host waits on the device. ``MemorySampler.method`` says which was used (stored in
the cell's flags as ``memory_method``).

The sampler never raises: psutil/NVML missing, no GPU or a driver that hides processes all read as
``None``. NVML reports the memory the driver gives this process (framework allocator, CUDA context
and library workspaces together), the one number that is fair across frameworks whose allocators
count differently. GPU utilisation is averaged only over samples taken while ``measuring`` is on
(the timed steps and the throughput window), not over start-up and compilation.

Host memory has three figures: the process's own peak RSS (``RUSAGE_SELF``; an in-process compiler
such as XLA's counts here); its children's: the larger of the peak RSS of its largest finished child
(``RUSAGE_CHILDREN``: the C++ compiler runs Inductor starts) and the combined RSS of its live
descendants after the first step and at the end (Inductor's compile worker pool lives until the
process ends, so the kernel never reports it as a finished child), none of which ``RUSAGE_SELF``
sees; and the RSS right after the framework import (what the framework costs before any model).

Device memory, per process, has one NVML source, decided once (at ``decide_source``, after the model
is built, when the CUDA context surely exists): "process" when the driver lists this PID, else
"device-delta" (the device's used memory above a baseline taken before the framework import, so the
CUDA context is inside both sources alike; compile workers that open a context of their own are then
counted too). Until then both are sampled; the peak reported is the chosen source's, never a mix.
Each peak is kept twice: over the whole process, and over the steady state (from ``mark_steady``,
after the warm-up, where the worker also resets the framework allocator's peaks).
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any


def ru_maxrss_bytes(children: bool = False) -> int | None:
    """The kernel's exact high-water mark of this process's RSS (Linux reports kilobytes); with
    ``children``, of its largest terminated, waited-for descendant (None: none, or unknowable)."""
    try:
        import resource
        import sys

        who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
        peak = resource.getrusage(who).ru_maxrss
        if children and not peak:
            return None
        return int(peak) if sys.platform == "darwin" else int(peak) * 1024
    except Exception:
        return None


def current_rss_bytes() -> int | None:
    """This process's resident set size now."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:
        return None


def live_children_rss_bytes() -> int | None:
    """The combined RSS of this process's live descendants now (compile worker pools stay alive until
    the process ends, so RUSAGE_CHILDREN never sees them); None without any."""
    try:
        import psutil

        total = 0
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(Exception):
                total += int(child.memory_info().rss)
        return total or None
    except Exception:
        return None


def device_used_bytes(gpu_index: int = 0) -> int | None:
    """The device's used memory per NVML (the baseline of the "device-delta" source), None without NVML."""
    nvml = _Nvml(gpu_index)
    used = nvml.baseline_used
    nvml.close()
    return used


SOURCE_PROCESS = "process"
SOURCE_DEVICE_DELTA = "device-delta"


class _Nvml:
    """Thin, failure-proof wrapper of pynvml for one GPU and this process."""

    def __init__(self, gpu_index: int = 0, baseline_used: int | None = None) -> None:
        self.ok = False
        self.handle: Any = None
        self.pid = os.getpid()
        self.baseline_used: int | None = baseline_used
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self.handle = self._handle(pynvml, gpu_index)
            if self.baseline_used is None:
                self.baseline_used = int(pynvml.nvmlDeviceGetMemoryInfo(self.handle).used)
            self.ok = True
        except Exception:
            self.ok = False

    @staticmethod
    def _handle(pynvml: Any, logical: int) -> Any:
        # CUDA_VISIBLE_DEVICES remaps indices (by number or by UUID); NVML uses physical devices.
        visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
        entry = visible[logical] if logical < len(visible) else None
        if entry is not None and entry.isdigit():
            return pynvml.nvmlDeviceGetHandleByIndex(int(entry))
        if entry is not None and entry.startswith(("GPU-", "MIG-")):
            return pynvml.nvmlDeviceGetHandleByUUID(entry)
        return pynvml.nvmlDeviceGetHandleByIndex(logical)

    def read(self) -> tuple[int | None, int | None]:
        """(this PID's memory as the driver lists it, or None where it is not listed; the device's used
        memory above the baseline). A container may show host PIDs, or none."""
        if not self.ok:
            return None, None
        own: int | None = None
        delta: int | None = None
        try:
            for p in self._nvml.nvmlDeviceGetComputeRunningProcesses(self.handle):
                if p.pid == self.pid and p.usedGpuMemory is not None:
                    own = int(p.usedGpuMemory)
        except Exception:
            own = None
        try:
            used = int(self._nvml.nvmlDeviceGetMemoryInfo(self.handle).used)
            if self.baseline_used is not None:
                delta = max(0, used - self.baseline_used)
        except Exception:
            delta = None
        return own, delta

    def utilisation(self) -> float | None:
        if not self.ok:
            return None
        try:
            return float(self._nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu)
        except Exception:
            return None

    def close(self) -> None:
        if self.ok:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()


@dataclass
class MemoryReport:
    peak_rss_bytes: int | None = None
    peak_rss_children_bytes: int | None = None  # RUSAGE_CHILDREN: the largest finished child
    nvml_peak_bytes: int | None = None  # whole process, from nvml_source
    nvml_steady_peak_bytes: int | None = None  # from mark_steady on, same source
    gpu_util_mean: float | None = None
    nvml_source: str | None = None
    samples: int = 0
    util_samples: list[float] = field(default_factory=list)
    # Per candidate source: [whole-process peak, steady-state peak] (until the source is decided).
    candidates: dict[str, list[int | None]] = field(default_factory=lambda: {
        SOURCE_PROCESS: [None, None], SOURCE_DEVICE_DELTA: [None, None]})


    def result_fields(self) -> dict[str, Any]:
        """The CellResult fields this report fills."""
        names = ("peak_rss_bytes", "peak_rss_children_bytes", "nvml_peak_bytes", "nvml_steady_peak_bytes",
                 "gpu_util_mean")
        return {name: getattr(self, name) for name in names}


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


# MemorySampler.method: how a process's memory was measured.
METHOD_RUSAGE = "peak RSS: getrusage ru_maxrss at the end (no sampler thread)"
METHOD_NVML = ("peak RSS: getrusage ru_maxrss and RSS samples; device: NVML sampled by a thread "
               "every {interval_ms:g} ms")


class MemorySampler:
    """With ``gpu_index``: samples NVML and RSS every ``interval_s`` in a thread until ``stop()``.
    Without (CPU): starts no thread; ``stop()`` reads the kernel's peak RSS."""

    def __init__(self, interval_s: float = 0.05, gpu_index: int | None = None,
                 baseline_used: int | None = None) -> None:
        self.interval_s = max(0.001, float(interval_s))
        self.gpu_index = gpu_index
        self.baseline_used = baseline_used  # device used bytes before the framework import
        self.measuring = False  # set by the worker around the timed steps/window
        self.steady = False  # set by mark_steady (after the warm-up)
        self._seen_own = False  # the driver listed this PID at least once
        self._lock = threading.Lock()  # the sampler thread and decide_source/mark_steady both sample
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._report = MemoryReport()
        self._nvml: _Nvml | None = None
        try:
            import psutil

            self._proc: Any = psutil.Process()
        except Exception:
            self._proc = None

    def _sample(self) -> None:
        with self._lock:
            self._sample_locked()

    def _sample_locked(self) -> None:
        r = self._report
        r.samples += 1
        if self._proc is not None:
            try:
                rss = int(self._proc.memory_info().rss)
                r.peak_rss_bytes = rss if r.peak_rss_bytes is None else max(r.peak_rss_bytes, rss)
            except Exception:
                pass
        if self._nvml is not None and self._nvml.ok:
            own, delta = self._nvml.read()
            self._seen_own = self._seen_own or own is not None
            for source, used in ((SOURCE_PROCESS, own), (SOURCE_DEVICE_DELTA, delta)):
                peaks = r.candidates[source]
                peaks[0] = _max(peaks[0], used)
                if self.steady:
                    peaks[1] = _max(peaks[1], used)
            if self.measuring:
                util = self._nvml.utilisation()
                if util is not None:
                    r.util_samples.append(util)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    @property
    def method(self) -> str:
        if self.gpu_index is None:
            return METHOD_RUSAGE
        return METHOD_NVML.format(interval_ms=self.interval_s * 1000)

    def decide_source(self) -> str | None:
        """Fix the NVML source of this process (once; later calls keep it): "process" when the driver
        has listed this PID, else "device-delta". Call it once the CUDA context exists."""
        if self._nvml is None or not self._nvml.ok:
            return None
        if self._report.nvml_source is None:
            self._sample()
            self._report.nvml_source = SOURCE_PROCESS if self._seen_own else SOURCE_DEVICE_DELTA
        return self._report.nvml_source

    def note_children(self) -> None:
        """Count the live descendants' combined RSS now (after the first step: compile workers are
        still alive) toward the children's peak."""
        live = live_children_rss_bytes()
        self._report.peak_rss_children_bytes = _max(self._report.peak_rss_children_bytes, live)

    def mark_steady(self) -> None:
        """From now on, samples also count toward the steady-state peaks."""
        self.steady = True
        if self._nvml is not None:
            self._sample()

    def start(self) -> MemorySampler:
        if self.gpu_index is None:
            return self  # CPU: nothing to sample; stop() reads ru_maxrss
        self._nvml = _Nvml(self.gpu_index, self.baseline_used)
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> MemoryReport:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._sample()
        r = self._report
        kernel_peak = ru_maxrss_bytes()
        if kernel_peak is not None:
            # Sampling can miss a short spike; the kernel's high-water mark cannot.
            r.peak_rss_bytes = kernel_peak if r.peak_rss_bytes is None else max(r.peak_rss_bytes, kernel_peak)
        self.note_children()
        r.peak_rss_children_bytes = _max(r.peak_rss_children_bytes, ru_maxrss_bytes(children=True))
        if r.util_samples:
            r.gpu_util_mean = sum(r.util_samples) / len(r.util_samples)
        if self._nvml is not None:
            source = self.decide_source()
            if source is not None:
                r.nvml_peak_bytes, r.nvml_steady_peak_bytes = r.candidates[source]
            self._nvml.close()
        return r

    def __enter__(self) -> MemorySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def steady_and_whole(whole: dict[str, int | None] | None,
                     steady: dict[str, int | None]) -> dict[str, int | None]:
    """The allocator's peaks as CellResult fields: ``whole`` read before the reset after the warm-up
    (None: no reset happened, ``steady`` then covers the whole process), ``steady`` read at the end."""
    if whole is None:
        return {**steady, "device_alloc_steady_peak_bytes": None}
    return {"device_alloc_peak_bytes": _max(whole.get("device_alloc_peak_bytes"),
                                            steady.get("device_alloc_peak_bytes")),
            "device_reserved_peak_bytes": _max(whole.get("device_reserved_peak_bytes"),
                                               steady.get("device_reserved_peak_bytes")),
            "device_alloc_steady_peak_bytes": steady.get("device_alloc_peak_bytes")}


def host_memory_text(row: Any, fmt: Any) -> str:
    """The report's host memory cell: the process's peak, then its largest child's and the RSS after
    the framework import where recorded ("1024 (children 300, import 400)")."""
    extra = [f"{label} {fmt(row.get(key))}" for label, key in (
        ("children", "peak_rss_children_bytes"), ("import", "rss_after_import_bytes"))
        if _recorded(row.get(key))]
    return fmt(row.get("peak_rss_bytes")) + (f" ({', '.join(extra)})" if extra else "")


def device_memory_text(row: Any, fmt: Any, whole: str, steady: str) -> str:
    """A device memory cell: the whole-process peak, with the steady-state one where recorded."""
    value = row.get(steady)
    return fmt(row.get(whole)) + (f" (steady {fmt(value)})" if _recorded(value) else "")


def _recorded(value: Any) -> bool:
    # Summary tables hold a missing figure as None or NaN.
    return isinstance(value, (int, float)) and value == value
