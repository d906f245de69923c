"""FLOPs of one VAE train step, counted analytically from ``models.vae.arch``: one number for both frameworks.

Convention (torch.utils.flop_counter.FlopCounterMode's, so the test can cross-check it exactly): only
matrix multiplications and convolutions count, 2 FLOPs per multiply-accumulate; a (transposed)
convolution's forward, input-gradient and weight-gradient each cost ``2 * B * C_in * C_out * k * k * S``,
S the spatial size of the *non-upsampled* side (a convolution's output, a transposed one's input), so
padding and cropping do not change it. Biases, activations, the reparameterisation, the losses and the
optimiser update are not counted.

The step needs every layer's forward and weight gradient, and every input gradient except the first
convolution's (into the images, which are data): ``3 * (encoder + decoder) - conv0``. The latent
heads are two Dense layers on the same features; each has its own input gradient (summed).
"""

from __future__ import annotations

from ..common.chain import layer_flops
from .arch import networks, weight_layers
from .spec import VAESpec

__all__ = ["forward_flops", "layer_flops", "train_step_flops"]


def forward_flops(spec: VAESpec, batch_size: int) -> int:
    return sum(layer_flops(ly, batch_size) for layers in networks(spec).values() for ly in layers)


def train_step_flops(spec: VAESpec, batch_size: int) -> int:
    first = weight_layers(networks(spec)["encoder"])[0]  # no input gradient into the images
    return 3 * forward_flops(spec, batch_size) - layer_flops(first, batch_size)


def generate_flops(spec: VAESpec, batch_size: int, steps: int = 1) -> int:
    """One generate call: the decoder's forward from a latent (the sigmoid not counted)."""
    return sum(layer_flops(ly, batch_size) for ly in networks(spec)["decoder"])
