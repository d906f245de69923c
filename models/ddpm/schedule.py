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


def sampling_schedule(spec: DDPMSpec, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The ancestral sampler of Ho et al. (Algorithm 2) in ``steps`` denoising steps on the model's
    β schedule: (timesteps τ, in sampling order (descending); coefficients (steps, 3) float64 of the
    update x ← c1·(x − c2·ε_θ(x, τ)) + σ·z, as [c1, c2, σ]).

    With steps = T it is Algorithm 2 exactly (c1 = 1/√α_t, c2 = β_t/√(1−ᾱ_t), σ = √β_t, and σ = 0 at
    the last step). Fewer steps respace the same schedule (Nichol & Dhariwal, 2021): τ evenly spaced
    over [0, T−1], β'_i = 1 − ᾱ_{τ_i}/ᾱ_{τ_{i−1}}, and Algorithm 2 on β'."""
    if not 1 <= steps <= spec.timesteps:
        raise ValueError(f"denoising steps must be in 1..{spec.timesteps} (got {steps})")
    alphas_cumprod = np.cumprod(1.0 - betas(spec))
    tau = np.unique(np.round(np.linspace(0, spec.timesteps - 1, steps)).astype(np.int64))
    ab = alphas_cumprod[tau]
    ab_prev = np.concatenate([[1.0], ab[:-1]])
    beta = 1.0 - ab / ab_prev
    c1 = 1.0 / np.sqrt(1.0 - beta)
    c2 = beta / np.sqrt(1.0 - ab)
    sigma = np.sqrt(beta)
    sigma[0] = 0.0  # τ = 0 is the last step: no noise is added to the sample
    coefs = np.stack([c1, c2, sigma], axis=1)
    return tau[::-1].copy(), coefs[::-1].copy()
