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
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any


def ru_maxrss_bytes() -> int | None:
    """The kernel's exact high-water mark of this process's RSS (Linux reports kilobytes)."""
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak) if sys.platform == "darwin" else int(peak) * 1024
    except Exception:
        return None


class _Nvml:
    """Thin, failure-proof wrapper of pynvml for one GPU and this process."""

    def __init__(self, gpu_index: int = 0) -> None:
        self.ok = False
        self.handle: Any = None
        self.pid = os.getpid()
        self.source: str | None = None  # "process" | "device-delta"
        self.baseline_used: int | None = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self.handle = self._handle(pynvml, gpu_index)
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

    def process_memory(self) -> int | None:
        if not self.ok:
            return None
        try:
            procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(self.handle)
            for p in procs:
                if p.pid == self.pid and p.usedGpuMemory is not None:
                    self.source = "process"
                    return int(p.usedGpuMemory)
            # In a container the driver may show host PIDs (or none): fall back to the device's used
            # memory above what was used when sampling began.
            used = int(self._nvml.nvmlDeviceGetMemoryInfo(self.handle).used)
            if self.source is None:
                self.source = "device-delta"
            if self.source == "device-delta" and self.baseline_used is not None:
                return max(0, used - self.baseline_used)
        except Exception:
            return None
        return None

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
    nvml_peak_bytes: int | None = None
    gpu_util_mean: float | None = None
    nvml_source: str | None = None
    samples: int = 0
    util_samples: list[float] = field(default_factory=list)


# MemorySampler.method: how a process's memory was measured.
METHOD_RUSAGE = "peak RSS: getrusage ru_maxrss at the end (no sampler thread)"
METHOD_NVML = ("peak RSS: getrusage ru_maxrss and RSS samples; device: NVML sampled by a thread "
               "every {interval_ms:g} ms")


class MemorySampler:
    """With ``gpu_index``: samples NVML and RSS every ``interval_s`` in a thread until ``stop()``.
    Without (CPU): starts no thread; ``stop()`` reads the kernel's peak RSS."""

    def __init__(self, interval_s: float = 0.05, gpu_index: int | None = None) -> None:
        self.interval_s = max(0.001, float(interval_s))
        self.gpu_index = gpu_index
        self.measuring = False  # set by the worker around the timed steps/window
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
        r = self._report
        r.samples += 1
        if self._proc is not None:
            try:
                rss = int(self._proc.memory_info().rss)
                r.peak_rss_bytes = rss if r.peak_rss_bytes is None else max(r.peak_rss_bytes, rss)
            except Exception:
                pass
        if self._nvml is not None and self._nvml.ok:
            used = self._nvml.process_memory()
            if used is not None:
                r.nvml_peak_bytes = used if r.nvml_peak_bytes is None else max(r.nvml_peak_bytes, used)
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

    def start(self) -> MemorySampler:
        if self.gpu_index is None:
            return self  # CPU: nothing to sample; stop() reads ru_maxrss
        self._nvml = _Nvml(self.gpu_index)
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
        if r.util_samples:
            r.gpu_util_mean = sum(r.util_samples) / len(r.util_samples)
        if self._nvml is not None:
            r.nvml_source = self._nvml.source
            self._nvml.close()
        return r

    def __enter__(self) -> MemorySampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
