"""What the three torch implementations share (imports torch: only ever from a models/<family>/torch_*.py).

The Adam implementation switch: torch computes the same Adam/AdamW update with a per-parameter Python
loop ("single-tensor"), multi-tensor kernels ("foreach") or one fused kernel per step ("fused");
``"default"`` lets torch choose (foreach on CUDA, single-tensor on CPU: ``_default_to_fused_or_foreach``).
"""

from __future__ import annotations

import torch

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
