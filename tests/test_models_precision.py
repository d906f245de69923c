"""Reduced precision on CPU: bf16 and fp16 train steps give losses close to fp32 (CONTRACT.md).

Same weights, same batches, batch 4. Step 1 sees identical weights in every precision, so its losses
differ only by rounding; step 2 is compared for bf16 only, because fp16's dynamic loss scaling may
skip a first step that overflows (both frameworks start at scale 2**15), which is correct behaviour.
"""

from __future__ import annotations

import numpy as np
import pytest

from models.gan import FAMILY
from models.gan.data import make_batches
from models.registry import get_spec

MODEL_NAMES = FAMILY.model_names

# Tolerance on each step-1 loss: |loss_low − loss_fp32| <= ABS + REL * |loss_fp32| (measured worst:
# 37% of it for bf16, 24% for fp16, dcgan-64). Step 2 (bf16 only) after one low-precision update:
# within STEP2 (a sanity bound: Adam's early steps amplify rounding, see CONTRACT.md).
TOLERANCE = {"bf16": (0.01, 0.01), "fp16": (0.01, 0.01)}
STEP2 = (0.1, 0.1)
BATCH = 4


def _frameworks():
    out = []
    for name in ("tf_dcgan", "torch_dcgan"):
        out.append(pytest.param(name, id=name.split("_")[0]))
    return out


def _module(name):
    pytest.importorskip("tensorflow" if name == "tf_dcgan" else "torch")
    import importlib

    return importlib.import_module(f"models.gan.{name}")


def _fp16_unsupported(name: str) -> str | None:
    """Why fp16 cannot run on this CPU (None when it can): one tiny convolution, as the models use."""
    try:
        if name == "tf_dcgan":
            import tensorflow as tf

            x = tf.ones((1, 4, 4, 1), tf.float16)
            tf.nn.conv2d(x, tf.ones((2, 2, 1, 1), tf.float16), 1, "SAME").numpy()
        else:
            import torch

            with torch.autocast("cpu", dtype=torch.float16):
                torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 2, 2)).sum().item()
    except Exception as e:  # any failure means "not supported here"
        return f"fp16 not supported on this CPU by {name}: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    return None


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("framework", _frameworks())
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_low_precision_losses_close_to_fp32(model, framework, precision):
    mod = _module(framework)
    if precision == "fp16" and (reason := _fp16_unsupported(framework)):
        pytest.skip(reason)
    spec = get_spec(model)
    data = make_batches(spec, BATCH, 2, seed=11)
    losses = {}
    for p in ("fp32", precision):
        gan = mod.build(spec, batch_size=BATCH, precision=p, dropout=False, seed=5)
        batches = gan.to_framework_batches(*data)
        steps = [gan.train_step(r, z) for r, z in batches]
        losses[p] = [tuple(float(out[k]) for k in FAMILY.losses) for out in steps]
    steps = 2 if precision == "bf16" else 1
    for step in range(steps):
        abs_tol, rel_tol = TOLERANCE[precision] if step == 0 else STEP2
        pairs = zip(losses[precision][step], losses["fp32"][step], FAMILY.losses, strict=True)
        for low, ref, what in pairs:
            assert np.isfinite(low), f"{precision} {what} loss of step {step + 1} is not finite"
            assert abs(low - ref) <= abs_tol + rel_tol * abs(ref), (
                f"{model} {framework} {precision} step {step + 1} {what} loss: {low:.5f} vs fp32 {ref:.5f}")
