"""The DDPM train steps under each framework's compiled modes give the eager losses (CPU, batch 2, ddpm-tiny
made smaller still: 16x16 images, two levels, one res block each, attention at 8x8, the same kinds of layer).

TF: tf.function and tf.function(jit_compile=True) with Keras 3's AdamW (and fp16's LossScaleOptimizer).
torch: torch.compile (default mode). Compiling a U-Net takes tens of seconds on 2 cores, hence @slow.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.ddpm import parity
from models.ddpm.data import make_inputs
from models.ddpm.spec import DDPM_TINY, DDPMSpec

pytestmark = pytest.mark.slow
# GroupNorm, attention, stride-2 convs, upsampling and skip concatenations at a fraction of ddpm-tiny's
# XLA and Inductor compile times (the suite's slowest tests were these compiles).
SPEC = DDPMSpec(**{**DDPM_TINY.__dict__, "name": "ddpm-micro", "image_shape": (16, 16, 3),
                   "channel_mults": (1, 2), "num_res_blocks": 1, "attn_resolutions": (8,)})


def _losses(step, batches) -> np.ndarray:
    return np.array([float(step(*b)["mse"]) for b in batches])


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_ddpm_tf_function_and_xla_match_eager(precision):
    tf = pytest.importorskip("tensorflow")
    from models.ddpm import tf_ddpm

    data = make_inputs(SPEC, 2, 2, seed=3)
    weights = parity.probe_weights(SPEC, 1)
    results = {}
    for mode in ("eager", "function", "xla"):
        model = tf_ddpm.build(SPEC, batch_size=2, precision=precision, seed=1)
        tf_ddpm.set_weights(model, weights)
        step = (model.train_step if mode == "eager"
                else tf.function(model.train_step, jit_compile=mode == "xla"))
        results[mode] = _losses(step, model.to_framework_batches(*data))
        if mode != "eager":
            assert step.experimental_get_tracing_count() == 1, f"{mode} retraced"
    for mode in ("function", "xla"):
        rtol = 2e-3 if precision == "fp32" else 2e-2  # XLA fuses and rounds differently
        np.testing.assert_allclose(results[mode], results["eager"], rtol=rtol, atol=1e-4, err_msg=mode)


def test_ddpm_torch_compile_matches_eager():
    torch = pytest.importorskip("torch")
    from models.ddpm import torch_ddpm

    data = make_inputs(SPEC, 2, 2, seed=3)
    weights = parity.probe_weights(SPEC, 1)
    models = [torch_ddpm.build(SPEC, batch_size=2, seed=1) for _ in range(2)]
    for m in models:
        torch_ddpm.set_weights(m, weights)
    torch._dynamo.reset()
    compiled = torch.compile(models[1].train_step)
    np.testing.assert_allclose(_losses(compiled, models[1].to_framework_batches(*data)),
                               _losses(models[0].train_step, models[0].to_framework_batches(*data)),
                               rtol=1e-4, atol=1e-5)
