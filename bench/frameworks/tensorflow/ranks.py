"""How a TensorFlow cell's ranks are started (read by the parent's ``engine`` launcher, bench.launchers.
engine; no TensorFlow import): one ordinary worker process per rank, each with a ``TF_CONFIG`` naming
every worker of the cluster and its own index, as ``tf.distribute.MultiWorkerMirroredStrategy`` reads it
(bench.frameworks.tensorflow.distribute).

On one machine the cluster is N local workers on free localhost ports (chosen by the launcher). Across
M machines (``--nodes M --node-rank K --tf-workers LIST``) every node must name every worker alike, so
the addresses are given, not chosen: ``cluster`` spells them out in global rank order, and node K
starts its N / M workers as tasks K x N / M + local index. Worker 0 (on node 0) also hosts the
strategy's coordination service.

CPU cells only: on CUDA each worker would see every GPU and make each a replica of its own (one GPU
per worker needs each rank's visible devices narrowed; not built).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bench.results.records import Cell

ENGINE = "tf.distribute.MultiWorkerMirroredStrategy (TF_CONFIG)"
MULTI_NODE = True  # its workers may span machines, at the addresses of --tf-workers


def accepts(cell: Cell) -> str | None:
    if cell.workers < 2:
        return "MultiWorkerMirroredStrategy cells start 2 or more ranks (one rank: the process launcher)"
    if cell.device != "cpu":
        return "tensorflow's multi-worker launcher starts CPU cells only here (one GPU per worker: not built)"
    return None


def rank_env(world_size: int, rank: int, addresses: Sequence[int | str]) -> dict[str, str]:
    """Global rank ``rank``'s environment: the cluster of ``world_size`` workers and its index in it.
    ``addresses``: each worker's HOST:PORT in rank order, or a bare port for a worker on this machine."""
    workers = [a if isinstance(a, str) else f"localhost:{a}" for a in addresses[:world_size]]
    return {"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                     "task": {"type": "worker", "index": rank}})}


def nodes_error(world_size: int, nodes: Any) -> str | None:
    """Why ``--tf-workers`` cannot place a cell of ``world_size`` ranks on ``nodes`` (bench.launchers.base.
    Nodes), or None."""
    try:
        cluster(world_size, nodes)
    except ValueError as e:
        return str(e)
    return None


def cluster(world_size: int, nodes: Any) -> list[str]:
    """Every worker's HOST:PORT, global rank order, for a cell of ``world_size`` ranks across
    ``nodes.count`` machines, from ``nodes.addresses`` (``--tf-workers``, checked HOST:PORT entries):
    one per node (node K's i-th worker listens on its PORT + i) or one per rank. ValueError (one line)
    when the list does not fit the cell."""
    given, count = list(nodes.addresses), nodes.count
    local = world_size // count
    if not given:
        return _refuse(f"--nodes {count}: tensorflow cells need --tf-workers, the same HOST:PORT list on "
                       "every node (one per node, or one per rank)")
    if len(given) == count:
        out = []
        for k, entry in enumerate(given):
            host, _, port = entry.rpartition(":")
            if int(port) + local - 1 > 65535:
                _refuse(f"--tf-workers: node {k}'s {local} workers need ports {port} to "
                        f"{int(port) + local - 1}, past 65535")
            out += [f"{host}:{int(port) + i}" for i in range(local)]
    elif len(given) == world_size:
        out = given
    else:
        per_rank = f" or {world_size} (one per rank, in rank order)" if world_size != count else ""
        return _refuse(f"--tf-workers: {len(given)} address(es) for a {world_size}-rank cell on {count} "
                       f"nodes; give {count} (one HOST:PORT per node, its workers on consecutive ports)"
                       f"{per_rank}")
    seen: dict[str, int] = {}
    for rank, address in enumerate(out):
        if address in seen:
            per_node = " (one entry per node: its workers take PORT, PORT + 1, ...)" if \
                len(given) == count else ""
            _refuse(f"--tf-workers: ranks {seen[address]} and {rank} of a {world_size}-rank cell would both "
                    f"listen on {address}{per_node}")
        seen[address] = rank
    return out


def _refuse(message: str) -> Any:
    raise ValueError(message)
