"""A DDPM step's inputs as numpy arrays, framework-free: ``(images, t, eps)``.

``make_inputs`` returns ``images`` (n_batches, B, 32, 32, 3) float32 NHWC in [-1, 1] (synthetic smooth
images: the benchmark measures speed and parity, not sample quality), ``t`` (n_batches, B) int32
timesteps uniform in [0, T) and ``eps`` (n_batches, B, 32, 32, 3) float32 N(0, 1) noise, all
deterministic in ``seed``: both frameworks noise the same images with the same ε at the same t.
"""

from __future__ import annotations

import numpy as np

from ..data import check_mnist, synthetic_images
from ..family import DataError
from ..generate import GenerateInputs
from .schedule import sampling_schedule
from .spec import DDPMSpec


def make_inputs(spec: DDPMSpec, batch_size: int, n_batches: int, seed: int,
                data: str = "synthetic") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if batch_size < 1 or n_batches < 1:
        raise ValueError(f"batch_size and n_batches must be >= 1 (got {batch_size}, {n_batches})")
    if data != "synthetic":
        h, w, c = spec.image_shape
        raise DataError(f"{data}: {spec.name} trains on synthetic {h}x{w}x{c} images only (MNIST is "
                        "28x28x1); use data 'synthetic'")
    rng = np.random.default_rng([seed, 11])
    n = batch_size * n_batches
    images = synthetic_images(spec.image_shape, n, rng).reshape(n_batches, batch_size, *spec.image_shape)
    t = rng.integers(0, spec.timesteps, (n_batches, batch_size), dtype=np.int32)
    eps = rng.standard_normal((n_batches, batch_size, *spec.image_shape), dtype=np.float32)
    return np.ascontiguousarray(images, dtype=np.float32), t, eps


check_data = check_mnist  # an MNIST file fails this model's cells (make_inputs), not the run


def make_generate_inputs(spec: DDPMSpec, batch_size: int, seed: int, steps: int) -> GenerateInputs:
    """The sampler's inputs (models.generate): x_T ~ N(0, I), then per denoising step (τ as int32 per
    image, its noise z ~ N(0, I), its [c1, c2, σ] per image as float32), all from the seed."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
    tau, coefs = sampling_schedule(spec, steps)
    rng = np.random.default_rng([seed, 29])
    shape = (batch_size, *spec.image_shape)
    x_t = rng.standard_normal(shape, dtype=np.float32)
    per_step = [(np.full((batch_size,), t, np.int32), rng.standard_normal(shape, dtype=np.float32),
                 np.tile(c.astype(np.float32), (batch_size, 1))) for t, c in zip(tau, coefs, strict=True)]
    return x_t, per_step
