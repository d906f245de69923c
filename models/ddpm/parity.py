"""Parity measurements between the two U-Nets, framework-free at import time.

``probe(framework, ...)`` imports only that framework's module (a script can run each framework in its
own process and compare the numpy results); the equivalence tests call it for both in one process.
Everything returned is numpy in the canonical layout (models/ddpm/CONTRACT.md).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ..common.parity import f32, keras_adam_as_torch, rel_err, step_rel_err
from . import FAMILY
from .data import make_inputs
from .spec import DDPMSpec
from .weights import NET, Weights, initial_weights


def framework_module(framework: str) -> ModuleType:
    return FAMILY.implementation(framework)


def probe_weights(spec: DDPMSpec, seed: int) -> Weights:
    """Weights for the checks: glorot kernels everywhere (no near-zero layer that would hide a block)
    and random biases, GroupNorm gammas and betas (so a mis-mapped vector shows)."""
    w = initial_weights(spec, seed, zero_init=False)[NET]
    rng = np.random.default_rng([seed, 5])
    for name, a in w.items():
        if name.endswith((".bias", ".beta")):
            w[name] = rng.normal(0.0, 0.1, a.shape).astype(np.float32)
        elif name.endswith(".gamma"):
            w[name] = rng.normal(1.0, 0.1, a.shape).astype(np.float32)
    return {NET: w}


def probe(framework: str, spec: DDPMSpec, *, weights: Weights, batch_size: int, seed: int, steps: int = 3,
          precision: str = "fp32", keras_adam: bool = False) -> dict:
    """The ε prediction, loss and gradients of one step, then the losses and weights of ``steps`` steps.

    ``weights`` are loaded into a freshly built model; the data are ``make_inputs(spec, batch_size,
    steps, seed)``. ``keras_adam`` (torch only; the name the other families use) gives torch Keras'
    arithmetic where it rounds differently: AdamW's before each step (:func:`keras_adamw_as_torch`)
    and the float32-rounded attention scale (:func:`keras_constants`), isolating every other
    difference.
    """
    mod = framework_module(framework)
    model = mod.build(spec, batch_size=batch_size, precision=precision, seed=seed + 1)
    mod.set_weights(model, weights)
    if keras_adam:
        keras_constants(model)
    batches = model.to_framework_batches(*make_inputs(spec, batch_size, max(steps, 1), seed))
    out = mod.forward(model, *batches[0])
    loss, grads = mod.gradients(model, *batches[0])
    losses = []
    for t, batch in enumerate(batches[:steps], start=1):
        if keras_adam:
            lr, eps, wd = keras_adamw_as_torch(spec, t)
            for group in model.opt.param_groups:
                group["lr"], group["eps"], group["weight_decay"] = lr, eps, wd
        losses.append(float(model.train_step(*batch)["mse"]))
    return {"pred": out, "loss": loss, "grads": grads, "losses": losses, "after": mod.get_weights(model)}


def compare(tf_probe: dict, torch_probe: dict, initial: Weights) -> dict[str, float]:
    """The headline parity figures: max relative errors (torch taken as the reference b)."""
    a, b = tf_probe, torch_probe
    ga, gb, pa, pb, w0 = a["grads"][NET], b["grads"][NET], a["after"][NET], b["after"][NET], initial[NET]
    losses = zip([a["loss"], *a["losses"]], [b["loss"], *b["losses"]], strict=True)
    return {"outputs": rel_err(a["pred"], b["pred"]),
            "losses": max(rel_err(x, y) for x, y in losses),
            # The key biases' gradients are exactly zero in exact arithmetic, so their gradients and
            # their moves (weight decay of a zero-initialised bias: none) are rounding noise: left out.
            "gradients": max(rel_err(ga[k], gb[k]) for k in gb if not is_key_bias(k)),
            "params_after_steps": max(step_rel_err(pa[k], pb[k], w0[k]) for k in gb if not is_key_bias(k))}


def is_key_bias(name: str) -> bool:
    """q·(k + b) = q·k + q·b shifts every logit of a query equally, which softmax ignores: the key
    projection's bias gets an exactly zero gradient, and what either framework returns is rounding."""
    return name.endswith("_k.bias")


def keras_adamw_as_torch(spec: DDPMSpec, t: int) -> tuple[float, float, float]:
    """(lr, eps, weight_decay) for torch.optim.AdamW's step ``t`` (1-based) that reproduce
    keras.optimizers.AdamW's: models.common.parity.keras_adam_as_torch's Adam, and the decay.

    Keras: θ −= lr32·λ32·θ (λ32: the weight decay rounded through float32, as ``tf.cast`` of a Python
    float does), then θ −= lr32·sqrt(1 − b2r^t)/(1 − b1r^t) · m/(sqrt(v) + ε̂), with lr32 the
    learning rate stored as a float32 variable and b1r, b2r the betas rounded through float32 in the
    bias corrections. torch: θ ·= 1 − lr·λ, then θ −= lr/(1 − β1^t) · m/(sqrt(v)/sqrt(1 − β2^t) + eps).
    Equal when eps = ε̂/sqrt(1 − β2^t), lr rescales the bias corrections and λ_torch = lr32·λ32/lr.
    """
    lr, eps = keras_adam_as_torch(spec, t)
    return lr, eps, f32(spec.learning_rate) * f32(spec.weight_decay) / lr


def keras_constants(model) -> None:
    """Give a torch U-Net's attention the scale TF applies: Keras' TF backend multiplies the logits by
    ``tf.cast(scale, dtype)``, which goes through a float32 tensor (C^-1/2 rounded: 3e-9 relative in
    the float64 outputs). Irrelevant in float32; it matters only to the float64 check."""
    from .torch_ddpm import Attention  # only ever called on a torch model

    for m in model.unet.modules():
        if isinstance(m, Attention):
            m.scale = f32(m.scale)
