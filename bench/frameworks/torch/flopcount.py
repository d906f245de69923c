"""FLOPs a torch train step really executes, compiled code included (imports torch).

``torch.utils.flop_counter.FlopCounterMode`` cannot count a compiled step: it is a
``TorchDispatchMode``, and Dynamo refuses to run compiled frames under one ("non-infra torch dispatch
mode present"), so a step under it silently runs *eagerly* and counts the eager work.
``torch.profiler(with_flops=True)`` does see the compiled code's extern kernels (Inductor's CPU code
calls ``aten::convolution``, ``aten::convolution_backward``, ``aten::mm``, ``aten::addmm``...), but its
FLOP formulas cover forward ``conv2d``/``mm``/``addmm`` only, not ``convolution_backward``.

So: the profiler records every op with its input shapes and scalar arguments (``record_shapes``; the
``output_mask`` of ``convolution_backward`` says which gradients a call computes), and each op that
``FlopCounterMode`` has a formula for is replayed once on meta tensors of those shapes under
``FlopCounterMode``. Only the outermost such op of a call stack counts (``aten::conv2d`` ->
``aten::convolution`` is one convolution), as ``FlopCounterMode`` itself counts. CPU flash attention
(``_scaled_dot_product_flash_attention_for_cpu`` and its backward), which ``FlopCounterMode`` has no
formula for, gets the formula of the other fused attention kernels. Kernels that Inductor generates
itself (Triton matmuls/convolutions under max-autotune, the CPU GEMM template) call no aten op and are
not seen: the count is valid where matmuls and convolutions are extern calls (CPU default and compile
modes; CUDA without max-autotune).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import (
    FlopCounterMode,
    flop_registry,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)

aten = torch.ops.aten


def _cpu_flash(q: Any, k: Any, v: Any, *_: Any) -> int:
    return sdpa_flop_count(q.shape, k.shape, v.shape)


def _cpu_flash_backward(grad_out: Any, q: Any, k: Any, v: Any, *_: Any) -> int:
    return sdpa_backward_flop_count(grad_out.shape, q.shape, k.shape, v.shape)


# Formulas FlopCounterMode lacks, by op packet.
_EXTRA: dict[Any, Callable[..., int]] = {}
if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
    _EXTRA[aten._scaled_dot_product_flash_attention_for_cpu] = _cpu_flash
    _EXTRA[aten._scaled_dot_product_flash_attention_for_cpu_backward] = _cpu_flash_backward


@dataclass
class StepFlops:
    """What one call executed: total FLOPs, FLOPs and calls per aten op, and the
    ``convolution_backward`` output masks seen (input, weight, bias gradients: how many of each)."""

    total: int = 0
    by_op: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)
    conv_backward_masks: Counter = field(default_factory=Counter)


def _packet(name: str) -> Any:
    if not name.startswith("aten::"):
        return None
    packet = getattr(aten, name[len("aten::"):], None)
    return packet if packet in flop_registry or packet in _EXTRA else None


def _replay_args(packet: Any, shapes: list, concrete: list | None) -> list:
    """Positional arguments of the op's default overload: meta tensors of the recorded shapes, the
    recorded scalars; trailing keyword-only arguments (``out=`` of Inductor's extern calls) dropped."""
    args: list = []
    for i, arg in enumerate(packet.default._schema.arguments):
        if arg.kwarg_only or i >= len(shapes):
            break
        kind = str(arg.type)
        value = concrete[i] if concrete and i < len(concrete) else None
        if "Tensor" in kind and "[]" not in kind:
            optional_absent = kind.endswith("?") and not shapes[i] and value in (None, "")
            args.append(None if optional_absent else torch.empty(shapes[i], device="meta"))
        else:
            args.append(value)
    return args


def op_flops(packet: Any, shapes: list, concrete: list | None) -> int:
    args = _replay_args(packet, shapes, concrete)
    if packet in _EXTRA:
        return int(_EXTRA[packet](*args))
    with FlopCounterMode(display=False) as counter:
        packet.default(*args)
    return int(counter.get_total_flops())


def _counted_ancestor(event: Any) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if _packet(parent.name) is not None:
            return True
        parent = parent.cpu_parent
    return False


def count_flops(fn: Callable[[], Any]) -> StepFlops:
    """Run ``fn()`` once under the profiler; the FLOPs of the matmuls, convolutions and attention
    kernels it executed (eager or compiled), by ``FlopCounterMode``'s convention."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        fn()
    out = StepFlops()
    for event in prof.events():
        packet = _packet(event.name)
        if packet is None or _counted_ancestor(event):
            continue
        flops = op_flops(packet, event.input_shapes, event.concrete_inputs)
        out.total += flops
        out.by_op[event.name] += flops
        out.calls[event.name] += 1
        if event.name == "aten::convolution_backward" and event.concrete_inputs:
            mask = event.concrete_inputs[-1]
            out.conv_backward_masks["".join("x" if m else "-" for m in mask)] += 1
    return out
