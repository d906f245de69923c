"""Parity measurements between the two implementations, framework-free at import time.

``probe(framework, ...)`` imports only that framework's module (so a script can run each framework in
its own process and compare the numpy results); the equivalence tests call it for both in one process.
Everything returned is numpy in the canonical layout (models/gan/CONTRACT.md).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from . import FAMILY
from .data import make_batches
from .spec import ModelSpec
from .weights import Weights


def framework_module(framework: str) -> ModuleType:
    return FAMILY.implementation(framework)


def rel_err(a, b) -> float:
    """‖a − b‖ / ‖b‖ in float64 (0 when both are zero)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    den = np.linalg.norm(b)
    num = np.linalg.norm(a - b)
    return float(num / den) if den > 0 else float(num)


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


def step_rel_err(theta_a, theta_b, theta_0) -> float:
    """‖θ_a − θ_b‖ / ‖θ_b − θ_0‖: the frameworks' disagreement relative to how far the optimiser moved."""
    a, b, z = (np.asarray(x, np.float64) for x in (theta_a, theta_b, theta_0))
    moved = np.linalg.norm(b - z)
    return float(np.linalg.norm(a - b) / moved) if moved > 0 else float(np.linalg.norm(a - b))


def keras_adam_as_torch(spec: ModelSpec, t: int) -> tuple[float, float]:
    """(lr, eps) for torch.optim.Adam's step ``t`` (1-based) that reproduce keras.optimizers.Adam's.

    Keras: θ -= lr32 · sqrt(1 - b2r^t) / (1 - b1r^t) · m / (sqrt(v) + ε̂), with lr32 the learning rate
    stored as a float32 variable and b1r, b2r the betas cast through float32 in the bias corrections
    only (the moment updates use the exact Python floats). torch: θ -= lr / (1 - β1^t) · m /
    (sqrt(v) / sqrt(1 - β2^t) + eps). Equal when eps = ε̂ / sqrt(1 - β2^t) and lr rescales the
    bias corrections.
    """
    b1, b2 = spec.adam_beta1, spec.adam_beta2
    b1r, b2r = _f32(b1), _f32(b2)
    keras_alpha = _f32(spec.learning_rate) * (1 - b2r**t) ** 0.5 / (1 - b1r**t)
    lr = keras_alpha * (1 - b1**t) / (1 - b2**t) ** 0.5
    return lr, spec.adam_epsilon / (1 - b2**t) ** 0.5


def _f32(x: float) -> float:
    return float(np.float32(x))


def _keras_constants(gan, spec: ModelSpec) -> None:
    """Give a torch GAN's LeakyReLU the slope TF applies (a float32 op attribute). Irrelevant in
    float32 training; it matters only to the float64 check, where Adam's per-element normalisation
    amplifies even 1e-8 relative differences within 3 steps."""
    import torch  # only ever called on a torch GAN

    for net in (gan.generator, gan.discriminator):
        for m in net.modules():
            if isinstance(m, torch.nn.LeakyReLU):
                m.negative_slope = _f32(m.negative_slope)
