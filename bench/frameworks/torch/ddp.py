"""Data-parallel torch cells: the process group and DistributedDataParallel around the family's modules.

A cell of ``workers: N`` runs as N ranks started by torchrun (bench.launchers.torchrun), which exports
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; each rank joins the group (gloo on CPU, NCCL
on CUDA, one device per rank) and wraps every module of the family in DDP through the family's
``compile_modules`` hook (a GAN's generator *and* discriminator, a VAE's encoder and decoder, a
U-Net): the step around them is the single-process step, and DDP all-reduces (averages) each
module's gradients during its ``backward``. Each rank trains the batch its rule gives it (weak: the
cell's; strong: the cell's / N; bench.scenarios.base, flag ``global_batch_rule``).
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

# Every rank builds its inputs from the run's seed: the ranks train the same synthetic batches (what
# a rank's images are does not change a step's cost; the gradient all-reduce is the same size).
RANK_INPUTS = "the same synthetic batches on every rank (the run's seed)"


def init_group(device: str, device_index: int, rank: int, world_size: int, timeout_s: float,
               threads: int) -> dict[str, Any]:
    """Join the slot's process group (env:// from torchrun); the flags that say how (``threads``: this
    rank's intra-op threads, set before)."""
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
            "local_rank": int(os.environ.get("LOCAL_RANK", 0)), "rank_inputs": RANK_INPUTS,
            "engine": "torchrun" if "TORCHELASTIC_RUN_ID" in os.environ else "env://",
            "ddp": "DistributedDataParallel around each module (DDP's defaults)",
            "threads_per_rank": threads, "threads_total": threads * dist.get_world_size()}


COMM_TIME_METHOD = ("DDP communication hook: DDP's allreduce_hook, each bucket timed on the host clock "
                    "from its launch to its future's completion; per step, the union of those intervals "
                    "(overlapping the backward pass), over the timed and window steps")
COMM_UNMEASURED_CUDA = ("not measured on CUDA: an NCCL future completes on its stream, before the host "
                        "sees the all-reduce end")


class DDPWrap:
    """What each module of the family is wrapped in (DDP's defaults otherwise: buffers such as
    BatchNorm's running statistics broadcast from rank 0 at each forward; each rank normalises its own
    batch with its own batch statistics), and on CPU (gloo) a communication hook that times the
    all-reduces: DDP's own ``allreduce_hook`` (average the bucket, all-reduce it), so the gradients are
    what DDP computes without a hook."""

    def __init__(self, device: str, device_index: int) -> None:
        self.device_ids = [device_index] if device == "cuda" else None
        self.timed = device != "cuda"
        self.intervals: list[tuple[float, float]] = []  # (launch, done) of each bucket's all-reduce

    def __call__(self, module: nn.Module) -> nn.Module:
        ddp = nn.parallel.DistributedDataParallel(module, device_ids=self.device_ids)
        if self.timed:
            ddp.register_comm_hook(self, _timed_allreduce)
        return ddp

    def mark(self) -> int:
        return len(self.intervals)

    def figures(self, since: int, steps: int) -> dict[str, Any]:
        """``comm_ms_per_step`` over the ``steps`` since ``mark()`` returned ``since``, and how."""
        if not self.timed:
            return {"comm_time_method": COMM_UNMEASURED_CUDA}
        spans = sorted(self.intervals[since:])
        total, end = 0.0, float("-inf")
        for start, stop in spans:  # the union: buckets in flight together count once
            total += max(0.0, stop - max(start, end))
            end = max(end, stop)
        return {"comm_time_method": COMM_TIME_METHOD, "comm_buckets_per_step": len(spans) / max(1, steps),
                "comm_ms_per_step": 1e3 * total / max(1, steps)}


# Unannotated on purpose: DDP's check compares the annotations themselves with dist.GradBucket and
# torch.futures.Future (the strings this module's postponed annotations would make fail it).
def _timed_allreduce(state, bucket):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()

    def done(fut: Any) -> Any:
        state.intervals.append((t0, time.perf_counter()))
        return fut.value()

    return default_hooks.allreduce_hook(None, bucket).then(done)


def ddp_wrapper(device: str, device_index: int) -> Callable[[nn.Module], nn.Module]:
    return DDPWrap(device, device_index)


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
