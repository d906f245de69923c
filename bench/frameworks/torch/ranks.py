"""How torchrun starts a torch cell's ranks (read by the parent's ``engine`` launcher, bench.launchers.
engine; no torch import): ``python -m torch.distributed.run --standalone --nproc-per-node N -m <entry>
...``, one rank per process on this machine.

torchrun's agent starts N copies of the entry with RANK/WORLD_SIZE/LOCAL_RANK/MASTER_* in their
environment; the torch backend joins the process group and wraps the family's modules in DDP
(bench.frameworks.torch.ddp). ``--max-restarts 0``: a rank that fails makes the agent stop the others
and exit non-zero; its error summary ("Root Cause (first observed failure)") names the first failed
rank and its exit code.
"""

from __future__ import annotations

import re

from bench.results.records import Cell

ENGINE = "torchrun"
MONITOR_INTERVAL_S = 0.2  # how often the agent looks at its ranks (a dead rank stops the others)
_ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.DOTALL)


def accepts(cell: Cell) -> str | None:
    """None when torchrun can start ``cell``'s ranks (gloo on CPU, NCCL on CUDA), else why not."""
    if cell.workers < 2:
        return "torchrun starts 2 or more ranks (one rank: the process launcher)"
    return None


def command(python: str, world_size: int, entry: list[str]) -> list[str]:
    """The agent's command: ``entry`` = [module, args...] run by each of ``world_size`` ranks."""
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world_size}",
            "--max-restarts=0", f"--monitor-interval={MONITOR_INTERVAL_S}", "-m", *entry]


def root_cause(log_text: str) -> tuple[int, int] | None:
    """(rank, exit code) of the first failed rank in the agent's error summary, or None."""
    m = _ROOT_CAUSE.search(log_text)
    return (int(m.group(1)), int(m.group(2))) if m else None
