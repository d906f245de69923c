"""A GAN's step inputs as numpy arrays, framework-free: ``(real, noise)``.

``make_batches`` returns ``real`` (n_batches, B, H, W, C) float32 NHWC in [-1, 1] (synthetic images, the
default, or local MNIST files; see ``models.gan.data``) and ``noise`` (n_batches, B, noise_dim) float32
N(0, 1), both deterministic in ``seed``.
"""

from __future__ import annotations

import numpy as np

from ..data import MNIST_SHAPE, load_mnist, sample_images, synthetic_images
from ..family import DataError
from .spec import ModelSpec


def make_batches(spec: ModelSpec, batch_size: int, n_batches: int, seed: int,
                 data: str = "synthetic") -> tuple[np.ndarray, np.ndarray]:
    if batch_size < 1 or n_batches < 1:
        raise ValueError(f"batch_size and n_batches must be >= 1 (got {batch_size}, {n_batches})")
    rng = np.random.default_rng([seed, 7])
    n = batch_size * n_batches
    if data == "synthetic":
        images = synthetic_images(spec.image_shape, n, rng)
    else:
        _check_shape(spec, data)
        images = sample_images(load_mnist(data), n, rng)
    real = images.reshape(n_batches, batch_size, *spec.image_shape)
    noise = rng.standard_normal((n_batches, batch_size, spec.noise_dim), dtype=np.float32)
    return np.ascontiguousarray(real, dtype=np.float32), noise


def check_data(spec: ModelSpec, data: str) -> None:
    """DataError unless ``data`` is "synthetic" or a readable MNIST file (checked once, up front).

    Whether the images fit the model is left to ``make_batches``: a model they do not fit fails its
    own cells (with a DataError naming the model that fits), the rest of the run goes on.
    """
    if data != "synthetic":
        load_mnist(data)


def _check_shape(spec: ModelSpec, data: str) -> None:
    if spec.image_shape != MNIST_SHAPE:
        h, w, c = spec.image_shape
        raise DataError(f"{data}: MNIST images are 28x28x1 and fit only dcgan-mnist, "
                        f"not {spec.name} ({h}x{w}x{c}); use data 'synthetic'")
