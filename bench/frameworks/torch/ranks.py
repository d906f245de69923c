"""How torchrun starts a torch cell's ranks (read by the parent's ``engine`` launcher, bench.launchers.
engine; no torch import): ``python -m torch.distributed.run --standalone --nproc-per-node N -m <entry>
...``, one rank per process on this machine; across M machines (``--nodes M --node-rank K --master
HOST:PORT``), each machine's agent starts its N / M ranks with ``--nnodes M --node-rank K --master-addr
HOST --master-port PORT`` (torchrun's static rendezvous: node 0's agent serves the store at HOST:PORT).

torchrun's agent starts N copies of the entry with RANK/WORLD_SIZE/LOCAL_RANK/MASTER_* in their
environment; the torch backend joins the process group and wraps the family's modules in DDP
(bench.frameworks.torch.ddp). ``--max-restarts 0``: a rank that fails makes the agent stop the others
and exit non-zero; its error summary ("Root Cause (first observed failure)") names the first failed
rank and its exit code.
"""

from __future__ import annotations

import re
from typing import Any

from bench.results.records import Cell

ENGINE = "torchrun"
MULTI_NODE = True  # its ranks may span machines (bench.launchers.engine)
MONITOR_INTERVAL_S = 0.2  # how often the agent looks at its ranks (a dead rank stops the others)
_ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.DOTALL)


def accepts(cell: Cell) -> str | None:
    """None when torchrun can start ``cell``'s ranks (gloo on CPU, NCCL on CUDA), else why not."""
    if cell.workers < 2:
        return "torchrun starts 2 or more ranks (one rank: the process launcher)"
    return None


def command(python: str, world_size: int, entry: list[str], nodes: Any = None) -> list[str]:
    """The agent's command: ``entry`` = [module, args...] run by each of this machine's ``world_size``
    ranks; ``nodes`` (bench.launchers.base.Nodes): the machines the slot spans, None or one: this one."""
    where = ["--standalone"]
    if nodes is not None and nodes.count > 1:
        host, _, port = nodes.master.rpartition(":")
        where = [f"--nnodes={nodes.count}", f"--node-rank={nodes.rank}", f"--master-addr={host}",
                 f"--master-port={port}"]
    return [python, "-m", "torch.distributed.run", *where, f"--nproc-per-node={world_size}",
            "--max-restarts=0", f"--monitor-interval={MONITOR_INTERVAL_S}", "-m", *entry]


def nodes_error(world_size: int, nodes: Any) -> str | None:
    """Why torchrun cannot start a cell of ``world_size`` ranks across ``nodes`` (bench.launchers.base.
    Nodes), or None: its agents meet at node 0's --master."""
    if not nodes.master:
        return (f"--nodes {nodes.count}: torch cells need node 0's --master HOST:PORT, the same on every "
                "node")
    return None


def root_cause(log_text: str) -> tuple[int, int] | None:
    """(rank, exit code) of the first failed rank in the agent's error summary, or None."""
    m = _ROOT_CAUSE.search(log_text)
    return (int(m.group(1)), int(m.group(2))) if m else None
