"""The VAE in PyTorch (torch.nn), written as torch users write it. Imports torch only (never TensorFlow).

``build(spec, ...)`` returns a :class:`TorchVAE`: an :class:`Encoder` (a Sequential trunk and two Linear
heads) and a Sequential decoder, with ``nn.ReLU`` modules, one Adam over both. ``vae.train_step(images,
eps)`` runs the same algorithm as the Keras example's step (one forward, one backward, one update) as a
plain Python function that the harness runs eagerly or, for its compiled modes, after
``vae.compile_modules(compile_fn)`` has compiled the encoder and the decoder (the step, its backward and
the Adam update stay eager Python). Where torch's
defaults differ from Keras' (padding of 'same' stride-2 convolutions, layouts, init, Adam's epsilon),
the translation is listed in models/vae/CONTRACT.md.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..common.torch_common import TorchModel, adam_implementation
from ..common.torch_common import make_adam as make_optimizer
from ..common.torch_layers import chain_modules
from ..common.weights import Weights, check_chain, from_torch, to_torch
from .arch import Layer, heads, networks, trunk, weight_layers
from .spec import VAESpec
from .weights import initial_weights


def build_sequential(layers: list[Layer]) -> nn.Sequential:
    return nn.Sequential(OrderedDict(m for ly in layers for m in chain_modules(ly)))


class Encoder(nn.Module):
    """images -> (z_mean, z_log_var): the sequential trunk, then two Linear heads on its features."""

    def __init__(self, layers: list[Layer]) -> None:
        super().__init__()
        self.trunk = build_sequential(trunk(layers))
        for ly in heads(layers):
            self.add_module(ly.name, nn.Linear(ly.in_shape[-1], ly.filters))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.z_mean(h), self.z_log_var(h)


class TorchVAE(TorchModel):
    framework = "torch"

    def __init__(self, spec: VAESpec, *, batch_size: int, precision: str = "fp32", seed: int = 0,
                 device: str = "cpu", channels_last: bool = False, optimizer: str = "default") -> None:
        self.setup(spec, batch_size, precision, device, channels_last)
        self.layers = networks(spec)
        self.encoder = Encoder(self.layers["encoder"]).to(self.device, self.dtype)
        self.decoder = build_sequential(self.layers["decoder"]).to(self.device, self.dtype)
        if channels_last:
            self.encoder.to(memory_format=torch.channels_last)
            self.decoder.to(memory_format=torch.channels_last)
        set_weights(self, initial_weights(spec, seed))
        self.params = [*self.encoder.parameters(), *self.decoder.parameters()]
        self.optimizer = make_optimizer(self.params, spec, optimizer)
        # What the step calls: the modules themselves, or their compiled versions (compile_modules).
        self.encoder_call: Callable = self.encoder
        self.decoder_call: Callable = self.decoder
        # Recorded in the cell's flags by the harness (it reads model.flags).
        self.flags = {"optimizer": optimizer, "adam_implementation": adam_implementation(self.optimizer),
                      "compiled": "nothing"}

    def compile_modules(self, compile_fn: Callable[[nn.Module], Callable]) -> None:
        """Run the encoder and the decoder through ``compile_fn`` (e.g. ``torch.compile``); the
        reparameterisation, the losses, the backward and the eager Adam update are unchanged."""
        self.encoder_call = compile_fn(self.encoder)
        self.decoder_call = compile_fn(self.decoder)
        self.flags["compiled"] = "encoder, decoder"

    def to_framework_batches(self, images: np.ndarray,
                             eps: np.ndarray) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(n, B, H, W, C) / (n, B, latent_dim) numpy -> one (images NCHW, eps) pair per batch."""
        return [(self.image(x), self.vectors(e)) for x, e in zip(images, eps, strict=True)]

    def forward(self, images: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encoder, reparameterisation, decoder and the losses; latents and losses in float32 (the
        autocast outputs are cast back), as in the Keras step."""
        with self.autocast():
            z_mean, z_log_var = self.encoder_call(images)
        z_mean, z_log_var = z_mean.to(self.dtype), z_log_var.to(self.dtype)
        z = z_mean + torch.exp(0.5 * z_log_var) * eps
        with self.autocast():
            logits = self.decoder_call(z)
        logits = logits.to(self.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, images, reduction="none")
        reconstruction = bce.sum(dim=(1, 2, 3)).mean()
        kl = (-0.5 * (1.0 + z_log_var - z_mean.square() - z_log_var.exp())).sum(dim=1).mean()
        return {"loss": reconstruction + kl, "reconstruction": reconstruction, "kl": kl,
                "z_mean": z_mean, "z_log_var": z_log_var, "z": z, "logits": logits}

    def _clear_grads(self) -> None:
        # What zero_grad(set_to_none=True) does, without its per-call overhead, and no graph break when
        # a test compiles the whole train_step.
        for p in self.params:
            p.grad = None

    def losses_and_gradients(self, images, eps) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        """The named losses and the unscaled gradients of one step, before any update (for the checks)."""
        self._clear_grads()
        out = self.forward(images, eps)
        (self.scaler.scale(out["loss"]) if self.scaler is not None else out["loss"]).backward()
        inv = 1.0 / self.scaler.get_scale() if self.scaler is not None else 1.0
        return ({k: out[k].detach() for k in ("loss", "reconstruction", "kl")},
                [p.grad * inv for p in self.params])

    def train_step(self, images, eps) -> dict[str, torch.Tensor]:
        """One train step; returns {"loss", "reconstruction", "kl"}: scalar tensors, not synchronised."""
        self._clear_grads()
        out = self.forward(images, eps)
        if self.scaler is not None:
            self.scaler.scale(out["loss"]).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            out["loss"].backward()
            self.optimizer.step()
        return {k: out[k].detach() for k in ("loss", "reconstruction", "kl")}


def build(spec: VAESpec, *, batch_size: int, precision: str = "fp32", seed: int = 0, device: str = "cpu",
          channels_last: bool = False, optimizer: str = "default") -> TorchVAE:
    """A VAE with weights from ``initial_weights(spec, seed)``, on ``device``; ``optimizer`` picks
    torch's Adam implementation (models/common/torch_common.py: the same update)."""
    return TorchVAE(spec, batch_size=batch_size, precision=precision, seed=seed, device=device,
                    channels_last=channels_last, optimizer=optimizer)


# -- canonical weights ------------------------------------------------------------------------
def _weight_modules(vae: TorchVAE) -> dict[str, dict[str, nn.Module]]:
    """Per network, the torch module of each weight layer, by the architecture's layer name."""
    enc, dec = vae.layers["encoder"], vae.layers["decoder"]
    return {"encoder": {ly.name: getattr(vae.encoder, ly.name, None) or getattr(vae.encoder.trunk, ly.name)
                        for ly in weight_layers(enc)},
            "decoder": {ly.name: getattr(vae.decoder, ly.name) for ly in weight_layers(dec)}}


def _state(vae: TorchVAE, net: str, grads: bool = False) -> dict[str, np.ndarray]:
    out = {}
    for name, m in _weight_modules(vae)[net].items():
        for p in ("weight", "bias"):
            t = getattr(m, p).grad if grads else getattr(m, p)
            out[f"{name}.{p}"] = t.detach().to(vae.dtype).cpu().numpy()
    return out


def get_weights(vae: TorchVAE) -> Weights:
    return {net: from_torch(vae.layers[net], _state(vae, net)) for net in vae.layers}


@torch.no_grad()
def set_weights(vae: TorchVAE, weights: Weights) -> None:
    for net, modules in _weight_modules(vae).items():
        check_chain(vae.layers[net], weights[net], net)
        for key, value in to_torch(vae.layers[net], weights[net]).items():
            layer, p = key.rsplit(".", 1)
            getattr(modules[layer], p).copy_(torch.from_numpy(value))  # copy_ keeps device and format


def layer_param_counts(vae: TorchVAE) -> dict[str, dict[str, int]]:
    """Per network, per weight layer: trainable parameters (torch's modules hold no buffers here)."""
    assert not [*vae.encoder.buffers(), *vae.decoder.buffers()], "unexpected buffers"
    return {net: {name: sum(p.numel() for p in m.parameters() if p.requires_grad) for name, m in mods.items()}
            for net, mods in _weight_modules(vae).items()}


# -- for the equivalence checks (not used by the timed step) ---------------------------------
@torch.no_grad()
def forward(vae: TorchVAE, images, eps) -> dict[str, np.ndarray]:
    """z_mean, z_log_var, z (B, latent) and the decoder's logits as NHWC numpy."""
    out = vae.forward(images, eps)
    res = {k: out[k].to(vae.dtype).cpu().numpy() for k in ("z_mean", "z_log_var", "z")}
    res["logits"] = out["logits"].to(vae.dtype).permute(0, 2, 3, 1).cpu().numpy()
    return res


def gradients(vae: TorchVAE, images, eps) -> tuple[dict[str, float], Weights]:
    """({loss name: value}, canonical gradients of every parameter) of one step, no update."""
    losses, _ = vae.losses_and_gradients(images, eps)
    inv = 1.0 / vae.scaler.get_scale() if vae.scaler is not None else 1.0
    grads = {net: {k: v * inv for k, v in _state(vae, net, grads=True).items()} for net in vae.layers}
    return ({k: float(v) for k, v in losses.items()},
            {net: from_torch(vae.layers[net], grads[net]) for net in vae.layers})


# -- the generate scenario (models.generate) -------------------------------------------------
def generate_module(vae: TorchVAE) -> nn.Module:
    """The decoder and a sigmoid (it outputs logits): latent -> images in [0, 1], NCHW."""
    return nn.Sequential(vae.decoder, nn.Sigmoid()).eval()
