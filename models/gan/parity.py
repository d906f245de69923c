"""Parity measurements between the two implementations, framework-free at import time.

``probe(framework, ...)`` imports only that framework's module (so a script can run each framework in
its own process and compare the numpy results); the equivalence tests call it for both in one process.
Everything returned is numpy in the canonical layout (models/gan/CONTRACT.md).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ..common.parity import f32, keras_adam_as_torch, rel_err, step_rel_err
from ..common.weights import Weights
from . import FAMILY
from .data import make_batches
from .spec import ModelSpec

__all__ = ["compare", "framework_module", "keras_adam_as_torch", "output_errors", "probe", "rel_err",
           "step_rel_err"]


def framework_module(framework: str) -> ModuleType:
    return FAMILY.implementation(framework)


def probe(framework: str, spec: ModelSpec, *, weights: Weights, batch_size: int, seed: int,
          steps: int = 3, precision: str = "fp32", keras_adam: bool = False) -> dict:
    """Outputs, losses and gradients of one step, then the weights after ``steps`` train steps.

    ``weights`` are loaded into a freshly built GAN (dropout off, so the check is deterministic);
    the data are ``make_batches(spec, batch_size, steps, seed)``. ``keras_adam`` (torch only) gives
    torch's Adam Keras' arithmetic, isolating every other difference: eps before step t set to
    ``spec.adam_epsilon / sqrt(1 - beta2**t)`` (Keras' epsilon is "epsilon hat"), and the betas
    rounded to float32 as Keras' ``ops.cast(beta, dtype)`` does (1 - 0.999 is off by 1.3e-5 there).
    """
    mod = framework_module(framework)
    gan = mod.build(spec, batch_size=batch_size, precision=precision, dropout=False, seed=seed + 1)
    mod.set_weights(gan, weights)
    if keras_adam:
        _keras_constants(gan, spec)
    real, noise = make_batches(spec, batch_size, max(steps, 1), seed)
    batches = gan.to_framework_batches(real, noise)
    out = mod.forward(gan, *batches[0])
    mod.set_weights(gan, weights)  # forward() in training mode moved the BN running statistics
    g_loss, d_loss, grads = mod.gradients(gan, *batches[0])
    mod.set_weights(gan, weights)
    losses = []
    for t, (r, z) in enumerate(batches[:steps], start=1):
        if keras_adam:
            lr, eps = keras_adam_as_torch(spec, t)
            for opt in (gan.g_opt, gan.d_opt):
                for group in opt.param_groups:
                    group["lr"], group["eps"] = lr, eps
        step = gan.train_step(r, z)
        losses.append((float(step["g"]), float(step["d"])))
    return {"outputs": out, "g_loss": g_loss, "d_loss": d_loss, "grads": grads,
            "losses": losses, "after": mod.get_weights(gan)}


def compare(tf_probe: dict, torch_probe: dict, initial: Weights) -> dict[str, float]:
    """The headline parity figures: max relative errors (torch taken as the reference b)."""
    a, b = tf_probe, torch_probe
    out_err = max(output_errors(a["outputs"], b["outputs"]).values())
    loss_err = max(rel_err(a[k], b[k]) for k in ("g_loss", "d_loss"))
    grad_err = max(rel_err(a["grads"][n][k], b["grads"][n][k]) for n in b["grads"] for k in b["grads"][n])
    param_err = max(step_rel_err(a["after"][n][k], b["after"][n][k], initial[n][k])
                    for n in b["grads"] for k in b["grads"][n])
    return {"outputs": out_err, "losses": loss_err, "gradients": grad_err, "params_after_steps": param_err}


def output_errors(a: dict, b: dict) -> dict[str, float]:
    """Relative errors of the generator's output (fake images) and of the discriminator's output on
    the step's 2B inputs (logits on the real batch, then on the fake batch)."""
    d = [np.concatenate([o["real_logits"], o["fake_logits"]]) for o in (a, b)]
    return {"generator": rel_err(a["fake"], b["fake"]), "discriminator": rel_err(*d)}


def _keras_constants(gan, spec: ModelSpec) -> None:
    """Give a torch GAN's LeakyReLU the slope TF applies (a float32 op attribute). Irrelevant in
    float32 training; it matters only to the float64 check, where Adam's per-element normalisation
    amplifies even 1e-8 relative differences within 3 steps."""
    import torch  # only ever called on a torch GAN

    for net in (gan.generator, gan.discriminator):
        for m in net.modules():
            if isinstance(m, torch.nn.LeakyReLU):
                m.negative_slope = f32(m.negative_slope)
