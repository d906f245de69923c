"""What every family's ``generate`` scenario shares, framework-free: its hooks and its inputs' shape.

A generate call is one loop, the same in every framework and runtime::

    x = first
    for extra in per_step:
        x = network(x, *extra)
    return x

``network`` is the family's generative module in inference mode (a DCGAN's generator, a VAE's decoder
with its sigmoid, one DDPM denoising step: the U-Net and the ancestral update), called eagerly,
compiled, or through an exported runtime. ``first`` and every ``per_step`` entry are numpy arrays drawn
from the seed (images NHWC), so every framework sees the same noise: one entry for a single-call
generator, S for a sampler of S denoising steps. Nothing here imports a framework or ``bench``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# (first, per_step): the initial input and one tuple of extra inputs per network call.
GenerateInputs = tuple[np.ndarray, list[tuple[np.ndarray, ...]]]


@dataclass(frozen=True)
class GenerateHooks:
    """What the ``generate`` scenario (bench/scenarios/generate.py) reads from a family.

    The family's framework modules each have ``generate_module(model) -> module`` (torch: an
    ``nn.Module`` in eval mode; TensorFlow: a ``keras.Model`` to call with ``training=False``) whose
    call is ``module(x, *extra) -> next x``."""

    what: str  # one line for the report: which module generates from what
    # (spec, batch_size, seed, denoising_steps) -> GenerateInputs (numpy, images NHWC)
    make_inputs: Callable[[Any, int, int, int], GenerateInputs]
    # (spec, batch_size, denoising_steps) -> FLOPs of one whole generate call (every network call)
    call_flops: Callable[[Any, int, int], int]
    denoising: bool = False  # True: a call runs S denoising steps (the run's setting); else one call


def run_loop(network: Callable[..., Any], first: Any, per_step: Sequence[tuple[Any, ...]]) -> Any:
    """The generate call: ``network`` applied once per entry of ``per_step`` (module docstring)."""
    x = first
    for extra in per_step:
        x = network(x, *extra)
    return x


MakeInputs = Callable[[Any, int, int, int], GenerateInputs]


def single_call_inputs(shape_of: Callable[[Any], Sequence[int]]) -> MakeInputs:
    """make_inputs of a one-call generator whose input is N(0, I) noise of ``shape_of(spec)`` per
    image (a DCGAN's z, a VAE's latent), drawn from the seed."""
    def make(spec: Any, batch_size: int, seed: int, steps: int) -> GenerateInputs:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
        rng = np.random.default_rng([seed, 23])
        first = rng.standard_normal((batch_size, *shape_of(spec)), dtype=np.float32)
        return first, [()]
    return make
