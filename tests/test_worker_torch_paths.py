"""The torch backend's CUDA-specific logic that can be checked without a GPU: TF32 switches,
CUDA-graph output handling and the recompile / CUDA-graph verdicts from dynamo's counters."""

from __future__ import annotations

import pytest
from worker_helpers import fake_cell

from bench.results.records import RunSettings
from bench.worker.flags import plan_flags

torch = pytest.importorskip("torch")
tb = pytest.importorskip("bench.frameworks.torch.backend")


def _backend(tmp_path, **cell_kw):
    cell = fake_cell(framework="torch", **cell_kw)
    settings = RunSettings()
    backend = tb.TorchBackend(cell, settings, plan_flags(cell, settings, tmp_path))
    backend.loss_names = ("g", "d")  # what build() takes from the model family
    return backend


@pytest.mark.parametrize("enabled", [True, False])
def test_tf32_switches_both_matmul_and_convolution(enabled):
    try:
        flags = tb.apply_tf32(enabled)
        if flags["tf32_api"] == "fp32_precision":
            want = "tf32" if enabled else "ieee"
            assert (flags["tf32_matmul"], flags["tf32_cudnn_conv"]) == (want, want)
            assert torch.backends.cuda.matmul.fp32_precision == want
            assert torch.backends.cudnn.conv.fp32_precision == want
        else:
            assert flags["tf32_matmul"] is enabled and flags["tf32_cudnn_conv"] is enabled
    finally:
        tb.apply_tf32(False)


def _counters(frames=10, graphs=2, breaks=0, skips=0, cuda_graphs=None):
    return {"frames": frames, "unique_graphs": graphs, "graph_breaks": breaks,
            "graph_break_reasons": ["Unsupported Tensor.backward() call"] if breaks else [],
            "cudagraph_skips": skips, "fxgraph_cache_hits": 0, "fxgraph_cache_misses": graphs,
            "autograd_cache_hits": 0, "autograd_cache_misses": graphs, "cuda_graphs": cuda_graphs}


def test_reduce_overhead_with_recorded_graphs_and_no_recompile_is_clean(tmp_path):
    b = _backend(tmp_path, mode="reduce-overhead", device="cuda")
    recompiles, warnings = b.compile_report(_counters(cuda_graphs=2), _counters(cuda_graphs=2))
    assert recompiles == 0 and warnings == []
    assert b.flags["cuda_graphs_used"] is True and b.flags["cuda_graphs_recorded"] == 2


def test_reduce_overhead_without_cuda_graphs_is_flagged(tmp_path):
    b = _backend(tmp_path, mode="reduce-overhead", device="cuda")
    recompiles, warnings = b.compile_report(_counters(cuda_graphs=0), _counters(skips=3, cuda_graphs=0))
    assert recompiles == 0
    assert b.flags["cuda_graphs_used"] is False
    assert any("CUDA graphs skipped 3 time(s)" in w for w in warnings)
    assert any("ran without CUDA graphs" in w for w in warnings)


def test_recompiles_graph_breaks_and_late_cuda_graphs_are_reported(tmp_path):
    b = _backend(tmp_path, mode="reduce-overhead", device="cuda")
    before = _counters(frames=10, cuda_graphs=1)
    after = _counters(frames=12, breaks=2, cuda_graphs=2)
    recompiles, warnings = b.compile_report(before, after)
    assert recompiles == 2
    assert "torch.compile recompiled 2 time(s) during the timed steps" in warnings
    assert any(w.startswith("2 graph break(s): Unsupported Tensor.backward() call") for w in warnings)
    assert "1 CUDA graph(s) recorded during the timed steps" in warnings
    assert b.flags["graph_breaks"] == 2


def test_eager_reports_no_recompile_count(tmp_path):
    b = _backend(tmp_path, mode="eager")
    assert b.compile_counters() == {}
    assert b.compile_report({}, {}) == (None, [])


def test_compile_counters_read_dynamo_without_error(tmp_path):
    b = _backend(tmp_path, mode="compile")
    c = b.compile_counters()
    assert {"frames", "unique_graphs", "graph_breaks", "cudagraph_skips", "fxgraph_cache_hits"} <= set(c)
    assert "cuda_graphs" not in c  # CPU cell: no CUDA graph query


def test_cuda_graph_outputs_are_copied_out_and_fetched_together(tmp_path):
    b = _backend(tmp_path, mode="reduce-overhead", device="cuda")
    g, d = torch.tensor(0.5), torch.tensor(1.25)
    kept = b.keep({"d": d, "g": g})  # the step's named losses, in any order
    assert isinstance(kept, torch.Tensor) and kept.tolist() == [0.5, 1.25]  # the family's order
    g.fill_(9.0)  # a later replay overwriting the graph's output must not change what was kept
    assert b.fetch(kept) == {"g": 0.5, "d": 1.25}
    plain = _backend(tmp_path, mode="compile")
    handle = {"g": torch.tensor(2.0), "d": torch.tensor(3.0)}
    assert plain.keep(handle) is handle
    assert plain.fetch(handle) == {"g": 2.0, "d": 3.0}
    assert plain.fetch_many([handle, kept]) == [{"g": 2.0, "d": 3.0}, {"g": 0.5, "d": 1.25}]


def test_oom_type_is_recognised(tmp_path):
    b = _backend(tmp_path)
    assert b.is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert not b.is_oom(RuntimeError("other"))


def test_a_failed_cuda_graph_count_is_a_warning_not_false(tmp_path, monkeypatch):
    b = _backend(tmp_path, mode="reduce-overhead", device="cuda")
    after = {**_counters(cuda_graphs=None), "cuda_graphs_error": "AttributeError: no get_manager"}
    _, warnings = b.compile_report(_counters(cuda_graphs=None), after)
    assert b.flags["cuda_graphs_used"] is None
    assert any("could not count the CUDA graphs (AttributeError: no get_manager)" in w for w in warnings)
    # The counter itself returns the failure instead of swallowing it.
    monkeypatch.setattr(torch.cuda, "current_device", lambda: (_ for _ in ()).throw(RuntimeError("no GPU")))
    assert tb._count_cuda_graphs() == (None, "RuntimeError: no GPU")


def test_grad_scaler_host_syncs_are_described_per_optimizer():
    assert "one sync per optimizer" in tb.grad_scaler_syncs("default")
    assert "no sync in scaler.step" in tb.grad_scaler_syncs("fused")
    assert all("get_scale()" in tb.grad_scaler_syncs(o) for o in ("default", "fused"))


def test_tf32_label_and_reset_on_cpu(tmp_path):
    b = _backend(tmp_path, device="cpu")
    assert b.reset_memory_peaks() is False  # CPU: no allocator peaks to reset
    b.plan["tf32_label"] = "TF32 off (both)"
    b.plan["cudnn_benchmark"] = False
    b.setup()
    assert b.flags["tf32_label"] == "TF32 off (both)"
