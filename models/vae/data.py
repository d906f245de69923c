"""A VAE step's inputs as numpy arrays, framework-free: ``(images, eps)``.

``make_batches`` returns ``images`` (n_batches, B, 28, 28, 1) float32 NHWC in [0, 1] (the Keras example's
``x / 255``; synthetic by default, or local MNIST files via ``--data``) and ``eps`` (n_batches, B,
latent_dim) float32 N(0, 1): the reparameterisation noise, drawn here from the seed rather than inside
the step so that both frameworks use the same ε (the example draws it with ``keras.random.normal``).
"""

from __future__ import annotations

import numpy as np

from ..data import MNIST_SHAPE, load_mnist, sample_images, synthetic_images
from ..family import DataError
from .spec import VAESpec


def make_batches(spec: VAESpec, batch_size: int, n_batches: int, seed: int,
                 data: str = "synthetic") -> tuple[np.ndarray, np.ndarray]:
    if batch_size < 1 or n_batches < 1:
        raise ValueError(f"batch_size and n_batches must be >= 1 (got {batch_size}, {n_batches})")
    rng = np.random.default_rng([seed, 11])
    n = batch_size * n_batches
    if data == "synthetic":
        images = synthetic_images(spec.image_shape, n, rng)
    else:
        if spec.image_shape != MNIST_SHAPE:
            raise DataError(f"{data}: MNIST images are 28x28x1, {spec.name} takes {spec.image_shape}")
        images = sample_images(load_mnist(data), n, rng)
    # The shared helpers give [-1, 1]; BCE targets are pixel intensities in [0, 1].
    images = (images.reshape(n_batches, batch_size, *spec.image_shape) + 1.0) / 2.0
    eps = rng.standard_normal((n_batches, batch_size, spec.latent_dim), dtype=np.float32)
    return np.ascontiguousarray(np.clip(images, 0.0, 1.0), dtype=np.float32), eps


def check_data(spec: VAESpec, data: str) -> None:
    """DataError unless ``data`` is "synthetic" or a readable MNIST file (checked once, up front)."""
    if data != "synthetic":
        load_mnist(data)
