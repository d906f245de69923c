"""A harness-free PyTorch VAE training loop, written as a PyTorch user would write it.

The reference that the project's torch vae-mnist cells are checked against (issue 27): the SAME
model and algorithm as ``models/vae`` (the Keras VAE example's networks: Conv 32 k3 s2 → Conv 64 k3
s2 → Linear 16, two Linear heads z_mean / z_log_var; decoder Linear 7·7·64 → ConvT 64 → ConvT 32 →
ConvT 1 giving logits; BCE-from-logits summed per image plus the KL term, one backward, one Adam),
written directly in plain ``torch.nn``, without importing ``models`` or ``bench``.

    python scripts/idiomatic/torch_vae.py --batch 128 --padding tf
    python scripts/idiomatic/torch_vae.py --batch 128 --padding tf --compile

``--compile`` compiles the encoder and decoder MODULES alone (``torch.compile(module,
dynamic=False)``); the reparameterisation, the losses, the backward and the optimiser stay eager,
as the project's ``compile`` cell.

``--padding``: the stride-2 'same' layers of the example pad or crop one pixel after (TensorFlow's
rule). ``torch`` (default) writes them as a torch user ports them (``padding=1``, and
``output_padding=1`` for the transposed ones): same shapes and FLOPs, each output shifted by a
pixel. ``tf`` pads/crops exactly as TensorFlow (an explicit ``nn.ZeroPad2d`` / crop, as models/vae
does): the model the project times.

Steps: one first step (compilation included), ``--warmup`` more, then ``--steps`` timed ones. Each
step is timed on the host clock and ends when its three losses have been read with ``.item()``.
Synthetic images in [0, 1] from numpy with a fixed seed, ``--n-batches`` distinct batches resident in
memory and cycled (as the harness does). Prints ONE JSON line on stdout. Kernels are drawn
glorot-uniform, biases zero (Keras' defaults, models/vae's distributions), by torch's RNG.
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

# models/vae/spec.py, repeated here on purpose: no import of models/.
IMAGE, LATENT, HIDDEN, LR, EPS = (1, 28, 28), 2, 16, 1e-3, 1e-7


class CropAfter(nn.Module):
    """Drops the last row and column: TensorFlow's 'same' crop of a k3 s2 transposed convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :-1, :-1]


def conv_s2(cin: int, cout: int, tf_padding: bool) -> list[nn.Module]:
    if tf_padding:
        return [nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(cin, cout, 3, 2)]
    return [nn.Conv2d(cin, cout, 3, 2, padding=1)]


def convt_s2(cin: int, cout: int, tf_padding: bool) -> list[nn.Module]:
    if tf_padding:
        return [nn.ConvTranspose2d(cin, cout, 3, 2), CropAfter()]
    return [nn.ConvTranspose2d(cin, cout, 3, 2, padding=1, output_padding=1)]


class Encoder(nn.Module):
    def __init__(self, tf_padding: bool) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*conv_s2(1, 32, tf_padding), nn.ReLU(), *conv_s2(32, 64, tf_padding),
                                   nn.ReLU(), nn.Flatten(), nn.Linear(64 * 7 * 7, HIDDEN), nn.ReLU())
        self.z_mean = nn.Linear(HIDDEN, LATENT)
        self.z_log_var = nn.Linear(HIDDEN, LATENT)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        return self.z_mean(h), self.z_log_var(h)


def vae_models(tf_padding: bool) -> tuple[nn.Module, nn.Module]:
    decoder = nn.Sequential(nn.Linear(LATENT, 7 * 7 * 64), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                            *convt_s2(64, 64, tf_padding), nn.ReLU(),
                            *convt_s2(64, 32, tf_padding), nn.ReLU(),
                            nn.ConvTranspose2d(32, 1, 3, 1, padding=1))
    encoder = Encoder(tf_padding)
    for m in [*encoder.modules(), *decoder.modules()]:
        if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return encoder, decoder


def make_data(batch: int, n_batches: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_batches`` (images NCHW in [0, 1], ε) pairs of float32 numpy arrays."""
    rng = np.random.default_rng(seed)
    return [((np.tanh(rng.standard_normal((batch, *IMAGE), dtype=np.float32)) + 1.0) / 2.0,
             rng.standard_normal((batch, LATENT), dtype=np.float32)) for _ in range(n_batches)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("vae-mnist",), default="vae-mnist")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=15, help="timed steps (default 15)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after the first one (default 3)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--interop", type=int, default=2, help="torch.set_num_interop_threads (default 2)")
    p.add_argument("--compile", action="store_true", help="torch.compile the encoder and decoder alone")
    p.add_argument("--padding", choices=("torch", "tf"), default="torch",
                   help="stride-2 'same' pads: torch's symmetric port (default) or TF's exact ones")
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
    encoder, decoder = vae_models(a.padding == "tf")
    encoder.train()
    decoder.train()
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=LR, eps=EPS)
    enc = torch.compile(encoder, dynamic=False) if a.compile else encoder
    dec = torch.compile(decoder, dynamic=False) if a.compile else decoder
    data = [(torch.from_numpy(x), torch.from_numpy(e)) for x, e in make_data(a.batch, a.n_batches, a.seed)]

    def train_step(images: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        optimizer.zero_grad(set_to_none=True)
        z_mean, z_log_var = enc(images)
        z = z_mean + torch.exp(0.5 * z_log_var) * eps
        logits = dec(z)
        bce = F.binary_cross_entropy_with_logits(logits, images, reduction="none")
        reconstruction = bce.sum(dim=(1, 2, 3)).mean()
        kl = (-0.5 * (1.0 + z_log_var - z_mean.square() - z_log_var.exp())).sum(dim=1).mean()
        total = reconstruction + kl
        total.backward()
        optimizer.step()
        return total.detach(), reconstruction.detach(), kl.detach()

    def timed(i: int) -> tuple[float, dict[str, float]]:
        images, eps = data[i % len(data)]
        t0 = time.perf_counter()
        total, reconstruction, kl = train_step(images, eps)
        losses = {"loss": total.item(), "reconstruction": reconstruction.item(), "kl": kl.item()}
        return time.perf_counter() - t0, losses

    first_s, losses0 = timed(0)
    warm = [timed(1 + i)[0] for i in range(a.warmup)]
    runs = [timed(1 + a.warmup + i) for i in range(a.steps)]
    times = [t for t, _ in runs]
    print(json.dumps({
        "median_s": statistics.median(times), "steps": a.steps, "times_s": times,
        "first_step_s": first_s, "warmup_times_s": warm, "losses_first": losses0, "losses_last": runs[-1][1],
        "framework": "torch", "version": torch.__version__, "python": platform.python_version(),
        "model": a.model, "batch": a.batch, "mode": "compile" if a.compile else "eager",
        "padding": a.padding, "threads": torch.get_num_threads(), "interop": torch.get_num_interop_threads(),
        "n_batches": a.n_batches, "seed": a.seed, "warmup": a.warmup,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
