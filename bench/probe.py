"""Is a framework usable here, and with which devices? ``python -m bench.probe <framework>``.

Prints ONE JSON line {"framework", "installed", "version", "cuda", "devices", "reason"} (plus
"cuda_build") and exits 0, whatever happens: the matrix marks cells skipped from ``reason``. A missing
framework is found with importlib.util.find_spec, without importing anything.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

from .vocab import FRAMEWORKS

# The module each framework is imported as.
IMPORT_NAMES = {"tensorflow": "tensorflow", "torch": "torch"}


def _one_line(exc: BaseException) -> str:
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _probe_torch(out: dict[str, Any]) -> None:
    import torch

    out["version"] = torch.__version__
    out["cuda_build"] = torch.version.cuda is not None
    if torch.cuda.is_available():
        out["cuda"] = True
        out["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    else:
        out["reason"] = "no CUDA device" + ("" if out["cuda_build"] else " (torch built without CUDA)")


def _probe_tensorflow(out: dict[str, Any]) -> None:
    import tensorflow as tf

    out["version"] = tf.__version__
    out["cuda_build"] = bool(tf.test.is_built_with_cuda())
    try:  # whether oneDNN custom ops are on by default here (the matrix picks the opposite variant)
        from tensorflow.python.util import _pywrap_util_port

        out["onednn_enabled"] = bool(_pywrap_util_port.IsMklEnabled())
    except Exception:
        pass
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


PROBES = {"tensorflow": _probe_tensorflow, "torch": _probe_torch}


def probe(framework: str) -> dict[str, Any]:
    """What ``python -m bench.probe`` prints; never raises."""
    out: dict[str, Any] = {"framework": framework, "installed": False, "version": None, "cuda": False,
                           "devices": [], "reason": None, "cuda_build": None}
    try:
        if framework not in FRAMEWORKS:
            out["reason"] = f"unknown framework {framework!r}; valid choices: {', '.join(FRAMEWORKS)}"
            return out
        if importlib.util.find_spec(IMPORT_NAMES[framework]) is None:
            out["reason"] = f"{framework} not installed"
            return out
        try:
            PROBES[framework](out)
        except ImportError as e:
            out["reason"] = f"{framework} fails to import ({_one_line(e)})"
            return out
        out["installed"] = True
    except BaseException as e:  # a probe must answer, whatever the framework does
        out["reason"] = f"{framework} probe failed ({_one_line(e)})"
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    framework = argv[0] if argv else ""
    result = probe(framework) if framework else {
        "framework": None, "installed": False, "version": None, "cuda": False, "devices": [],
        "reason": "usage: python -m bench.probe <framework>", "cuda_build": None}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
