"""A VAE step's inputs as numpy arrays, framework-free: ``(images, eps)``.

``make_batches`` returns ``images`` (n_batches, B, 28, 28, 1) float32 NHWC in [0, 1] (the Keras example's
``x / 255``; synthetic by default, or local MNIST files via ``--data``) and ``eps`` (n_batches, B,
latent_dim) float32 N(0, 1): the reparameterisation noise, drawn here from the seed rather than inside
the step so that both frameworks use the same ε (the example draws it with ``keras.random.normal``).
"""

from __future__ import annotations

import numpy as np

from ..data import check_mnist, step_images
from .spec import SPECS, VAESpec

check_data = check_mnist


def make_batches(spec: VAESpec, batch_size: int, n_batches: int, seed: int,
                 data: str = "synthetic") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 11])
    images = step_images(spec, batch_size, n_batches, rng, data, SPECS)
    # The shared helpers give [-1, 1]; BCE targets are pixel intensities in [0, 1].
    images = (images + 1.0) / 2.0
    eps = rng.standard_normal((n_batches, batch_size, spec.latent_dim), dtype=np.float32)
    return np.ascontiguousarray(np.clip(images, 0.0, 1.0), dtype=np.float32), eps
