"""The DCGANs in PyTorch (torch.nn). Imports torch only (never TensorFlow).

``build(spec, ...)`` returns a :class:`TorchGAN`; ``gan.train_step(real, noise)`` runs the same
algorithm as the TensorFlow tutorial's step (one forward pass, both gradients, then both updates) as a
plain Python function that the harness runs eagerly or, for its compiled modes, after
``gan.compile_modules(compile_fn)`` has compiled the generator and the discriminator (the step itself,
its two ``backward`` calls and the Adam updates stay eager Python). Layers, padding and parameter names
come from ``models.gan.arch``; every torch setting that differs from Keras' default is listed in
models/gan/CONTRACT.md.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..common.torch_common import TorchModel, adam_implementation, allow_retained_backward
from ..common.torch_common import make_adam as make_optimizer
from ..common.torch_layers import chain_modules
from ..common.weights import Weights, check_chain, from_torch, to_torch
from .arch import Layer, networks, weight_layers
from .spec import ModelSpec
from .weights import initial_weights


def _torch_layers(layer: Layer, spec: ModelSpec) -> list[tuple[str, nn.Module]]:
    n = layer.name
    if layer.kind == "bn":
        # torch's momentum is the weight of the new batch statistic: 1 - Keras' momentum.
        cls = nn.BatchNorm1d if len(layer.in_shape) == 1 else nn.BatchNorm2d
        return [(n, cls(layer.in_shape[-1], eps=spec.bn_epsilon, momentum=1.0 - spec.bn_keep))]
    if layer.kind == "lrelu":
        return [(n, nn.LeakyReLU(layer.slope))]  # explicit: torch's default slope is 0.01
    if layer.kind == "tanh":
        return [(n, nn.Tanh())]
    if layer.kind == "dropout":
        return [(n, nn.Dropout(layer.rate))]
    return chain_modules(layer)


def build_network(layers: list[Layer], spec: ModelSpec) -> nn.Sequential:
    modules: list[tuple[str, nn.Module]] = []
    for layer in layers:
        modules += _torch_layers(layer, spec)
    return nn.Sequential(OrderedDict(modules))


def _bce_logits(logits: torch.Tensor, target: float) -> torch.Tensor:
    # Losses in float32 under autocast too (float64 in the fp64 checks). The all-ones / all-zeros
    # targets are what F.binary_cross_entropy_with_logits needs; one small fill per loss, as in
    # torch's own DCGAN example.
    logits = logits.reshape(-1)
    if logits.dtype != torch.float64:
        logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class TorchGAN(TorchModel):
    framework = "torch"

    def __init__(self, spec: ModelSpec, *, batch_size: int, precision: str = "fp32", dropout: bool = True,
                 seed: int = 0, device: str = "cpu", channels_last: bool = False,
                 optimizer: str = "default") -> None:
        self.setup(spec, batch_size, precision, device, channels_last)
        self.layers = networks(spec, dropout=dropout)
        self.generator = build_network(self.layers["generator"], spec).to(self.device, self.dtype)
        self.discriminator = build_network(self.layers["discriminator"], spec).to(self.device, self.dtype)
        if channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        self.generator.train()
        self.discriminator.train()
        set_weights(self, initial_weights(spec, seed))
        self.g_params = list(self.generator.parameters())
        self.d_params = list(self.discriminator.parameters())
        self.g_opt = make_optimizer(self.g_params, spec, optimizer)
        self.d_opt = make_optimizer(self.d_params, spec, optimizer)
        # What the step calls: the modules themselves, or their compiled versions (compile_modules).
        self.g_call: Callable[[torch.Tensor], torch.Tensor] = self.generator
        self.d_call: Callable[[torch.Tensor], torch.Tensor] = self.discriminator
        # Recorded in the cell's flags by the harness (it reads model.flags).
        self.flags = {"optimizer": optimizer, "adam_implementation": adam_implementation(self.g_opt),
                      "compiled": "nothing"}

    def compile_modules(self, compile_fn: Callable[[nn.Module], Callable]) -> None:
        """Run the generator and the discriminator through ``compile_fn`` (e.g. ``torch.compile``): what
        a torch user compiles in a GAN. The step around them (losses, the two ``backward`` calls,
        ``retain_graph``, the eager Adam updates) is unchanged, so it is the same algorithm.

        AOTAutograd's compiled backward computes a fixed set of gradients whichever ``inputs=`` the
        engine asks for: the discriminator's fake-path backward, run by both ``backward`` calls, yields
        its weight gradients on the generator's call too and the input gradient of its first layer on
        the discriminator's (CONTRACT.md, "Compiled modes"; scripts/count_step_flops.py counts it).
        Its first ``backward`` keeps the graph (``retain_graph=True``), which AOTAutograd's donated
        buffers forbid: they are turned off, as torch's error message advises.
        """
        allow_retained_backward()
        self.g_call = compile_fn(self.generator)
        self.d_call = compile_fn(self.discriminator)
        self.flags["compiled"] = "generator, discriminator"

    # -- data ---------------------------------------------------------------------------------
    def to_framework_batches(self, real: np.ndarray,
                             noise: np.ndarray) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(n, B, H, W, C) / (n, B, noise_dim) numpy -> one (real NCHW, noise) pair per batch."""
        return [(self.image(r), self.vectors(z)) for r, z in zip(real, noise, strict=True)]

    # -- the step -----------------------------------------------------------------------------
    def _clear_grads(self) -> None:
        # What zero_grad(set_to_none=True) does, without its per-call overhead, and no graph break when
        # a test compiles the whole train_step.
        for p in self.g_params:
            p.grad = None
        for p in self.d_params:
            p.grad = None

    def _forward(self, real: torch.Tensor, noise: torch.Tensor):
        with self.autocast():
            fake = self.g_call(noise)
            real_logits = self.d_call(real)
            fake_logits = self.d_call(fake)
        g_loss = _bce_logits(fake_logits, 1.0)
        d_loss = _bce_logits(real_logits, 1.0) + _bce_logits(fake_logits, 0.0)
        return g_loss, d_loss

    def _backward(self, g_loss: torch.Tensor, d_loss: torch.Tensor) -> None:
        # Like the tutorial's two tapes: g_loss differentiated w.r.t. the generator only, d_loss w.r.t.
        # the discriminator only (``inputs=`` keeps d_loss's gradient out of the generator's .grad).
        scale = self.scaler.scale if self.scaler is not None else (lambda x: x)
        scale(g_loss).backward(inputs=self.g_params, retain_graph=True)
        scale(d_loss).backward(inputs=self.d_params)

    def losses_and_gradients(self, real, noise):
        """The forward pass and both gradients (unscaled), before any update (for the checks)."""
        self._clear_grads()
        g_loss, d_loss = self._forward(real, noise)
        self._backward(g_loss, d_loss)
        inv = 1.0 / self.scaler.get_scale() if self.scaler is not None else 1.0
        return (g_loss.detach(), d_loss.detach(),
                [p.grad * inv for p in self.g_params], [p.grad * inv for p in self.d_params])

    def train_step(self, real, noise) -> dict[str, torch.Tensor]:
        """One train step; returns the named losses {"g", "d"}: float32 scalar tensors, not synchronised."""
        self._clear_grads()
        g_loss, d_loss = self._forward(real, noise)
        self._backward(g_loss, d_loss)
        if self.scaler is not None:
            self.scaler.step(self.g_opt)
            self.scaler.step(self.d_opt)
            self.scaler.update()
        else:
            self.g_opt.step()
            self.d_opt.step()
        return {"g": g_loss.detach(), "d": d_loss.detach()}


