"""The DDPM U-Net in PyTorch (torch.nn). Imports torch only (never TensorFlow).

``build(spec, ...)`` returns a :class:`TorchDDPM`; ``model.train_step(images, t, eps)`` noises the
images at t with ε (x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·ε, constants from ``models.ddpm.schedule``),
predicts ε and takes one AdamW step on the MSE, as a plain Python function the harness runs eagerly or,
for its compiled modes, after ``model.compile_modules(compile_fn)`` has compiled the U-Net (the noising,
the loss, the backward and the AdamW update stay eager Python). The U-Net walks
``models.ddpm.arch.program``; attention is ``F.scaled_dot_product_attention``. Every torch setting
that differs from Keras' default is listed in models/ddpm/CONTRACT.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..common.torch_common import TorchModel, adam_implementation, optimizer_kwargs
from . import arch
from .schedule import embedding_frequencies, noising_tables
from .spec import DDPMSpec
from .weights import NET, Weights, check_canonical, from_torch, initial_weights, to_torch


def _conv(layer: arch.Layer) -> nn.Conv2d:
    before, after = layer.pads
    # Symmetric pads go in padding=; TF's asymmetric (0, 1) of a stride-2 conv is applied by Down.
    padding = before if before == after else 0
    return nn.Conv2d(layer.cin, layer.cout, layer.kernel, layer.stride, padding=padding)


def _gn(layer: arch.Layer, spec: DDPMSpec) -> nn.GroupNorm:
    return nn.GroupNorm(layer.groups, layer.cout, eps=spec.gn_epsilon)  # explicit: torch's default is 1e-5


class ResBlock(nn.Module):
    def __init__(self, blk: arch.ResBlock, spec: DDPMSpec) -> None:
        super().__init__()
        ly = blk.layers
        self.norm1, self.conv1 = _gn(ly["norm1"], spec), _conv(ly["conv1"])
        self.temb = nn.Linear(spec.temb_channels, blk.cout)
        self.norm2, self.conv2 = _gn(ly["norm2"], spec), _conv(ly["conv2"])
        self.shortcut = _conv(ly["shortcut"]) if blk.shortcut else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.shortcut is None else self.shortcut(x)) + h


class Attention(nn.Module):
    """Single-head self-attention over the H·W positions, written as diffusers' ``Attention`` does:
    q, k, v, proj_out are Linear layers on (B, H·W, C) tokens, so SDPA gets a last dimension of stride
    1 (the fused kernels, on CPU and CUDA, fall back to math otherwise)."""

    def __init__(self, blk: arch.AttnBlock, spec: DDPMSpec) -> None:
        super().__init__()
        c = blk.channels
        self.norm = _gn(blk.layers["norm"], spec)
        self.q, self.k, self.v, self.proj_out = (nn.Linear(c, c) for _ in range(4))
        self.scale = c ** -0.5  # Ho et al.'s C^-1/2 = SDPA's default; explicit on both sides

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        # NCHW -> (B, H·W tokens, C): tokens in (h, w) row-major order, as Keras' reshape of NHWC.
        tokens = self.norm(x).reshape(b, c, hh * ww).transpose(1, 2)
        q, k, v = (m(tokens).unsqueeze(1) for m in (self.q, self.k, self.v))  # (B, 1 head, L, C)
        o = F.scaled_dot_product_attention(q, k, v, scale=self.scale).squeeze(1)
        return x + self.proj_out(o).transpose(1, 2).reshape(b, c, hh, ww)


class Down(nn.Module):
    def __init__(self, layer: arch.Layer) -> None:
        super().__init__()
        self.pads = layer.pads
        self.down = _conv(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # TF 'SAME' on an even size pads (0, 1): nothing top/left, one row/column bottom/right.
        before, after = self.pads
        return self.down(F.pad(x, (before, after, before, after)))


class Up(nn.Module):
    def __init__(self, layer: arch.Layer) -> None:
        super().__init__()
        self.up = _conv(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    def __init__(self, spec: DDPMSpec) -> None:
        super().__init__()
        self.arch = net = arch.unet(spec)
        self.program = arch.program(net)
        self.temb = nn.ModuleDict({ly.sub: nn.Linear(ly.cin, ly.cout) for ly in net.temb})
        self.conv_in = _conv(net.conv_in)
        blocks: dict[str, nn.Module] = {}
        for b in net.blocks():
            blocks[b.name] = ResBlock(b, spec) if isinstance(b, arch.ResBlock) else Attention(b, spec)
        for i, level in enumerate(net.down):
            if level.resample:
                blocks[f"down{i}"] = Down(level.resample)
        for level in net.up:
            if level.resample:
                blocks[level.resample.block] = Up(level.resample)
        self.blocks = nn.ModuleDict(blocks)
        self.norm_out, self.conv_out = _gn(net.norm_out, spec), _conv(net.conv_out)
        self.register_buffer("freqs", torch.tensor(embedding_frequencies(spec)),  # float64; .to() casts
                             persistent=False)

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        # In the buffers' dtype (float32; float64 in the checks), outside autocast's reach: sin/cos of
        # t·f up to 999 would be meaningless in bfloat16.
        args = t[:, None].to(self.freqs.dtype) * self.freqs[None]
        emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
        return self.temb["dense1"](F.silu(self.temb["dense0"](emb)))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.embed(t)
        hs: list[torch.Tensor] = []
        h = x
        for op, name in self.program:
            if op == "conv_in":
                h = self.conv_in(x)
            elif op == "push":
                hs.append(h)
            elif op == "concat":
                h = torch.cat([h, hs.pop()], dim=1)  # [h, skip] on channels (dim 1 in NCHW)
            elif op == "res":
                h = self.blocks[name](h, temb)
            elif op in ("attn", "down", "up"):
                h = self.blocks[name](h)
            else:  # out
                h = self.conv_out(F.silu(self.norm_out(h)))
        return h


def make_optimizer(params, spec: DDPMSpec, optimizer: str = "default") -> torch.optim.AdamW:
    # Decoupled decay θ ← θ − lr·λ·θ, as Keras 3's AdamW; eps added after the bias correction (Keras'
    # epsilon is "epsilon hat"): CONTRACT.md. ``optimizer`` picks torch's implementation of the same
    # update (models/common/torch_common.py).
    return torch.optim.AdamW(params, lr=spec.learning_rate, betas=(spec.adam_beta1, spec.adam_beta2),
                             eps=spec.adam_epsilon, weight_decay=spec.weight_decay,
                             **optimizer_kwargs(optimizer))


def sdpa_kernels(net: UNet, batch_size: int, dtype: torch.dtype, device: torch.device) -> dict[str, str]:
    """The fused SDPA kernel torch's dispatcher picks for each attention size of a training step,
    {"16x16": "flash_attention", ...}: ``torch._fused_sdp_choice`` is what ``F.scaled_dot_product_attention``
    consults (CUDA: flash / efficient / cudnn / math; CPU: flash_attention is the CPU flash kernel,
    math the unfused fallback). Eager dispatch only: torch.compile may lower attention its own way."""
    from torch.nn.attention import SDPBackend

    names = {int(getattr(SDPBackend, n)): n.lower() for n in dir(SDPBackend) if n.isupper()}
    out: dict[str, str] = {}
    for blk in net.arch.attention_blocks():
        shape = (batch_size, 1, blk.size * blk.size, blk.channels)
        q = torch.empty(shape, dtype=dtype, device=device, requires_grad=True)
        try:
            choice = names.get(int(torch._fused_sdp_choice(q, q, q, scale=blk.channels ** -0.5)), "unknown")
        except Exception as e:  # a private API: never let it fail a build
            choice = f"unknown ({type(e).__name__})"
        out[f"{blk.size}x{blk.size}"] = choice
    return out


class TorchDDPM(TorchModel):
    framework = "torch"

    def __init__(self, spec: DDPMSpec, *, batch_size: int, precision: str = "fp32", seed: int = 0,
                 device: str = "cpu", channels_last: bool = False, optimizer: str = "default") -> None:
        self.setup(spec, batch_size, precision, device, channels_last)
        self.unet = UNet(spec).to(self.device, self.dtype)
        if channels_last:
            self.unet.to(memory_format=torch.channels_last)
        self.unet.train()
        a, b = noising_tables(spec)
        self.sqrt_ab = torch.tensor(a, dtype=self.dtype, device=self.device)
        self.sqrt_1mab = torch.tensor(b, dtype=self.dtype, device=self.device)
        set_weights(self, initial_weights(spec, seed))
        self.params = list(self.unet.parameters())
        self.opt = make_optimizer(self.params, spec, optimizer)
        self.unet_call: Callable = self.unet  # or its compiled version (compile_modules)
        kernels = sdpa_kernels(self.unet, batch_size, self.autocast_dtype or self.dtype, self.device)
        uniform = set(kernels.values())
        # Recorded in the cell's flags by the harness (bench/frameworks/base.py reads model.flags).
        self.flags: dict[str, Any] = {
            "attention_op": "torch.nn.functional.scaled_dot_product_attention",
            "sdpa_kernel": uniform.pop() if len(uniform) == 1 else
            ", ".join(f"{k}={v}" for k, v in kernels.items()),
            "optimizer": optimizer,
            "adam_implementation": adam_implementation(self.opt),
            "compiled": "nothing",
        }

    def compile_modules(self, compile_fn: Callable[[nn.Module], Callable]) -> None:
        """Run the U-Net through ``compile_fn`` (e.g. ``torch.compile``); the noising, the loss, the
        backward and the eager AdamW update are unchanged."""
        self.unet_call = compile_fn(self.unet)
        self.flags["compiled"] = "unet"

    # -- data ---------------------------------------------------------------------------------
    def to_framework_batches(self, images: np.ndarray, t: np.ndarray,
                             eps: np.ndarray) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(n, B, H, W, C) / (n, B) / (n, B, H, W, C) numpy -> one (x0 NCHW, t int64, ε NCHW) per batch."""
        steps = [torch.from_numpy(np.asarray(s, dtype=np.int64)).to(self.device) for s in t]
        return [(self.image(x), s, self.image(e)) for x, s, e in zip(images, steps, eps, strict=True)]

    # -- the step -----------------------------------------------------------------------------
    def loss(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        x_t = self.sqrt_ab[t].view(-1, 1, 1, 1) * x0 + self.sqrt_1mab[t].view(-1, 1, 1, 1) * eps
        with self.autocast():
            pred = self.unet_call(x_t, t)
        # Mean over every element, in float32 under autocast too (float64 in the checks).
        return F.mse_loss(pred.to(self.dtype), eps)

    def _clear_grads(self) -> None:
        # What zero_grad(set_to_none=True) does, without its per-call overhead, and no graph break when
        # a test compiles the whole train_step.
        for p in self.params:
            p.grad = None

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def losses_and_gradients(self, x0, t, eps):
        """The loss and the (unscaled) gradients, before any update (for the checks)."""
        self._clear_grads()
        loss = self.loss(x0, t, eps)
        self._backward(loss)
        inv = 1.0 / self.scaler.get_scale() if self.scaler is not None else 1.0
        return loss.detach(), [p.grad * inv for p in self.params]

    def train_step(self, x0, t, eps) -> dict[str, torch.Tensor]:
        """One step; returns the named losses {"mse": float32 scalar tensor}, not synchronised."""
        self._clear_grads()
        loss = self.loss(x0, t, eps)
        self._backward(loss)
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        return {"mse": loss.detach()}


def build(spec: DDPMSpec, *, batch_size: int, precision: str = "fp32", seed: int = 0, device: str = "cpu",
          channels_last: bool = False, optimizer: str = "default") -> TorchDDPM:
    """A DDPM with weights from ``initial_weights(spec, seed)``, on ``device``, in train mode;
    ``optimizer`` picks torch's AdamW implementation (models/common/torch_common.py: the same update)."""
    return TorchDDPM(spec, batch_size=batch_size, precision=precision, seed=seed, device=device,
                     channels_last=channels_last, optimizer=optimizer)


# -- canonical weights ------------------------------------------------------------------------
def get_weights(model: TorchDDPM) -> Weights:
    state = {k: v.detach().to(model.dtype).cpu().numpy() for k, v in model.unet.state_dict().items()}
    return {NET: from_torch(model.spec, state)}


@torch.no_grad()
def set_weights(model: TorchDDPM, weights: Weights) -> None:
    check_canonical(model.spec, weights[NET])
    state = model.unet.state_dict()
    for name, value in to_torch(model.spec, weights[NET]).items():
        state[name].copy_(torch.from_numpy(value))  # copy_ keeps device, dtype and memory format


def layer_param_counts(model: TorchDDPM) -> dict[str, int]:
    """Parameters per canonical weight layer, as torch sees them."""
    return {ly.name: sum(p.numel() for p in model.unet.get_submodule(ly.torch_path).parameters())
            for ly in arch.unet(model.spec).layers()}


# -- for the equivalence checks (not used by the timed step) ---------------------------------
@torch.no_grad()
def forward(model: TorchDDPM, x0, t, eps) -> np.ndarray:
    """The ε prediction on x_t as numpy NHWC (the model's dtype)."""
    x_t = model.sqrt_ab[t].view(-1, 1, 1, 1) * x0 + model.sqrt_1mab[t].view(-1, 1, 1, 1) * eps
    return model.unet(x_t, t).to(model.dtype).permute(0, 2, 3, 1).cpu().numpy()


def gradients(model: TorchDDPM, x0, t, eps) -> tuple[float, Weights]:
    """(loss, canonical gradients) of one step, no update."""
    loss, grads = model.losses_and_gradients(x0, t, eps)
    names = [n for n, _ in model.unet.named_parameters()]
    state = {n: g.detach().to(model.dtype).cpu().numpy() for n, g in zip(names, grads, strict=True)}
    return float(loss), {NET: from_torch(model.spec, state)}


# -- the generate scenario (models.generate) -------------------------------------------------
class DenoisingStep(nn.Module):
    """One step of Ho et al.'s ancestral sampler (Algorithm 2): x ← c1·(x − c2·ε_θ(x, t)) + σ·z, with
    [c1, c2, σ] per image (models.ddpm.schedule.sampling_schedule)."""

    def __init__(self, unet: UNet) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor, t: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        eps = self.unet(x, t)
        c1, c2, sigma = (c[:, i].view(-1, 1, 1, 1) for i in range(3))
        return c1 * (x - c2 * eps) + sigma * z


def generate_module(model: TorchDDPM) -> nn.Module:
    """One denoising step in inference mode (the U-Net has no dropout nor BatchNorm)."""
    return DenoisingStep(model.unet).eval()
