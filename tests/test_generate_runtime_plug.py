"""How an exported runtime plugs into the generate scenario (bench.frameworks.base.Backend.build_generate):
a mode outside the framework's native ones is built by ``bench.frameworks.<fw>.runtimes.build_runtime``
from the family's generative module and one call's batch-1 inputs (numpy, in the module's layout), and
its calls take numpy arrays. A fake runtimes module (the eager module behind numpy) stands in for the real
ones here, in-process with the real torch backend."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from bench.results.records import Cell, RunSettings
from models.registry import family_of

torch = pytest.importorskip("torch")
from bench.frameworks.torch.backend import TorchBackend  # noqa: E402  (after the importorskip)


class _Handle:
    export_s, artefact_bytes, load_s = 0.5, 123, 0.25

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def call(self, *arrays: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.module(*(torch.from_numpy(a) for a in arrays)).numpy()


def _first_mean(mode: str, tmp_path) -> tuple[float, TorchBackend]:
    family = family_of("dcgan-mnist")
    spec = family.specs["dcgan-mnist"]
    hooks = family.scenarios["generate"]
    cell = Cell(model="dcgan-mnist", framework="torch", mode=mode, device="cpu", precision="fp32",
                batch_size=2, variant="default", scenario="generate")
    backend = TorchBackend(cell, RunSettings(), {"intra_op_threads": 1})
    inputs = [hooks.make_inputs(spec, 1, 0, 1), hooks.make_inputs(spec, 2, 0, 1)]
    batches = backend.build_generate(family, spec, inputs, tmp_path)
    backend.batches = [batches[0]]
    _t, values = backend.first_step()
    return values["image_mean"], backend


def test_a_runtime_mode_is_built_from_the_generative_module_and_called_on_numpy(tmp_path, monkeypatch):
    seen = {}

    def build_runtime(mode, module, example_inputs, work_dir, threads):
        seen.update(mode=mode, module=module, shapes=[a.shape for a in example_inputs], work_dir=work_dir,
                    threads=threads)
        return _Handle(module)

    fake = types.ModuleType("bench.frameworks.torch.runtimes")
    fake.build_runtime = build_runtime
    monkeypatch.setitem(sys.modules, "bench.frameworks.torch.runtimes", fake)
    runtime_mean, backend = _first_mean("fake-runtime", tmp_path)
    eager_mean, _ = _first_mean("eager", tmp_path)
    assert runtime_mean == pytest.approx(eager_mean, rel=1e-6)
    assert seen["mode"] == "fake-runtime" and seen["module"] is backend.generate_module
    assert not seen["module"].training  # handed over in inference mode
    assert seen["shapes"] == [(1, 100)] and seen["work_dir"] == tmp_path and seen["threads"] == 1
    flags = backend.flags
    assert (flags["export_s"], flags["artefact_bytes"], flags["load_s"]) == (0.5, 123, 0.25)


def test_an_unknown_mode_without_a_runtimes_module_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bench.frameworks.torch.runtimes", None)  # import fails
    with pytest.raises(ValueError, match=r"no exported runtime here"):
        _first_mean("no-such-runtime", tmp_path)
