"""TensorFlow's oneDNN switch: this machine's default, decided without importing TensorFlow, and (once
TensorFlow is loaded) what took effect."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any


def onednn_default_on(probe: Mapping[str, Any] | None = None,
                      environ: Mapping[str, str] | None = None) -> bool:
    """Whether TensorFlow runs with oneDNN on this machine when left alone (the probe says, when it ran)."""
    if probe and isinstance(probe.get("onednn_enabled"), bool):
        return bool(probe["onednn_enabled"])
    v = (os.environ if environ is None else environ).get("TF_ENABLE_ONEDNN_OPTS")
    if v is not None:
        return v.strip().lower() in ("1", "true", "yes", "on")
    # TensorFlow >= 2.9 enables oneDNN by default in its Linux x86-64 builds.
    return platform.system() == "Linux" and platform.machine().lower() in ("x86_64", "amd64")


def opposite_onednn_variant(probe: Mapping[str, Any] | None = None) -> str:
    return "onednn-off" if onednn_default_on(probe) else "onednn-on"


def onednn_enabled() -> bool | None:
    """Whether oneDNN custom ops are effectively on in this process (imports TensorFlow: call it only
    where TensorFlow is loaded anyway, the backend and the probe). None when TF no longer tells."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # private API moved: unknown rather than assumed
        return None
