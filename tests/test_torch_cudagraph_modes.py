"""Which torch cells replay CUDA graphs is read from Inductor's options for the compile mode
(``torch._inductor.list_mode_options``: ``triton.cudagraphs``), not from the mode's name; every such cell
marks each step's start (``cudagraph_mark_step_begin``) and copies its losses out. Checked on CPU by
inspecting the options and driving the backend's hooks without a GPU."""

from __future__ import annotations

import pytest
from worker_helpers import fake_cell

from bench.results.records import RunSettings
from bench.worker.flags import plan_flags

torch = pytest.importorskip("torch")
tb = pytest.importorskip("bench.frameworks.torch.backend")


def _backend(tmp_path, **cell_kw):
    cell = fake_cell(framework="torch", **cell_kw)
    backend = tb.TorchBackend(cell, RunSettings(), plan_flags(cell, RunSettings(), tmp_path))
    backend.loss_names = ("g", "d")
    return backend


def test_inductor_options_of_each_mode():
    from torch._inductor import list_mode_options

    for cell_mode, mode in tb.COMPILE_MODES.items():
        want = dict(list_mode_options(mode)) if mode else {}
        assert tb.inductor_mode_options(mode) == want, cell_mode
    assert tb.inductor_mode_options("reduce-overhead").get("triton.cudagraphs") is True
    assert tb.inductor_mode_options("max-autotune").get("triton.cudagraphs") is True
    assert not tb.inductor_mode_options(None).get("triton.cudagraphs")


@pytest.mark.parametrize(("mode", "expected"), [("eager", False), ("compile", False),
                                                 ("reduce-overhead", True), ("max-autotune", True)])
def test_cuda_graph_cells_follow_the_mode_options(mode, expected):
    assert tb.uses_cuda_graphs(mode, "cuda") is expected
    assert tb.uses_cuda_graphs(mode, "cpu") is False  # no CUDA graphs without CUDA


def test_derivation_reads_the_options_not_the_name(monkeypatch):
    """Were Inductor to drop CUDA graphs from max-autotune (or add them to the default mode), the cells
    would follow."""
    import torch._inductor as inductor

    options = {"max-autotune": {"max_autotune": True}, "reduce-overhead": {"triton.cudagraphs": True}}
    monkeypatch.setattr(inductor, "list_mode_options", lambda mode=None, dynamic=None: options.get(mode, {}))
    assert tb.uses_cuda_graphs("max-autotune", "cuda") is False
    assert tb.uses_cuda_graphs("reduce-overhead", "cuda") is True
    monkeypatch.setitem(tb.COMPILE_MODES, "compile", "everything-graphed")
    options["everything-graphed"] = {"triton.cudagraphs": True}
    assert tb.uses_cuda_graphs("compile", "cuda") is True


@pytest.mark.parametrize("mode", ["reduce-overhead", "max-autotune"])
def test_every_cuda_graph_mode_marks_steps_and_copies_outputs(tmp_path, monkeypatch, mode):
    marks = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    b = _backend(tmp_path, mode=mode, device="cuda")
    assert b.cuda_graph_mode is True
    g, d = torch.tensor(0.5), torch.tensor(1.25)
    b.batches = [()]
    b.step_fn = lambda: {"g": g, "d": d}
    kept = b.keep(b.call(0))
    assert marks == [1]
    g.fill_(7.0)  # the next replay overwrites the graph's output buffers
    assert b.fetch(kept) == {"g": 0.5, "d": 1.25}


@pytest.mark.parametrize(("mode", "device"),
                         [("compile", "cuda"), ("max-autotune", "cpu"), ("eager", "cuda")])
def test_other_cells_neither_mark_nor_copy(tmp_path, monkeypatch, mode, device):
    marks = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: marks.append(1))
    b = _backend(tmp_path, mode=mode, device=device)
    assert b.cuda_graph_mode is False
    handle = {"g": torch.tensor(1.0), "d": torch.tensor(2.0)}
    b.batches = [()]
    b.step_fn = lambda: handle
    assert b.keep(b.call(0)) is handle and marks == []


def test_flags_name_the_mode_options_and_the_cuda_graph_verdict(tmp_path):
    class Model:
        def __init__(self):
            self.flags = {"compiled": "nothing"}

        def compile_modules(self, compile_fn):
            self.flags = {"compiled": "net"}

        def train_step(self):
            return {}

    b = _backend(tmp_path, mode="max-autotune", device="cuda")
    b.model = Model()
    b.wrap()
    assert b.flags["compile_mode"] == "max-autotune" and b.flags["compile_scope"] == "modules"
    assert "triton.cudagraphs=True" in b.flags["inductor_mode_options"]
    assert b.flags["cuda_graphs_expected"] is True and b.flags["compiled"] == "net"
