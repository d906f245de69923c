"""FLOPs of one train step, counted analytically from ``models.ddpm.arch``: one number for both frameworks.

Convention (torch.utils.flop_counter.FlopCounterMode's, so the test can check it exactly): only
convolutions and matrix multiplications count, 2 FLOPs per multiply-accumulate. A convolution, a Dense
("nin" over the channels of every position, or on the time embedding) costs ``2·B·C_in·C_out·k²·S`` (S
output positions) for its forward, again for its weight gradient and again for its input gradient;
self-attention over L = H·W positions of C channels costs two batched matmuls forward (QKᵀ and PV,
``2·B·L²·C`` each) and four backward (dP, dV, dQ, dK). GroupNorm, SiLU, the softmax, the scaling,
upsampling, concatenation, the noising, the loss and the optimiser are not counted.

Work counted is the algorithm's *required* work: no input gradient into x_t (conv_in) or into the
sinusoidal embedding (temb dense0). FlopCounterMode sees exactly this with the unfused ("math")
attention; it cannot see torch's fused CPU attention kernel at all, and it counts a fifth backward
matmul for the fused CUDA kernels, which recompute QKᵀ (CONTRACT.md, "FLOPs").
"""

from __future__ import annotations

from .arch import Layer, unet
from .spec import DDPMSpec

# Weight layers whose input needs no gradient: the step's inputs (x_t; the embedding of t).
NO_INPUT_GRADIENT = ("conv_in", "temb_dense0")


def layer_flops(layer: Layer, batch_size: int) -> int:
    """Forward FLOPs of one weight layer (= its weight-gradient FLOPs = its input-gradient FLOPs)."""
    if layer.kind == "gn":
        return 0
    positions = layer.size * layer.size if layer.kind in ("conv", "nin") else 1
    return 2 * batch_size * layer.cin * layer.cout * layer.kernel**2 * positions


def attention_flops(spec: DDPMSpec, batch_size: int) -> int:
    """QKᵀ and PV of every attention block, forward and backward (6 matmuls of 2·B·L²·C each)."""
    total = 0
    for blk in unet(spec).attention_blocks():
        positions = blk.size * blk.size
        total += 6 * 2 * batch_size * positions * positions * blk.channels
    return total


def forward_flops(spec: DDPMSpec, batch_size: int) -> int:
    per = sum(layer_flops(ly, batch_size) for ly in unet(spec).layers())
    return per + attention_flops(spec, batch_size) // 3


def train_step_flops(spec: DDPMSpec, batch_size: int) -> int:
    total = 0
    for ly in unet(spec).layers():
        f = layer_flops(ly, batch_size)
        total += 2 * f if ly.name in NO_INPUT_GRADIENT else 3 * f  # forward, weight grad[, input grad]
    return total + attention_flops(spec, batch_size)


def generate_flops(spec: DDPMSpec, batch_size: int, steps: int) -> int:
    """One generate call: ``steps`` U-Net forwards (the update rule's elementwise work not counted)."""
    return steps * forward_flops(spec, batch_size)
