"""The train steps under each framework's compiled modes give the eager losses (CPU, batch 2).

TF: tf.function and tf.function(jit_compile=True) with the Keras 3 optimizers (and fp16's
LossScaleOptimizer). torch: torch.compile (default mode; the CUDA-only modes are the worker's).
Compiling takes tens of seconds on 2 cores, hence @slow.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.gan import FAMILY
from models.gan.data import make_batches
from models.registry import get_spec

pytestmark = pytest.mark.slow
MODEL_NAMES = FAMILY.model_names


def _losses(step, batches):
    """One row per train step: its named losses in the family's order."""
    outs = [step(r, z) for r, z in batches]
    return np.array([[float(out[name]) for name in FAMILY.losses] for out in outs])


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_tf_function_and_xla_match_eager(model, precision):
    tf = pytest.importorskip("tensorflow")
    from models.gan import tf_dcgan

    spec = get_spec(model)
    data = make_batches(spec, 2, 2, seed=3)
    results = {}
    for mode in ("eager", "function", "xla"):
        gan = tf_dcgan.build(spec, batch_size=2, precision=precision, dropout=False, seed=1)
        step = gan.train_step if mode == "eager" else tf.function(gan.train_step, jit_compile=mode == "xla")
        results[mode] = _losses(step, gan.to_framework_batches(*data))
    for mode in ("function", "xla"):
        # fp16: XLA fuses and rounds differently (measured 0.3% on dcgan-64).
        rtol = 2e-3 if precision == "fp32" else 2e-2
        np.testing.assert_allclose(results[mode], results["eager"], rtol=rtol, atol=1e-4, err_msg=mode)


def test_torch_compile_matches_eager():
    torch = pytest.importorskip("torch")
    from models.gan import torch_dcgan

    spec = get_spec("dcgan-mnist")
    data = make_batches(spec, 2, 2, seed=3)
    eager = torch_dcgan.build(spec, batch_size=2, dropout=False, seed=1)
    compiled = torch_dcgan.build(spec, batch_size=2, dropout=False, seed=1)
    torch._dynamo.reset()
    step = torch.compile(compiled.train_step)
    np.testing.assert_allclose(_losses(step, compiled.to_framework_batches(*data)),
                               _losses(eager.train_step, eager.to_framework_batches(*data)),
                               rtol=1e-4, atol=1e-5)


def test_torch_compiled_optimizer_step_matches_eager():
    """The adam-compiled variant (bench.frameworks.torch.optim: torch.compile(fullgraph=False) of the
    optimizer step) makes the same Adam updates: the losses of later steps, which depend on them, agree."""
    torch = pytest.importorskip("torch")
    from bench.frameworks.torch.optim import compile_optimizer_steps
    from models.gan import torch_dcgan

    spec = get_spec("dcgan-mnist")
    data = make_batches(spec, 3, 2, seed=3)
    eager = torch_dcgan.build(spec, batch_size=2, dropout=False, seed=1)
    compiled = torch_dcgan.build(spec, batch_size=2, dropout=False, seed=1)
    torch._dynamo.reset()
    assert compile_optimizer_steps(compiled) == ["g_opt", "d_opt"]
    got = _losses(compiled.train_step, compiled.to_framework_batches(*data))
    np.testing.assert_allclose(got, _losses(eager.train_step, eager.to_framework_batches(*data)),
                               rtol=1e-4, atol=1e-5)
    for p, q in zip(compiled.g_params, eager.g_params, strict=True):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-6)
