"""How a TensorFlow cell's ranks are started (read by the parent's ``engine`` launcher, bench.launchers.
engine; no TensorFlow import): one ordinary worker process per rank, each with a ``TF_CONFIG`` naming
the cluster of N local workers on free localhost ports (chosen by the launcher) and its own index, as
``tf.distribute.MultiWorkerMirroredStrategy`` reads it (bench.frameworks.tensorflow.distribute).

CPU cells only: on CUDA each worker would see every GPU and make each a replica of its own (one GPU
per worker needs each rank's visible devices narrowed; not built).
"""

from __future__ import annotations

import json

from bench.results.records import Cell

ENGINE = "tf.distribute.MultiWorkerMirroredStrategy (TF_CONFIG)"


def accepts(cell: Cell) -> str | None:
    if cell.workers < 2:
        return "MultiWorkerMirroredStrategy cells start 2 or more ranks (one rank: the process launcher)"
    if cell.device != "cpu":
        return "tensorflow's multi-worker launcher starts CPU cells only here (one GPU per worker: not built)"
    return None


def rank_env(world_size: int, rank: int, ports: list[int]) -> dict[str, str]:
    """Rank ``rank``'s environment: the cluster of ``world_size`` local workers and its index in it."""
    cluster = {"worker": [f"localhost:{p}" for p in ports[:world_size]]}
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": rank}})}
