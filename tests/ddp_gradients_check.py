"""Run by tests/test_scale_out.py under torchrun (2 gloo ranks, float64): the gradients DDP leaves on
each rank, with the family's modules wrapped as a data-parallel cell wraps them
(bench.frameworks.torch.ddp), against the mean of the ranks' own single-process gradients, and for
a family without BatchNorm (the VAE) against one process's gradient of the concatenated global
batch. Rank 0 writes the largest differences as JSON to argv[2]."""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist

from bench.frameworks.torch.ddp import ddp_wrapper, wrap_modules
from models.registry import family_of, get_spec

PER_RANK = 4


def grads(model, name: str, batch) -> list[torch.Tensor]:
    if name.startswith("vae"):
        return [g.detach().clone() for g in model.losses_and_gradients(*batch)[1]]
    _, _, g, d = model.losses_and_gradients(*batch)
    return [t.detach().clone() for t in (*g, *d)]


def build(name: str):
    impl = family_of(name).implementation("torch")
    options = {} if name.startswith("vae") else {"dropout": False}
    return impl.build(get_spec(name), batch_size=PER_RANK, precision="fp64", seed=0, device="cpu", **options)


def main() -> None:
    name, out = sys.argv[1], sys.argv[2]
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    family, spec = family_of(name), get_spec(name)
    arrays = family.make_inputs(spec, PER_RANK * world, 1, 0, "synthetic")
    local = build(name)
    full = local.to_framework_batches(*arrays)[0]
    shard = tuple(t[rank * PER_RANK:(rank + 1) * PER_RANK] for t in full)
    own = grads(local, name, shard)
    expected = [g.clone() for g in own]
    for g in expected:
        dist.all_reduce(g)
        g /= world
    whole = grads(local, name, full)
    ddp = build(name)
    wrap_modules(ddp, ddp_wrapper("cpu", 0))
    got = grads(ddp, name, shard)
    def gap(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
        return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))

    result = {"vs_mean_of_ranks": gap(got, expected), "vs_global_batch": gap(got, whole),
              "own_shard_vs_mean": gap(own, expected), "scale": max(float(g.abs().max()) for g in expected)}
    if rank == 0:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(result, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
