"""Reduced precision on CPU: the DDPM's bf16 and fp16 train steps give losses close to fp32.

ddpm-tiny (the ddpm-32 graph at width 16: fp16 convolutions at full width take minutes on a CPU
without fp16 units), batch 2, the probe weights (no near-zero layer, so the prediction is not ~0 and
the loss really depends on the precision), the same batches in every precision. Step 1 sees
identical weights, so its losses differ only by rounding; step 2 is compared for bf16 only, because
fp16's dynamic loss scaling may skip a first step that overflows (both frameworks start at 2**15).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from models.ddpm import parity
from models.ddpm.data import make_inputs
from models.ddpm.spec import DDPM_TINY

# |loss_low − loss_fp32| <= ABS + REL·|loss_fp32|. Measured worst: 34% of it (bf16, TF; torch 15%);
# fp16 1% (TF), 0.05% (torch).
TOLERANCE = (0.005, 0.005)
STEP2 = (0.01, 0.01)  # bf16 step 2, after one low-precision update (measured worst: 6% of it, torch)
BATCH = 2


def _fp16_unsupported(framework: str) -> str | None:
    """Why fp16 cannot run on this CPU (None when it can): one tiny convolution, as the models use."""
    try:
        if framework == "tf_ddpm":
            import tensorflow as tf

            x = tf.ones((1, 4, 4, 1), tf.float16)
            tf.nn.conv2d(x, tf.ones((2, 2, 1, 1), tf.float16), 1, "SAME").numpy()
        else:
            import torch

            with torch.autocast("cpu", dtype=torch.float16):
                torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 2, 2)).sum().item()
    except Exception as e:  # any failure means "not supported here"
        first = str(e).splitlines()[0][:120] if str(e) else ""
        return f"fp16 not supported on this CPU by {framework}: {type(e).__name__}: {first}"
    return None


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("framework", [pytest.param("tf_ddpm", id="tf"),
                                       pytest.param("torch_ddpm", id="torch")])
def test_ddpm_low_precision_losses_close_to_fp32(framework, precision):
    pytest.importorskip("tensorflow" if framework == "tf_ddpm" else "torch")
    mod = importlib.import_module(f"models.ddpm.{framework}")
    if precision == "fp16" and (reason := _fp16_unsupported(framework)):
        pytest.skip(reason)
    spec = DDPM_TINY
    weights = parity.probe_weights(spec, 5)
    data = make_inputs(spec, BATCH, 2, seed=11)
    losses = {}
    for p in ("fp32", precision):
        model = mod.build(spec, batch_size=BATCH, precision=p, seed=5)
        mod.set_weights(model, weights)
        losses[p] = [float(model.train_step(*batch)["mse"]) for batch in model.to_framework_batches(*data)]
    for step in range(2 if precision == "bf16" else 1):
        abs_tol, rel_tol = TOLERANCE if step == 0 else STEP2
        low, ref = losses[precision][step], losses["fp32"][step]
        assert np.isfinite(low), f"{precision} loss of step {step + 1} is not finite"
        assert abs(low - ref) <= abs_tol + rel_tol * abs(ref), (
            f"{framework} {precision} step {step + 1} loss {low:.5f} vs fp32 {ref:.5f}")
