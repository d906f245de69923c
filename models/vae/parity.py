"""Parity measurements between the two VAE implementations, framework-free at import time.

``probe(framework, ...)`` imports only that framework's module (so a script can run each framework in
its own process and compare the numpy results); the equivalence tests call it for both in one process.
Everything returned is numpy in the canonical layout (models/vae/CONTRACT.md).
"""

from __future__ import annotations

import numpy as np

from ..common.parity import keras_adam_as_torch, rel_err, step_rel_err
from ..common.weights import Weights
from . import FAMILY
from .data import make_batches
from .spec import VAESpec

__all__ = ["LOSSES", "OUTPUTS", "compare", "keras_adam_as_torch", "probe", "reference_losses", "rel_err",
           "step_rel_err"]

LOSSES = FAMILY.losses
OUTPUTS = ("z_mean", "z_log_var", "z", "logits")


def probe(framework: str, spec: VAESpec, *, weights: Weights, batch_size: int, seed: int, steps: int = 3,
          precision: str = "fp32", keras_adam: bool = False) -> dict:
    """Outputs, losses and gradients of one step, the losses of ``steps`` train steps and the weights
    after them, from ``weights`` and ``make_batches(spec, batch_size, steps, seed)``.

    ``keras_adam`` (torch only) gives torch's Adam Keras' arithmetic (``keras_adam_as_torch``), which
    isolates every other difference.
    """
    mod = FAMILY.implementation(framework)
    vae = mod.build(spec, batch_size=batch_size, precision=precision, seed=seed + 1)
    mod.set_weights(vae, weights)
    images, eps = make_batches(spec, batch_size, max(steps, 1), seed)
    batches = vae.to_framework_batches(images, eps)
    outputs = mod.forward(vae, *batches[0])
    losses0, grads = mod.gradients(vae, *batches[0])  # no update: nothing to restore (no BN)
    losses = []
    for t, (x, e) in enumerate(batches[:steps], start=1):
        if keras_adam:
            lr, eps_t = keras_adam_as_torch(spec, t)
            for group in vae.optimizer.param_groups:
                group["lr"], group["eps"] = lr, eps_t
        out = vae.train_step(x, e)
        losses.append({k: float(out[k]) for k in LOSSES})
    return {"outputs": outputs, "losses0": losses0, "grads": grads, "losses": losses,
            "after": mod.get_weights(vae), "images": images[0], "eps": eps[0]}


def compare(a: dict, b: dict, initial: Weights) -> dict[str, float]:
    """The headline parity figures: max relative errors (torch taken as the reference b)."""
    out_err = max(rel_err(a["outputs"][k], b["outputs"][k]) for k in OUTPUTS)
    loss_err = max(rel_err(a["losses0"][k], b["losses0"][k]) for k in LOSSES)
    grad_err = max(rel_err(a["grads"][n][k], b["grads"][n][k]) for n in b["grads"] for k in b["grads"][n])
    param_err = max(step_rel_err(a["after"][n][k], b["after"][n][k], initial[n][k])
                    for n in b["after"] for k in b["after"][n])
    return {"outputs": out_err, "losses": loss_err, "gradients": grad_err, "params_after_steps": param_err}


def reference_losses(outputs: dict, images: np.ndarray, eps: np.ndarray) -> dict[str, float]:
    """The example's losses recomputed in float64 numpy from a framework's latents and logits, and its
    z recomputed from the latents: pins the loss definition itself, which two frameworks could share
    wrongly. BCE from logits x with targets y: max(x, 0) − x·y + log(1 + exp(−|x|))."""
    m, lv, x = (np.asarray(outputs[k], np.float64) for k in ("z_mean", "z_log_var", "logits"))
    y = np.asarray(images, np.float64)
    bce = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    rec = float(bce.reshape(len(x), -1).sum(axis=1).mean())
    kl = float((-0.5 * (1 + lv - m**2 - np.exp(lv))).sum(axis=1).mean())
    z = m + np.exp(0.5 * lv) * np.asarray(eps, np.float64)
    return {"loss": rec + kl, "reconstruction": rec, "kl": kl, "z_err": rel_err(outputs["z"], z)}
