"""The torch side of the ``generate`` scenario (bench/scenarios/generate.py): what each mode calls.

eager calls the family's generative module (``eval()``) as is; a compiled mode calls
``torch.compile(module, mode=..., dynamic=False)``, as a torch user compiles a generator for serving
(static shapes: batch 1 and batch N compile once each, before anything is timed). The whole call (one
network call, or a sampler's S) runs under ``torch.inference_mode()``. Its value is the images' mean,
read like a train step's loss, so that the host waits for the images.

Another mode (an exported runtime, ``bench.frameworks.base.Backend.build_generate``) calls a callable
built from the same module, on the numpy arrays of ``module_arrays`` (the module's layout: NCHW).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.frameworks.torch.backend import COMPILE_DYNAMIC, COMPILE_MODES
from models.generate import run_loop

NATIVE_MODES = ("eager", *COMPILE_MODES)


def network(backend: Any, module: torch.nn.Module) -> Any:
    """The callable one network call of the cell's mode runs."""
    mode = backend.cell.mode
    if mode == "eager":
        return module
    if mode in COMPILE_MODES:
        backend.flags["compile_mode"] = COMPILE_MODES[mode] or "default"
        backend.flags["compile_scope"] = "generative module"
        backend.flags["compile_dynamic"] = COMPILE_DYNAMIC
        return torch.compile(module, mode=COMPILE_MODES[mode], dynamic=COMPILE_DYNAMIC)
    raise ValueError(f"torch mode {mode!r} has no generate callable")


def generate_call(backend: Any, net: Any) -> Any:
    backend.flags["inference"] = "torch.inference_mode(), module.eval()"

    def call(first: torch.Tensor, per_step: list[tuple[torch.Tensor, ...]]) -> dict[str, torch.Tensor]:
        with torch.inference_mode():
            images = run_loop(net, first, per_step)
            if isinstance(images, torch.Tensor):
                return {"image_mean": images.float().mean()}
            # a runtime's numpy output, as the tensor the backend's fetch reads
            return {"image_mean": torch.as_tensor(np.float32(np.mean(images)))}
    return call


def array(a: np.ndarray) -> np.ndarray:
    """A numpy input in the module's layout: images NHWC -> NCHW."""
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2) if a.ndim == 4 else a)


def module_arrays(first: np.ndarray, per_step: list[tuple[np.ndarray, ...]]) -> tuple[Any, Any]:
    return array(first), [tuple(array(a) for a in extra) for extra in per_step]


def tensor(backend: Any, a: np.ndarray) -> torch.Tensor:
    """A numpy input on the device: images NHWC -> NCHW, floats in the model's dtype, ints as they are."""
    t = torch.from_numpy(array(a))
    if t.is_floating_point():
        t = t.to(backend.model.dtype)
    return t.to(backend.torch_device)


def to_inputs(backend: Any, first: np.ndarray, per_step: list[tuple[np.ndarray, ...]]) -> tuple[Any, Any]:
    return tensor(backend, first), [tuple(tensor(backend, a) for a in extra) for extra in per_step]


def images_nhwc(out: torch.Tensor) -> np.ndarray:
    """A generate call's images as numpy NHWC (for the equivalence checks)."""
    return (out.permute(0, 2, 3, 1) if out.dim() == 4 else out).detach().cpu().numpy()


def module_output(module: torch.nn.Module, first: torch.Tensor,
                  extra: tuple[torch.Tensor, ...]) -> np.ndarray:
    """One call of the module itself, in its layout, as float64 numpy (a runtime's parity check)."""
    with torch.inference_mode():
        return module(first, *extra).detach().double().cpu().numpy()
