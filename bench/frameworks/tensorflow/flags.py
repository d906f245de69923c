"""What a TensorFlow cell must set, decided without importing TensorFlow (see bench.flags)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...records import Cell, RunSettings

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
    return {
        # TF has no switch for cuDNN autotuning other than TF_CUDNN_USE_AUTOTUNE (default on).
        "cudnn_autotune": os.environ.get("TF_CUDNN_USE_AUTOTUNE", "default (on)"),
        "memory_growth": cuda,
        "onednn_requested": ONEDNN_REQUESTED.get(cell.variant, "default"),
        "sync": "loss.numpy()" + (" + sync_devices() at phase ends" if cuda else ""),
    }
