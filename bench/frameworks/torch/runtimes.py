"""PyTorch's deployed runtimes for the generate scenario (bench.frameworks.runtime says the interface).

- ``aoti``: ``torch.export.export`` then AOTInductor (``torch._inductor.aoti_compile_and_package``: a
  ``.pt2`` package of generated C++ and its compiled shared library), run by ``aoti_load_package``.
- ``onnx``: ``torch.onnx.export(..., dynamo=True)`` (the torch.export-based exporter, graph optimised
  by onnxscript), run in ONNX Runtime's CPU execution provider.
- ``torchscript``: ``torch.jit.trace`` + ``torch.jit.freeze``, saved and reloaded with ``torch.jit.load``:
  legacy (TorchScript is deprecated upstream in favour of torch.export) but what many deployments run.

The module is put in eval mode (BatchNorm on running statistics, no dropout) and every call runs under
``torch.inference_mode()``. Axis 0 of every input is exported as a dynamic batch dimension.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.frameworks import runtime as rt

RUNTIMES: tuple[str, ...] = ("aoti", "onnx", "torchscript")
NOTES = {
    "aoti": "torch.export + AOTInductor (.pt2 package: generated C++ compiled to a shared library)",
    "onnx": "torch.onnx.export(dynamo=True) run in ONNX Runtime",
    "torchscript": "legacy: torch.jit.trace + torch.jit.freeze (TorchScript is deprecated upstream)",
}
ARTEFACTS = {"aoti": "model.pt2", "onnx": "model.onnx", "torchscript": "model.ts"}
# rt.export_once with this cell's artefact and rt.fingerprint: (export seconds, reused).
Reuse = Callable[[Callable[[], None]], tuple[float, bool]]
# (what loads the artefact, export seconds, reused)
Built = tuple[Callable[[], Any], float, bool]
# torch.export's symbolic batch dimension: any size from 1 to this.
MAX_BATCH = 4096


def _device(module: torch.nn.Module) -> torch.device:
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


def _tensors(inputs: Sequence[np.ndarray], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in inputs)


def _torch_call(fn: Callable[..., torch.Tensor], device: torch.device) -> Callable[..., np.ndarray]:
    def call(*inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return fn(*_tensors(inputs, device)).cpu().numpy()

    return call


def _dynamic_batch(example: tuple[torch.Tensor, ...]) -> tuple[dict[int, Any], ...]:
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    return tuple({0: batch} for _ in example)


def _export_program(module: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> Any:
    try:
        return torch.export.export(module, example, dynamic_shapes=_dynamic_batch(example))
    except Exception as e:  # a graph break, data-dependent control flow, an unsupported op
        raise rt.unsupported_from("torch.export", e) from e


def _cxx_compiler() -> str | None:
    from torch._inductor import config

    names = config.cpp.cxx if isinstance(config.cpp.cxx, tuple | list) else (config.cpp.cxx,)
    return next((shutil.which(n) for n in (*names, "g++", "clang++") if n and shutil.which(n)), None)


def _build_aoti(module: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path,
                reuse: Reuse) -> Built:
    if _device(module).type == "cpu" and _cxx_compiler() is None:
        raise rt.RuntimeUnsupported("AOTInductor compiles C++ on CPU and no C++ compiler (g++, clang++) "
                                 "is on PATH")

    def export() -> None:
        program = _export_program(module, example)
        try:
            torch._inductor.aoti_compile_and_package(program, package_path=str(path))
        except Exception as e:
            raise rt.unsupported_from("AOTInductor", e) from e

    export_s, reused = reuse(export)
    return (lambda: torch._inductor.aoti_load_package(str(path))), export_s, reused


def _build_onnx(module: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path,
                reuse: Reuse) -> Built:
    rt.require("onnxscript", "onnxscript")  # the dynamo exporter's translator
    names = [f"input_{i}" for i in range(len(example))]

    def export() -> None:
        try:
            program = torch.onnx.export(module, example, dynamo=True, input_names=names,
                                        output_names=["output"], dynamic_shapes=_dynamic_batch(example),
                                        verbose=False)
            program.save(str(path))
        except Exception as e:
            raise rt.unsupported_from("torch.onnx.export(dynamo=True)", e) from e

    export_s, reused = reuse(export)
    return (lambda: path), export_s, reused


def _build_torchscript(module: torch.nn.Module, example: tuple[torch.Tensor, ...], path: Path,
                       reuse: Reuse) -> Built:
    def export() -> None:
        try:
            with torch.no_grad():  # freeze folds the weights; trace under no_grad records no autograd
                traced = torch.jit.freeze(torch.jit.trace(module, example, check_trace=False))
            torch.jit.save(traced, str(path))
        except Exception as e:
            raise rt.unsupported_from("torch.jit.trace + freeze", e) from e

    export_s, reused = reuse(export)
    return (lambda: torch.jit.load(str(path), map_location=_device(module))), export_s, reused


BUILDERS = {"aoti": _build_aoti, "onnx": _build_onnx, "torchscript": _build_torchscript}


def _threads(threads: int) -> dict[str, int]:
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)  # the intra-op pool may change at any time (unlike inter-op)
    return {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}


def build_runtime(mode: str, module: torch.nn.Module, example_inputs: tuple[np.ndarray, ...], work_dir: Path,
                  threads: int) -> rt.RuntimeHandle:
    """Export ``module`` (eval mode) to ``work_dir`` with ``mode``'s exporter and load it; see the module
    docstring. rt.RuntimeUnsupported (one line) when the exporter or runtime cannot handle the model."""
    rt.check_mode(mode, RUNTIMES, "torch")
    module.eval()
    device = _device(module)
    if mode == "onnx" and device.type != "cpu":
        raise rt.RuntimeUnsupported(f"the installed onnxruntime runs on CPU only; the module is on {device}")
    work_dir = Path(work_dir)
    path = work_dir / ARTEFACTS[mode]
    versions = {"torch": torch.__version__, **(rt.ort_versions() if mode == "onnx" else {})}
    if mode == "onnx":
        versions["onnxscript"] = rt.version_of("onnxscript")
    key = rt.fingerprint(mode, (t.detach().cpu().numpy() for t in module.state_dict().values()),
                      example_inputs, versions)
    # An example of batch 1 would specialise the batch dimension to 1 (torch.export treats 0 and 1 as
    # constants): export from two copies of it, the same graph.
    example = _tensors([np.concatenate([x, x]) if x.shape[:1] == (1,) else x for x in example_inputs], device)
    thread_info = _threads(threads)

    def reuse(export: Callable[[], None]) -> tuple[float, bool]:
        return rt.export_once(work_dir, path, key, export)

    loader, export_s, reused = BUILDERS[mode](module, example, path, reuse)
    if mode == "onnx":
        (call, thread_info), load_s = rt.timed(lambda: rt.ort_session(path, threads, input_names=[
            f"input_{i}" for i in range(len(example))]))
        versions["onnx_opset"] = rt.onnx_opset(path)
    else:
        try:
            loaded, load_s = rt.timed(loader)
        except Exception as e:
            raise rt.unsupported_from(f"loading the {mode} artefact", e) from e
        call = _torch_call(loaded, device)
    return rt.RuntimeHandle(mode=mode, call=call, export_s=export_s, load_s=load_s,
                            artefact_bytes=rt.artefact_size(path), runtime_versions=versions,
                            threads=thread_info, artefact=str(path), notes=NOTES[mode], reused=reused)
