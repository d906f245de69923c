"""The VAE's hyperparameters, one spec that both frameworks build from.

The model is the convolutional VAE of the Keras example "Variational AutoEncoder" (fchollet): a 2-d
latent, Adam with Keras' defaults, batch 128 on 28×28×1 images in [0, 1]. Every framework default that
differs from it is translated by each implementation; see models/vae/CONTRACT.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VAESpec:
    name: str
    image_shape: tuple[int, int, int]  # (height, width, channels), NHWC order
    latent_dim: int
    hidden: int  # units of the encoder's Dense before the two latent heads
    batch_size: int  # the model's default batch size
    learning_rate: float
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float  # the same number to both Adams (Keras' is "epsilon hat", see CONTRACT.md)
    init: str = "glorot_uniform"  # Keras' default kernel initializer; biases zero


VAE_MNIST = VAESpec(
    name="vae-mnist",
    image_shape=(28, 28, 1),
    latent_dim=2,
    hidden=16,
    batch_size=128,  # the example's vae.fit(..., batch_size=128)
    learning_rate=1e-3,  # keras.optimizers.Adam() defaults, as in the example
    adam_beta1=0.9,
    adam_beta2=0.999,
    adam_epsilon=1e-7,
)

# The family's models, in report order.
SPECS: dict[str, VAESpec] = {s.name: s for s in (VAE_MNIST,)}
