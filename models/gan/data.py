"""A GAN's step inputs as numpy arrays, framework-free: ``(real, noise)``.

``make_batches`` returns ``real`` (n_batches, B, H, W, C) float32 NHWC in [-1, 1] (synthetic images, the
default, or local MNIST files; see ``models.gan.data``) and ``noise`` (n_batches, B, noise_dim) float32
N(0, 1), both deterministic in ``seed``.
"""

from __future__ import annotations

import numpy as np

from ..data import check_mnist, step_images
from .spec import SPECS, ModelSpec

check_data = check_mnist


def make_batches(spec: ModelSpec, batch_size: int, n_batches: int, seed: int,
                 data: str = "synthetic") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    real = step_images(spec, batch_size, n_batches, rng, data, SPECS)
    noise = rng.standard_normal((n_batches, batch_size, spec.noise_dim), dtype=np.float32)
    return np.ascontiguousarray(real, dtype=np.float32), noise
