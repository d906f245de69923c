"""FLOPs of one train step, counted analytically from ``models.gan.arch``: one number for both frameworks.

Convention (the one torch.utils.flop_counter.FlopCounterMode uses, so the test can cross-check it
exactly): only matrix multiplications and convolutions count, 2 FLOPs per multiply-accumulate; a
(transposed) convolution's forward, input-gradient and weight-gradient each cost
``2 * B * C_in * C_out * k * k * S``, S the spatial size of the *non-upsampled* side (the output of a
convolution, the input of a transposed one), so padding and cropping do not change it. Bias additions,
BatchNorm, activations, dropout, losses and the optimizer update are not counted.

Work counted is the algorithm's *required* work (gradients nobody asks for are not computed), as in
the tutorial's step: forward G(z), D(real), D(G(z)); g_loss differentiated w.r.t. G's parameters
(through D's fake path: input gradients only), d_loss w.r.t. D's parameters (both paths: weight
gradients, input gradients except into the images). A framework that computes more (e.g. TF eager's
unpruned conv gradients) runs more FLOPs than this count; achieved FLOP/s uses this count for both.
"""

from __future__ import annotations

from ..common.chain import Layer, layer_flops
from .arch import networks
from .spec import ModelSpec

__all__ = ["layer_flops", "train_step_flops"]


def _network_flops(layers: list[Layer], batch_size: int) -> tuple[int, int]:
    """(sum of all layers' FLOPs, FLOPs of the first weight layer)."""
    per = [layer_flops(ly, batch_size) for ly in layers]
    first = next(f for f in per if f)
    return sum(per), first


def train_step_flops(spec: ModelSpec, batch_size: int) -> int:
    nets = networks(spec)
    g, g_first = _network_flops(nets["generator"], batch_size)
    d, d_first = _network_flops(nets["discriminator"], batch_size)
    generator = g + g + (g - g_first)  # forward, weight grads, input grads (none into the noise)
    discriminator = (
        2 * d  # forward on real and on fake
        + d  # g_loss: input gradients along the fake path, down to the images (into G)
        + 2 * d  # d_loss: weight gradients, real and fake paths
        + 2 * (d - d_first)  # d_loss: input gradients, not into the images (fake is a constant to D)
    )
    return generator + discriminator


def generate_flops(spec: ModelSpec, batch_size: int, steps: int = 1) -> int:
    """One generate call: the generator's forward from noise (BatchNorm not counted)."""
    return _network_flops(networks(spec)["generator"], batch_size)[0]
