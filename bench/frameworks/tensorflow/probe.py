"""Is TensorFlow usable here, and with which GPUs? (``python -m bench.worker.probe tensorflow``)"""

from __future__ import annotations

from typing import Any

from bench.frameworks.tensorflow.onednn import onednn_enabled


def probe(out: dict[str, Any]) -> None:
    """Fill ``out`` (see bench.worker.probe); imports TensorFlow, so an ImportError means "fails to
    import"."""
    import tensorflow as tf

    out["version"] = tf.__version__
    out["cuda_build"] = bool(tf.test.is_built_with_cuda())
    # Whether oneDNN custom ops are on by default here (the matrix picks the opposite variant).
    enabled = onednn_enabled()
    if enabled is not None:
        out["onednn_enabled"] = enabled
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        out["cuda"] = True
        names = []
        for g in gpus:
            try:
                names.append(tf.config.experimental.get_device_details(g).get("device_name") or g.name)
            except Exception:
                names.append(g.name)
        out["devices"] = names
    else:
        out["reason"] = "no CUDA device" + ("" if out["cuda_build"] else " (tensorflow CPU-only build)")
