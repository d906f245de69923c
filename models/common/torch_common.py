"""What the torch implementations share (imports torch: only ever from a models/<family>/torch_*.py).

``TorchModel``: a model's precision, device, dtypes, autocast and loss scaling, and its inputs moved to
the device, the same in every family.

The Adam implementation switch: torch computes the same Adam/AdamW update with a per-parameter Python
loop ("single-tensor"), multi-tensor kernels ("foreach") or one fused kernel per step ("fused");
``"default"`` lets torch choose (foreach on CUDA, single-tensor on CPU: ``_default_to_fused_or_foreach``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch

# The autocast dtype of each precision (None: no autocast).
AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16,
            "fp64": None}  # fp64: for the equivalence checks only (not a benchmark precision)

OPTIMIZERS: dict[str, dict[str, bool]] = {
    "default": {},
    "single-tensor": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}


def optimizer_kwargs(optimizer: str) -> dict[str, bool]:
    """The ``torch.optim.Adam``/``AdamW`` keywords of an implementation name of ``OPTIMIZERS``."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid choices: {', '.join(OPTIMIZERS)}")
    return dict(OPTIMIZERS[optimizer])


def make_adam(params: Any, spec: Any, optimizer: str = "default") -> torch.optim.Adam:
    """Adam with the spec's ``learning_rate``, ``adam_beta1``, ``adam_beta2`` and ``adam_epsilon``;
    ``optimizer`` picks torch's implementation of the same update (``OPTIMIZERS``)."""
    # torch adds eps after the bias correction; Keras' epsilon is "epsilon hat" (CONTRACT.md).
    return torch.optim.Adam(params, lr=spec.learning_rate, betas=(spec.adam_beta1, spec.adam_beta2),
                            eps=spec.adam_epsilon, **optimizer_kwargs(optimizer))


def adam_implementation(opt: torch.optim.Optimizer) -> str:
    """The kernel the optimiser runs: "fused", "foreach" or "single-tensor" (foreach=None is resolved
    the way torch resolves it at the first step, from the parameters' devices)."""
    group = opt.param_groups[0]
    if group.get("fused"):
        return "fused"
    foreach = group.get("foreach")
    if foreach is None:
        from torch.optim.optimizer import _default_to_fused_or_foreach

        params = [p for g in opt.param_groups for p in g["params"]]
        _, foreach = _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)
    return "foreach" if foreach else "single-tensor"


def allow_retained_backward() -> None:
    """Turn off AOTAutograd's donated buffers, which refuse a compiled backward run with
    ``retain_graph=True`` (torch's error message advises exactly this). Process-wide: a cell's
    process builds one model."""
    import torch._functorch.config as functorch_config

    functorch_config.donated_buffer = False


class TorchModel:
    """The settings every family's torch model starts with; ``setup`` is the first call of its
    ``__init__``."""

    def setup(self, spec: Any, batch_size: int, precision: str, device: str, channels_last: bool) -> None:
        if precision not in AUTOCAST:
            raise ValueError(f"unknown precision {precision!r}; valid choices: {', '.join(AUTOCAST)}")
        self.spec, self.batch_size, self.precision = spec, batch_size, precision
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.dtype = torch.float64 if precision == "fp64" else torch.float32  # parameters and inputs
        self.autocast_dtype = AUTOCAST[precision]
        # init_scale 2**15 = Keras LossScaleOptimizer's initial_scale (torch's default is 2**16); both
        # double after 2000 finite steps and halve on overflow (the step is then skipped).
        self.scaler = (torch.amp.GradScaler(self.device.type, init_scale=2.0**15)
                       if precision == "fp16" else None)

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                              enabled=self.autocast_dtype is not None)

    def image(self, a: np.ndarray) -> torch.Tensor:
        """A (B, H, W, C) numpy batch -> NCHW on the device, in the model's dtype and memory format."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(0, 3, 1, 2)
        return x.to(self.device, self.dtype).contiguous(memory_format=fmt)

    def vectors(self, a: np.ndarray) -> torch.Tensor:
        """A (B, N) numpy batch -> on the device, in the model's dtype."""
        return torch.from_numpy(np.asarray(a, dtype=np.float32)).to(self.device, self.dtype)
