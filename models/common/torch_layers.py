"""torch modules of the chain layers (``models.common.chain``) that more than one family uses (imports
torch: only ever from a models/<family>/torch_*.py). A family builds its own kinds (e.g. BatchNorm with
its spec's settings) and hands the rest to ``chain_modules``."""

from __future__ import annotations

import torch
from torch import nn

from .chain import Layer


class Crop(nn.Module):
    """Drops rows/columns after a transposed convolution: TF's asymmetric 'SAME' crop."""

    def __init__(self, before: int, after: int) -> None:
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        return x[..., self.before:h - self.after, self.before:w - self.after]


class ToImage(nn.Module):
    """Flat features -> NCHW image; features in torch's (c, h, w) order (weights are permuted to match)."""

    def __init__(self, hwc: tuple[int, ...]) -> None:
        super().__init__()
        self.chw = (hwc[2], hwc[0], hwc[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.chw)


def chain_modules(layer: Layer) -> list[tuple[str, nn.Module]]:
    """(name, module) pairs of one dense, conv, convt, relu, flatten or reshape layer."""
    n = layer.name
    if layer.kind == "dense":
        return [(n, nn.Linear(layer.in_shape[-1], layer.filters, bias=layer.use_bias))]
    if layer.kind in ("conv", "convt"):
        before, after = layer.pads
        sym = min(before, after)
        make = nn.Conv2d if layer.kind == "conv" else nn.ConvTranspose2d
        conv = make(layer.in_shape[-1], layer.filters, layer.kernel, layer.stride, padding=sym,
                    bias=layer.use_bias)
        if before == after:
            return [(n, conv)]
        if layer.kind == "convt":
            # The usual port, padding=p + output_padding=1, gives the right size but crops the wrong side.
            return [(n, conv), (f"{n}_crop", Crop(before - sym, after - sym))]
        # TF 'SAME' pads the odd pixel bottom/right; torch's padding= is symmetric (padding=1 would pad
        # (1, 1): the same output shape with every output shifted by one input pixel). The convolution
        # pads the symmetric part itself and ZeroPad2d only the rest (1, 2) = 1 + (0, 1): its input
        # gradient is then computed over 15x15 instead of 17x17 positions (dcgan-mnist conv2: -15%
        # fwd+bwd).
        before, after = before - sym, after - sym
        return [(f"{n}_pad", nn.ZeroPad2d((before, after, before, after))), (n, conv)]
    if layer.kind == "relu":
        return [(n, nn.ReLU())]
    if layer.kind == "flatten":
        return [(n, nn.Flatten())]  # (c, h, w) order; the next Linear's input columns are permuted
    if layer.kind == "reshape":
        return [(n, ToImage(layer.out_shape))]
    raise ValueError(f"unknown layer kind {layer.kind!r}")
