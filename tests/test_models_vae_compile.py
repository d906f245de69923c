"""vae-mnist's train step under each framework's compiled modes gives the eager losses (CPU, batch 2).

TF: tf.function and tf.function(jit_compile=True) with the Keras 3 optimizer (and fp16's
LossScaleOptimizer); torch: torch.compile (default mode). Compiling takes tens of seconds on 2 cores,
hence @slow, as tests/test_models_compile.py for the DCGANs.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.vae import FAMILY
from models.vae.data import make_batches

pytestmark = pytest.mark.slow
SPEC = FAMILY.specs["vae-mnist"]


def _losses(step, batches):
    """One row per train step: its named losses in the family's order."""
    return np.array([[float(out[k]) for k in FAMILY.losses] for out in (step(x, e) for x, e in batches)])


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tf_function_and_xla_match_eager(precision):
    tf = pytest.importorskip("tensorflow")
    from models.vae import tf_vae

    data = make_batches(SPEC, 2, 3, seed=3)
    results = {}
    for mode in ("eager", "function", "xla"):
        vae = tf_vae.build(SPEC, batch_size=2, precision=precision, seed=1)
        step = vae.train_step if mode == "eager" else tf.function(vae.train_step, jit_compile=mode == "xla")
        results[mode] = _losses(step, vae.to_framework_batches(*data))
    for mode in ("function", "xla"):
        # KL (≈1e-2) is compared on the absolute tolerance; fp16: XLA fuses and rounds differently.
        rtol = 2e-3 if precision == "fp32" else 2e-2
        np.testing.assert_allclose(results[mode], results["eager"], rtol=rtol, atol=1e-3, err_msg=mode)


def test_torch_compile_matches_eager():
    torch = pytest.importorskip("torch")
    from models.vae import torch_vae

    data = make_batches(SPEC, 2, 3, seed=3)
    eager = torch_vae.build(SPEC, batch_size=2, seed=1)
    compiled = torch_vae.build(SPEC, batch_size=2, seed=1)
    torch._dynamo.reset()
    step = torch.compile(compiled.train_step)
    np.testing.assert_allclose(_losses(step, compiled.to_framework_batches(*data)),
                               _losses(eager.train_step, eager.to_framework_batches(*data)),
                               rtol=1e-4, atol=1e-5)