def build(spec: ModelSpec, *, batch_size: int, precision: str = "fp32", dropout: bool = True,
          seed: int = 0, device: str = "cpu", channels_last: bool = False,
          optimizer: str = "default") -> TorchGAN:
    """A GAN with weights from ``initial_weights(spec, seed)``, on ``device``, in train mode;
    ``optimizer`` picks torch's Adam implementation (models/common/torch_common.py: the same update)."""
    return TorchGAN(spec, batch_size=batch_size, precision=precision, dropout=dropout, seed=seed,
                    device=device, channels_last=channels_last, optimizer=optimizer)


# -- canonical weights ------------------------------------------------------------------------
def _np_dtype(gan: TorchGAN) -> torch.dtype:
    return gan.dtype  # float32, or float64 in the fp64 checks


def _models(gan: TorchGAN) -> dict[str, nn.Module]:
    return {"generator": gan.generator, "discriminator": gan.discriminator}


def get_weights(gan: TorchGAN) -> Weights:
    """Canonical weights (BN running statistics included; ``num_batches_tracked`` is not part of it)."""
    out: Weights = {}
    for net, model in _models(gan).items():
        state = {k: v.detach().to(_np_dtype(gan)).cpu().numpy() for k, v in model.state_dict().items()}
        out[net] = from_torch(gan.layers[net], state)
    return out


