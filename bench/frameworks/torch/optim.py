"""The compiled optimizer step of the ``adam-compiled`` variant (imports torch: in a cell's process)."""

from __future__ import annotations

from typing import Any

import torch


def compile_optimizer_steps(model: Any) -> list[str]:
    """Compile every optimizer of ``model`` (its attributes that are ``torch.optim.Optimizer``s) the way
    PyTorch's recipe "Compiling the optimizer with torch.compile" does: ``torch.compile(fullgraph=False)``
    of a function that calls ``opt.step()``. The optimizer's ``step`` is replaced by that function, so
    the model's own step (and GradScaler's ``scaler.step(opt)``) runs the compiled update. Returns the
    attribute names compiled."""
    names = []
    for name, opt in list(vars(model).items()):
        if isinstance(opt, torch.optim.Optimizer):
            compiled = _compiled_call(opt.step)  # the bound method, taken before it is replaced
            opt.step = lambda *args, _fn=compiled, **kwargs: _fn()  # nothing here passes a closure
            names.append(name)
    return names


def _compiled_call(step: Any) -> Any:
    @torch.compile(fullgraph=False)
    def compiled_step() -> None:
        step()

    return compiled_step
