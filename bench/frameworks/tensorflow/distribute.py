"""Data-parallel TensorFlow cells: ``MultiWorkerMirroredStrategy`` over the slot's N local workers
(TF_CONFIG from bench.frameworks.tensorflow.ranks), created right after the threads are set and before
any op; the family's model (variables and optimizers) built under ``strategy.scope()``; each step the
family's own train step through ``strategy.run`` (in the cell's mode: eagerly, or inside the
``tf.function`` the mode makes). Keras 3's optimizer all-reduces the replicas' gradients in
``apply_gradients`` with a SUM (keras/src/backend/tensorflow/optimizer.py ``_all_reduce_sum_gradients``):
N x the mean gradient, to which Adam's update is invariant up to its epsilon. Each worker trains the
batch its rule gives it (weak or strong scaling; bench.scenarios.base), as torch's ranks do.
"""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf

GRADIENT_REDUCTION = ("Keras optimizer under the strategy: all-reduce SUM of the replicas' gradients "
                      "(N x the mean; Adam's update is scale-invariant up to epsilon)")

# No public hook on the strategy's all-reduce (its collectives run inside the step's graph), so no
# figure: the profiler's trace would show it, per op, not per step here.
COMM_TIME_METHOD = "not exposed: MultiWorkerMirroredStrategy has no public hook on its all-reduce"


def make_strategy(rank: int, world_size: int) -> tuple[Any, dict[str, Any]]:
    """The strategy and the flags that say how it was set up."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    index = int((config.get("task") or {}).get("index", -1))
    workers = len((config.get("cluster") or {}).get("worker") or ())
    if (index, workers) != (rank, world_size):
        raise RuntimeError(f"TF_CONFIG names worker {index} of {workers}, but the spec is rank {rank} of "
                           f"{world_size}")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return strategy, {"dist_backend": "tf.distribute collectives (auto)", "rank": rank,
                      "world_size": world_size, "engine": "MultiWorkerMirroredStrategy",
                      "replicas": strategy.num_replicas_in_sync,
                      "gradient_reduction": GRADIENT_REDUCTION, "comm_time_method": COMM_TIME_METHOD,
                      "rank_inputs": "the same synthetic batches on every rank (the run's seed)"}


def replicated(strategy: Any, step: Any) -> Any:
    """``step`` run through ``strategy.run``; the losses as this worker's own (one replica each)."""

    def run(*batch: Any) -> Any:
        out = strategy.run(step, args=batch)
        return {k: strategy.experimental_local_results(v)[0] for k, v in out.items()}

    return run