@torch.no_grad()
def set_weights(gan: TorchGAN, weights: Weights) -> None:
    for net, model in _models(gan).items():
        check_chain(gan.layers[net], weights[net], net)
        state = model.state_dict()
        for name, value in to_torch(gan.layers[net], weights[net]).items():
            state[name].copy_(torch.from_numpy(value))  # copy_ keeps device and memory format


def layer_param_counts(gan: TorchGAN) -> dict[str, dict[str, tuple[int, int]]]:
    """Per network, per weight layer: (trainable, non-trainable) counts; BN's num_batches_tracked
    (a step counter, not a statistic) is not counted."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for net, model in _models(gan).items():
        out[net] = {}
        for ly in weight_layers(gan.layers[net]):
            m = getattr(model, ly.name)
            buffers = [b for name, b in m.named_buffers() if name != "num_batches_tracked"]
            out[net][ly.name] = (sum(p.numel() for p in m.parameters() if p.requires_grad),
                                sum(b.numel() for b in buffers))
    return out


# -- for the equivalence checks (not used by the timed step) ---------------------------------
@torch.no_grad()
def forward(gan: TorchGAN, real, noise, training: bool = True) -> dict[str, np.ndarray]:
    """Generator and discriminator outputs as numpy: fake images NHWC, logits (B,)."""
    gan.generator.train(training)
    gan.discriminator.train(training)
    try:
        fake = gan.generator(noise)
        dt = _np_dtype(gan)
        return {"fake": fake.to(dt).permute(0, 2, 3, 1).cpu().numpy(),
                "real_logits": gan.discriminator(real).to(dt).reshape(-1).cpu().numpy(),
                "fake_logits": gan.discriminator(fake).to(dt).reshape(-1).cpu().numpy()}
    finally:
        gan.generator.train()
        gan.discriminator.train()


def gradients(gan: TorchGAN, real, noise) -> tuple[float, float, Weights]:
    """(g_loss, d_loss, canonical gradients of the trainable parameters) of one step, no update."""
    g_loss, d_loss, g_grads, d_grads = gan.losses_and_gradients(real, noise)
    out: Weights = {}
    for net, model, grads in (("generator", gan.generator, g_grads),
                              ("discriminator", gan.discriminator, d_grads)):
        names = [n for n, _ in model.named_parameters()]
        state = {n: g.detach().to(_np_dtype(gan)).cpu().numpy() for n, g in zip(names, grads, strict=True)}
        out[net] = from_torch(gan.layers[net], state, trainable_only=True)
    return float(g_loss), float(d_loss), out


# -- the generate scenario (models.generate) -------------------------------------------------
def generate_module(gan: TorchGAN) -> nn.Module:
    """The generator in inference mode: BatchNorm on its running statistics, dropout off."""
    return gan.generator.eval()
