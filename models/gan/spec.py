"""One shared spec of each model's hyperparameters: both frameworks build from these values.

Framework-specific conventions (BatchNorm momentum, Adam epsilon, padding...) are translated from
this spec by each implementation; see models/gan/CONTRACT.md for every such translation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    image_shape: tuple[int, int, int]  # (height, width, channels), NHWC order
    noise_dim: int
    batch_size: int  # the model's default batch size
    learning_rate: float  # same for generator and discriminator
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float  # as passed to torch.optim.Adam (see CONTRACT.md for Keras' epsilon-hat)
    leaky_relu_slope: float
    bn_epsilon: float
    # Fraction of the running statistic kept at each update (Keras' `momentum` convention);
    # torch's `momentum` is 1 - this.
    bn_keep: float
    dropout_rate: float  # discriminator dropout (0.0: none)
    init: str  # "glorot_uniform" (Keras defaults) or "dcgan_normal" (N(0, 0.02), BN gamma N(1, 0.02))
    features: int = 64  # dcgan-64's ngf = ndf; unused by dcgan-mnist


DCGAN_MNIST = ModelSpec(
    name="dcgan-mnist",
    image_shape=(28, 28, 1),
    noise_dim=100,
    batch_size=256,
    learning_rate=1e-4,
    adam_beta1=0.9,
    adam_beta2=0.999,
    adam_epsilon=1e-7,
    leaky_relu_slope=0.3,  # Keras 3 LeakyReLU() default, which the TF tutorial relies on
    bn_epsilon=1e-3,  # Keras BatchNormalization default
    bn_keep=0.99,  # Keras BatchNormalization default momentum
    dropout_rate=0.3,
    init="glorot_uniform",
)

DCGAN_64 = ModelSpec(
    name="dcgan-64",
    image_shape=(64, 64, 3),
    noise_dim=100,
    batch_size=128,
    learning_rate=2e-4,
    adam_beta1=0.5,
    adam_beta2=0.999,
    adam_epsilon=1e-8,  # torch.optim.Adam default, as in pytorch/examples
    leaky_relu_slope=0.2,
    bn_epsilon=1e-5,  # torch BatchNorm2d default
    bn_keep=0.9,  # torch momentum 0.1
    dropout_rate=0.0,
    init="dcgan_normal",
)

# The family's models, in report order (models.registry.get_spec looks them up by name).
SPECS: dict[str, ModelSpec] = {s.name: s for s in (DCGAN_MNIST, DCGAN_64)}
