"""The constants both frameworks' steps use, computed once in numpy float64: the noise schedule and
the sinusoidal time-embedding frequencies (Ho et al., ``diffusion_tf/diffusion_utils_2.py`` and
``nn.get_timestep_embedding``). Each implementation casts them to its compute dtype."""

from __future__ import annotations

import numpy as np

from .spec import DDPMSpec


def betas(spec: DDPMSpec) -> np.ndarray:
    """Linear β_t from beta_start to beta_end over T steps (float64)."""
    return np.linspace(spec.beta_start, spec.beta_end, spec.timesteps, dtype=np.float64)


def noising_tables(spec: DDPMSpec) -> tuple[np.ndarray, np.ndarray]:
    """(sqrt(ᾱ_t), sqrt(1 − ᾱ_t)) for t = 0..T−1, ᾱ_t = Π_{s≤t}(1 − β_s): x_t = a[t]·x0 + b[t]·ε."""
    alphas_cumprod = np.cumprod(1.0 - betas(spec))
    return np.sqrt(alphas_cumprod), np.sqrt(1.0 - alphas_cumprod)


def embedding_frequencies(spec: DDPMSpec) -> np.ndarray:
    """exp(−log(10000)·i/(half − 1)), i < half = base_channels/2: the embedding is
    [sin(t·f), cos(t·f)] (sin first, as Ho et al.; some ports put cos first or divide by half)."""
    half = spec.base_channels // 2
    return np.exp(-np.log(10000.0) * np.arange(half, dtype=np.float64) / (half - 1))
