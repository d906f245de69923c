"""Host memory (RUSAGE_SELF, RUSAGE_CHILDREN, RSS after the import) and the CUDA memory logic that a
CPU can check with a fake NVML: one source per process decided once, steady-state peaks."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from bench.worker import memory


def test_children_peak_counts_a_finished_child():
    before = memory.ru_maxrss_bytes(children=True)
    # A child that holds ~60 MB: RUSAGE_SELF does not see it, RUSAGE_CHILDREN does.
    subprocess.run([sys.executable, "-c", "b = bytearray(60 * 2**20); b[::4096] = b'x' * len(b[::4096])"],
                   check=True)
    after = memory.ru_maxrss_bytes(children=True)
    assert after is not None and after >= 60 * 2**20 and (before is None or after >= before)
    assert memory.current_rss_bytes() > 0


class FakeNvml:
    """pynvml's calls the sampler makes, with a script of (listed own usage or None, device used)."""

    def __init__(self, script):
        self.script = list(script)
        self.i = 0

    def now(self):
        return self.script[min(self.i, len(self.script) - 1)]

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        own, _ = self.now()
        return [] if own is None else [SimpleNamespace(pid=memory.os.getpid(), usedGpuMemory=own)]

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=self.now()[1])

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=50)

    def nvmlShutdown(self):
        pass


def _sampler(script, baseline=1000):
    sampler = memory.MemorySampler(interval_s=3600, gpu_index=None, baseline_used=baseline)
    fake = FakeNvml(script)
    nvml = memory._Nvml.__new__(memory._Nvml)
    nvml.ok, nvml.handle, nvml.pid = True, None, memory.os.getpid()
    nvml.baseline_used, nvml._nvml = baseline, fake
    sampler._nvml = nvml
    return sampler, fake


def test_source_is_decided_once_and_never_mixed():
    # Before the context: not listed (delta 0); after build the driver lists the PID: "process" for good,
    # even when a later sample does not list it (the delta, 5000, must not leak into the peak).
    sampler, fake = _sampler([(None, 1000), (300, 1400), (None, 6000), (400, 1500)])
    sampler._sample()
    fake.i = 1
    assert sampler.decide_source() == "process"
    fake.i = 2
    sampler.mark_steady()
    fake.i = 3
    sampler._sample()
    report = sampler.stop()
    assert report.nvml_source == "process"
    assert (report.nvml_peak_bytes, report.nvml_steady_peak_bytes) == (400, 400)


def test_device_delta_from_a_baseline_taken_before_the_import():
    # A container hides PIDs: the delta over the pre-import baseline, CUDA context included.
    sampler, fake = _sampler([(None, 1000), (None, 1800), (None, 1500)], baseline=1000)
    fake.i = 1
    assert sampler.decide_source() == "device-delta"
    fake.i = 2
    sampler.mark_steady()
    report = sampler.stop()
    assert report.nvml_source == "device-delta"
    assert (report.nvml_peak_bytes, report.nvml_steady_peak_bytes) == (800, 500)


def test_without_nvml_nothing_is_decided():
    sampler = memory.MemorySampler(interval_s=0.005, gpu_index=0).start()  # no driver here
    sampler.decide_source()
    sampler.mark_steady()
    report = sampler.stop()
    assert report.nvml_source is None and report.nvml_peak_bytes is None
    assert report.peak_rss_bytes > 0


def test_allocator_peaks_whole_and_steady():
    steady = {"device_alloc_peak_bytes": 100, "device_reserved_peak_bytes": 300}
    whole = {"device_alloc_peak_bytes": 900, "device_reserved_peak_bytes": 1000}
    assert memory.steady_and_whole(whole, steady) == {
        "device_alloc_peak_bytes": 900, "device_reserved_peak_bytes": 1000,
        "device_alloc_steady_peak_bytes": 100}
    # No reset (CPU, or a framework that cannot): the one reading is the whole process's.
    assert memory.steady_and_whole(None, steady)["device_alloc_steady_peak_bytes"] is None


def test_report_cells_show_children_import_and_steady_figures_where_recorded():
    fmt = lambda v: "–" if v is None or v != v else f"{v / 2**20:.0f}"  # noqa: E731
    row = {"peak_rss_bytes": 300 * 2**20, "peak_rss_children_bytes": 200 * 2**20,
           "rss_after_import_bytes": float("nan"), "nvml_peak_bytes": 900 * 2**20,
           "nvml_steady_peak_bytes": 500 * 2**20}
    assert memory.host_memory_text(row, fmt) == "300 (children 200)"
    nvml = memory.device_memory_text(row, fmt, "nvml_peak_bytes", "nvml_steady_peak_bytes")
    assert nvml == "900 (steady 500)"
    assert memory.host_memory_text({"peak_rss_bytes": 2**20}, fmt) == "1"


def test_live_children_count_toward_the_children_peak():
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; b = bytearray(40 * 2**20); "
                              "b[::4096] = b'x' * len(b[::4096]); print(1, flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE)
    try:
        child.stdout.readline()  # the child holds its 40 MB now
        sampler = memory.MemorySampler(gpu_index=None).start()
        sampler.note_children()
        assert sampler._report.peak_rss_children_bytes >= 40 * 2**20
    finally:
        child.kill()
        child.wait()
