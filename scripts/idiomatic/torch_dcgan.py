"""A harness-free PyTorch DCGAN training loop, written as a PyTorch user would write it.

The reference that the project's torch cells are checked against (issue 10): the SAME models and
algorithm as ``models/gan`` (architecture, initialisation, Adam settings, the TensorFlow tutorial's
step: one forward of G, D(real) and D(fake); g_loss and d_loss; both gradients; then both Adam
updates), but written directly in plain ``torch.nn``, without importing ``models`` or ``bench``.

    python scripts/idiomatic/torch_dcgan.py --model dcgan-mnist --batch 256 --steps 15 --warmup 3
    python scripts/idiomatic/torch_dcgan.py --model dcgan-mnist --batch 256 --compile

``--compile`` compiles the generator and discriminator MODULES alone (``torch.compile(G)``,
``torch.compile(D)``); the losses, both backward passes and the optimisers stay eager. That is the
issue's reference for the project's ``compile`` cell. (AOTAutograd's donated buffers are turned off,
as torch's error message advises: the first ``backward`` keeps the graph for the second.)

Steps: one first step (compilation included), ``--warmup`` more, then ``--steps`` timed ones (the
harness's 1 + warm-up + timed). Each step is timed on the host clock and ends when both losses have
been read with ``.item()``. Synthetic data from numpy with a fixed seed, ``--n-batches`` distinct
batches resident in memory and cycled (as the harness does). Prints ONE JSON line on stdout.

Deliberate, timing-neutral differences from models/gan (same shapes, same FLOPs): the dcgan-mnist
'same' paddings are torch's usual symmetric ``padding=2`` (``output_padding=1`` for the stride-2
transposed convolutions) rather than TensorFlow's asymmetric (1, 2) pads; ``--padding tf`` uses TF's
pads exactly (an explicit ``F.pad`` / crop, as models/gan does). Weights are drawn by torch's own RNG
with the same distributions, so losses match models/gan in value range, not bit for bit.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# The models' hyper-parameters (models/gan/spec.py), repeated here on purpose: no import of models/.
MODELS = {
    "dcgan-mnist": dict(image=(1, 28, 28), noise=100, lr=1e-4, betas=(0.9, 0.999), eps=1e-7,
                        slope=0.3, bn_eps=1e-3, bn_momentum=0.01, dropout=0.3),
    "dcgan-64": dict(image=(3, 64, 64), noise=100, lr=2e-4, betas=(0.5, 0.999), eps=1e-8,
                     slope=0.2, bn_eps=1e-5, bn_momentum=0.1, dropout=0.0),
}


class TFPad(nn.Module):
    """The asymmetric part of TensorFlow's 'same' padding of a k5 s2 convolution on an even size
    (1 before, 2 after): one extra row/column after; the convolution pads the symmetric 1 itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 1, 0, 1))


class TFCrop(nn.Module):
    """The asymmetric part of TensorFlow's 'same' crop of a k5 s2 transposed convolution (1 before,
    2 after of 2h + 3): the convolution's padding=1 crops 1 each side, this drops the last one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :-1, :-1]


def _convt_s2(cin: int, cout: int, tf_padding: bool) -> list[nn.Module]:
    if tf_padding:
        return [nn.ConvTranspose2d(cin, cout, 5, 2, padding=1, bias=False), TFCrop()]
    return [nn.ConvTranspose2d(cin, cout, 5, 2, padding=2, output_padding=1, bias=False)]


def _conv_s2(cin: int, cout: int, tf_padding: bool) -> list[nn.Module]:
    if tf_padding:
        return [TFPad(), nn.Conv2d(cin, cout, 5, 2, padding=1)]
    return [nn.Conv2d(cin, cout, 5, 2, padding=2)]


def mnist_models(h: dict, tf_padding: bool) -> tuple[nn.Module, nn.Module]:
    """The TensorFlow DCGAN tutorial's networks (Keras defaults: glorot-uniform kernels, zero biases)."""
    s, eps, mom = h["slope"], h["bn_eps"], h["bn_momentum"]
    g = nn.Sequential(
        nn.Linear(h["noise"], 7 * 7 * 256, bias=False),
        nn.BatchNorm1d(7 * 7 * 256, eps=eps, momentum=mom),  # the tutorial normalises the flat features
        nn.LeakyReLU(s),
        nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 5, 1, padding=2, bias=False),
        nn.BatchNorm2d(128, eps=eps, momentum=mom),
        nn.LeakyReLU(s),
        *_convt_s2(128, 64, tf_padding),
        nn.BatchNorm2d(64, eps=eps, momentum=mom),
        nn.LeakyReLU(s),
        *_convt_s2(64, 1, tf_padding),
        nn.Tanh(),
    )
    d = nn.Sequential(
        *_conv_s2(1, 64, tf_padding), nn.LeakyReLU(s), nn.Dropout(h["dropout"]),
        *_conv_s2(64, 128, tf_padding), nn.LeakyReLU(s), nn.Dropout(h["dropout"]),
        nn.Flatten(),
        nn.Linear(128 * 7 * 7, 1),
    )
    for m in [*g.modules(), *d.modules()]:
        if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return g, d


