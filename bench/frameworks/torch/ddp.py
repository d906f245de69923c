"""Data-parallel torch cells: the process group and DistributedDataParallel around the family's modules.

A cell of ``workers: N`` runs as N ranks started by torchrun (bench.launchers.torchrun), which exports
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; each rank joins the group (gloo on CPU, NCCL
on CUDA, one device per rank) and wraps every module of the family in DDP through the family's
``compile_modules`` hook (a GAN's generator *and* discriminator, a VAE's encoder and decoder, a
U-Net): the step around them is the single-process step, and DDP all-reduces (averages) each
module's gradients during its ``backward``. Weak scaling: each rank trains the cell's batch, so the
global batch is N x batch.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

GLOBAL_BATCH_RULE = "weak scaling: per-rank batch = the cell's batch, global batch = ranks x batch"
# Every rank builds its inputs from the run's seed: the ranks train the same synthetic batches (what
# a rank's images are does not change a step's cost; the gradient all-reduce is the same size).
RANK_INPUTS = "the same synthetic batches on every rank (the run's seed)"


def init_group(device: str, device_index: int, rank: int, world_size: int,
               timeout_s: float) -> dict[str, Any]:
    """Join the slot's process group (env:// from torchrun); the flags that say how."""
    backend = "nccl" if device == "cuda" else "gloo"
    env_rank = int(os.environ.get("RANK", rank))
    env_world = int(os.environ.get("WORLD_SIZE", world_size))
    if (env_rank, env_world) != (rank, world_size):
        raise RuntimeError(f"launched as rank {env_rank} of {env_world}, but the spec is rank {rank} of "
                           f"{world_size}")
    kwargs: dict[str, Any] = {}
    if device == "cuda":
        kwargs["device_id"] = torch.device("cuda", device_index)
    # A peer that died makes a collective fail within the cell's own limit, not torch's default 30 min.
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=max(30.0, timeout_s)), **kwargs)
    return {"dist_backend": backend, "rank": dist.get_rank(), "world_size": dist.get_world_size(),
            "local_rank": int(os.environ.get("LOCAL_RANK", 0)), "global_batch_rule": GLOBAL_BATCH_RULE,
            "rank_inputs": RANK_INPUTS,
            "engine": "torchrun" if "TORCHELASTIC_RUN_ID" in os.environ else "env://",
            "ddp": "DistributedDataParallel around each module (DDP's defaults)"}


def ddp_wrapper(device: str, device_index: int) -> Callable[[nn.Module], nn.Module]:
    """What each module of the family is wrapped in (DDP's defaults otherwise: buffers such as
    BatchNorm's running statistics broadcast from rank 0 at each forward; each rank normalises its own
    batch with its own batch statistics)."""
    ids = [device_index] if device == "cuda" else None
    return lambda module: nn.parallel.DistributedDataParallel(module, device_ids=ids)


def wrap_modules(model: Any, wrap: Callable[[nn.Module], Any]) -> str:
    """Run ``wrap`` over the family's modules (its ``compile_modules`` hook); what was wrapped."""
    if not hasattr(model, "compile_modules"):
        raise NotImplementedError(f"{type(model).__name__} has no compile_modules hook: its modules cannot "
                                  "be wrapped in DistributedDataParallel")
    before = dict(getattr(model, "flags", None) or {})
    model.compile_modules(wrap)
    flags = getattr(model, "flags", None)
    wrapped = str((flags or {}).get("compiled", "?"))
    if flags is not None and "compiled" in before:
        flags["compiled"] = before["compiled"]  # the hook's name; nothing was compiled by DDP
    return wrapped


def close_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
