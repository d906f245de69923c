"""The torch side of the ``generate`` scenario (bench/scenarios/generate.py): what each mode calls.

eager calls the family's generative module (``eval()``) as is; a compiled mode calls
``torch.compile(module, mode=..., dynamic=False)``, as a torch user compiles a generator for serving
(static shapes: batch 1 and batch N compile once each, before anything is timed). The whole call (one
network call, or a sampler's S) runs under ``torch.inference_mode()``. Its value is the images' mean,
read like a train step's loss, so that the host waits for the images.

An exported runtime plugs in at ``network``: a callable with the module's signature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.frameworks.torch.backend import COMPILE_DYNAMIC, COMPILE_MODES
from models.generate import run_loop


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
            return {"image_mean": images.float().mean()}
    return call


def tensor(backend: Any, a: np.ndarray) -> torch.Tensor:
    """A numpy input on the device: images NHWC -> NCHW, floats in the model's dtype, ints as they are."""
    t = torch.from_numpy(np.ascontiguousarray(a))
    if a.ndim == 4:
        t = t.permute(0, 3, 1, 2).contiguous()
    if t.is_floating_point():
        t = t.to(backend.model.dtype)
    return t.to(backend.torch_device)


def to_inputs(backend: Any, first: np.ndarray, per_step: list[tuple[np.ndarray, ...]]) -> tuple[Any, Any]:
    return tensor(backend, first), [tuple(tensor(backend, a) for a in extra) for extra in per_step]


def images_nhwc(out: torch.Tensor) -> np.ndarray:
    """A generate call's images as numpy NHWC (for the equivalence checks)."""
    return (out.permute(0, 2, 3, 1) if out.dim() == 4 else out).detach().cpu().numpy()
