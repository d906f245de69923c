"""What a TensorFlow cell must set, decided without importing TensorFlow (see bench.worker.flags)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.frameworks.tensorflow.descriptor import INTEROP_THREADS
from bench.results.records import Cell, RunSettings

# What each variant asks of oneDNN (the variant's environment does it: TF_ENABLE_ONEDNN_OPTS).
ONEDNN_REQUESTED = {"onednn-on": "on", "onednn-off": "off"}


def env(cell: Cell, settings: RunSettings, work_dir: Path) -> dict[str, str]:
    """Variables to export before the import, beyond the variant's own."""
    if settings.deterministic:
        # Older TF reads this instead of enable_op_determinism(); harmless on newer ones.
        return {"TF_DETERMINISTIC_OPS": "1"}
    return {}


def plan(cell: Cell, settings: RunSettings) -> dict[str, Any]:
    """TensorFlow's entries of the cell's plan."""
    cuda = cell.device == "cuda"
    extra: dict[str, Any] = {}
    if cell.variant in INTEROP_THREADS:  # overrides the run's inter-op threads for this variant only
        extra["inter_op_threads"] = INTEROP_THREADS[cell.variant]
    return extra | {
        # TF has no switch for cuDNN autotuning other than TF_CUDNN_USE_AUTOTUNE (default on).
        "cudnn_autotune": os.environ.get("TF_CUDNN_USE_AUTOTUNE", "default (on)"),
        "memory_growth": cuda,
        "onednn_requested": ONEDNN_REQUESTED.get(cell.variant, "default"),
        # bench.frameworks.base: after every timed step, and at the end of the throughput window.
        "sync": ("tf.test.experimental.sync_devices() (every device), then loss.numpy()" if cuda
                 else "none needed while TF's executor is synchronous (its default; else "
                      "tf.test.experimental.sync_devices()), then loss.numpy()"),
    }
