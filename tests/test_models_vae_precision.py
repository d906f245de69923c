"""vae-mnist under reduced precision on CPU: bf16 and fp16 train steps give losses close to fp32.

As tests/test_models_precision.py for the DCGANs: same weights, same batches, batch 4. Step 1 sees
identical weights in every precision, so its losses differ only by rounding (the latents and losses
are computed in float32 in both frameworks); step 2 is compared for bf16 only, because fp16's dynamic
loss scaling may skip a first step that overflows (both frameworks start at scale 2**15).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from models.vae import FAMILY
from models.vae.data import make_batches

SPEC = FAMILY.specs["vae-mnist"]
# |loss_low − loss_fp32| <= ABS + REL · |loss_fp32|. Far tighter than the DCGANs' (0.01 + 1%): at
# initialisation the logits are near 0, where rounding moves the ≈543 reconstruction term little
# (measured worst over 4 seeds, both frameworks: 2.4e-4 on step 1, 1.5e-3 on bf16's step 2; the KL,
# ≈0.01, is judged on the absolute part: 1e-4). Step 2 (bf16 only), after one low-precision update: STEP2.
TOLERANCE = {"bf16": (1e-3, 1e-5), "fp16": (1e-3, 1e-5)}
STEP2 = (1e-2, 1e-4)
BATCH = 4
MODULES = {"tensorflow": "models.vae.tf_vae", "torch": "models.vae.torch_vae"}


def _fp16_unsupported(framework: str) -> str | None:
    """Why fp16 cannot run on this CPU (None when it can): one tiny convolution, as the model uses."""
    try:
        if framework == "tensorflow":
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
@pytest.mark.parametrize("framework", list(MODULES))
def test_low_precision_losses_close_to_fp32(framework, precision):
    pytest.importorskip(framework)
    mod = importlib.import_module(MODULES[framework])
    if precision == "fp16" and (reason := _fp16_unsupported(framework)):
        pytest.skip(reason)
    data = make_batches(SPEC, BATCH, 2, seed=11)
    losses = {}
    for p in ("fp32", precision):
        vae = mod.build(SPEC, batch_size=BATCH, precision=p, seed=5)
        outs = [vae.train_step(x, e) for x, e in vae.to_framework_batches(*data)]
        losses[p] = [{k: float(out[k]) for k in FAMILY.losses} for out in outs]
        for out in outs:  # losses in float32 in every precision (the casts in forward())
            assert all("float32" in str(out[k].dtype) for k in FAMILY.losses), out
    for step in range(2 if precision == "bf16" else 1):
        abs_tol, rel_tol = TOLERANCE[precision] if step == 0 else STEP2
        for k in FAMILY.losses:
            low, ref = losses[precision][step][k], losses["fp32"][step][k]
            assert np.isfinite(low), f"{precision} {k} loss of step {step + 1} is not finite"
            assert abs(low - ref) <= abs_tol + rel_tol * abs(ref), (
                f"{framework} {precision} step {step + 1} {k}: {low:.5f} vs fp32 {ref:.5f}")