def dcgan64_models(h: dict) -> tuple[nn.Module, nn.Module]:
    """pytorch/examples dcgan (ngf = ndf = 64), the final Sigmoid dropped (BCE with logits)."""
    eps, mom, s, nz = h["bn_eps"], h["bn_momentum"], h["slope"], h["noise"]

    def up(cin: int, cout: int, stride: int, pad: int) -> list[nn.Module]:
        return [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False),
                nn.BatchNorm2d(cout, eps=eps, momentum=mom), nn.ReLU(True)]

    def down(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 4, 2, 1, bias=False),
                nn.BatchNorm2d(cout, eps=eps, momentum=mom), nn.LeakyReLU(s, inplace=True)]

    g = nn.Sequential(*up(nz, 512, 1, 0), *up(512, 256, 2, 1), *up(256, 128, 2, 1), *up(128, 64, 2, 1),
                      nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.LeakyReLU(s, inplace=True),
                      *down(64, 128), *down(128, 256), *down(256, 512),
                      nn.Conv2d(512, 1, 4, 1, 0, bias=False), nn.Flatten())

    def weights_init(m: nn.Module) -> None:  # pytorch/examples
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    g.apply(weights_init)
    d.apply(weights_init)
    return g, d


def make_data(model: str, h: dict, batch: int, n_batches: int, seed: int) -> list[tuple[np.ndarray, ...]]:
    """``n_batches`` (images NCHW in [-1, 1], noise) pairs of float32 numpy arrays."""
    rng = np.random.default_rng(seed)
    noise_shape = (batch, h["noise"], 1, 1) if model == "dcgan-64" else (batch, h["noise"])
    return [(np.tanh(rng.standard_normal((batch, *h["image"]), dtype=np.float32)),
             rng.standard_normal(noise_shape, dtype=np.float32)) for _ in range(n_batches)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), default="dcgan-mnist")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=15, help="timed steps (default 15)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after the first one (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--interop", type=int, default=1, help="torch.set_num_interop_threads (default 1)")
    p.add_argument("--compile", action="store_true", help="torch.compile the G and D modules alone")
    p.add_argument("--compile-mode", default=None, help="torch.compile(mode=...) with --compile")
    p.add_argument("--adam", choices=("default", "foreach", "fused"), default="default",
                   help="torch.optim.Adam implementation (default: torch's choice)")
    p.add_argument("--channels-last", action="store_true", help="channels-last modules and images")
    p.add_argument("--padding", choices=("torch", "tf"), default="torch",
                   help="dcgan-mnist 'same' pads: torch's symmetric ones (default) or TF's exact (1, 2)")
    p.add_argument("--n-batches", type=int, default=4, help="distinct batches, cycled (default 4)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.batch < 1 or a.steps < 1 or a.warmup < 0 or a.threads < 1 or a.interop < 1 or a.n_batches < 1:
        p.error("--batch, --steps, --threads, --interop, --n-batches must be >= 1 and --warmup >= 0")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(a.interop)
    torch.manual_seed(a.seed)
    h = MODELS[a.model]
    netG, netD = mnist_models(h, a.padding == "tf") if a.model == "dcgan-mnist" else dcgan64_models(h)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    if a.channels_last:
        netG.to(memory_format=fmt)
        netD.to(memory_format=fmt)
    netG.train()
    netD.train()
    adam_kw = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}[a.adam]
    optG = torch.optim.Adam(netG.parameters(), lr=h["lr"], betas=h["betas"], eps=h["eps"], **adam_kw)
    optD = torch.optim.Adam(netD.parameters(), lr=h["lr"], betas=h["betas"], eps=h["eps"], **adam_kw)
    g_params, d_params = list(netG.parameters()), list(netD.parameters())
    if a.compile:
        # The first backward keeps the graph (retain_graph=True), which AOTAutograd's donated buffers
        # refuse; torch's own error message advises turning them off.
        import torch._functorch.config as functorch_config

        functorch_config.donated_buffer = False
    # dynamic=False: G and D are both nn.Sequential, so they share one frame in dynamo's cache; the
    # second module's compile counts as a recompile of it and would otherwise turn on dynamic shapes.
    G = torch.compile(netG, mode=a.compile_mode, dynamic=False) if a.compile else netG
    D = torch.compile(netD, mode=a.compile_mode, dynamic=False) if a.compile else netD

    data = [(torch.from_numpy(x).contiguous(memory_format=fmt), torch.from_numpy(z))
            for x, z in make_data(a.model, h, a.batch, a.n_batches, a.seed)]

    def train_step(real: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        optG.zero_grad(set_to_none=True)
        optD.zero_grad(set_to_none=True)
        fake = G(noise)
        real_logits = D(real).view(-1)
        fake_logits = D(fake).view(-1)
        g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        # The tutorial's two tapes: g_loss w.r.t. G only, d_loss w.r.t. D only.
        g_loss.backward(inputs=g_params, retain_graph=True)
        d_loss.backward(inputs=d_params)
        optG.step()
        optD.step()
        return g_loss, d_loss

    def timed(i: int) -> tuple[float, float, float]:
        real, noise = data[i % len(data)]
        t0 = time.perf_counter()
        g_loss, d_loss = train_step(real, noise)
        g, d = g_loss.item(), d_loss.item()
        return time.perf_counter() - t0, g, d

    first_s, g0, d0 = timed(0)
    warm = [timed(1 + i)[0] for i in range(a.warmup)]
    runs = [timed(1 + a.warmup + i) for i in range(a.steps)]
    times = [t for t, _, _ in runs]
    print(json.dumps({
        "median_s": statistics.median(times), "steps": a.steps, "times_s": times,
        "first_step_s": first_s, "warmup_times_s": warm,
        "losses_first": {"g": g0, "d": d0}, "losses_last": {"g": runs[-1][1], "d": runs[-1][2]},
        "framework": "torch", "version": torch.__version__, "python": platform.python_version(),
        "model": a.model, "batch": a.batch, "mode": "compile" if a.compile else "eager",
        "compile_mode": a.compile_mode, "adam": a.adam, "channels_last": a.channels_last,
        "padding": a.padding, "threads": torch.get_num_threads(), "interop": torch.get_num_interop_threads(),
        "n_batches": a.n_batches, "seed": a.seed, "warmup": a.warmup,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
