"""Is a framework usable here, and with which devices? ``python -m bench.worker.probe <framework>``.

Prints ONE JSON line {"framework", "installed", "version", "cuda", "devices", "reason", "cuda_build"}
(plus what the framework's probe adds, e.g. "onednn_enabled") and exits 0, whatever happens: the
matrix marks cells skipped from ``reason``. A missing framework is found with
importlib.util.find_spec, without importing anything; an installed one is asked by its package's
``probe`` module (``bench/frameworks/<name>/probe.py``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

from bench.errors import UnknownChoice
from bench.frameworks import get_framework
from bench.lines import exception_line

REASON_MAX_CHARS = 300


def _blank(framework: str | None) -> dict[str, Any]:
    return {"framework": framework, "installed": False, "version": None, "cuda": False, "devices": [],
            "reason": None, "cuda_build": None}


def probe(framework: str) -> dict[str, Any]:
    """What ``python -m bench.worker.probe`` prints; never raises."""
    out = _blank(framework)
    try:
        try:
            desc = get_framework(framework)
        except UnknownChoice as e:
            out["reason"] = str(e)
            return out
        if any(importlib.util.find_spec(name) is None for name in desc.import_names):
            out["reason"] = f"{framework} not installed"
            return out
        try:
            desc.module("probe").probe(out)
        except ImportError as e:
            out["reason"] = f"{framework} fails to import ({exception_line(e)[:REASON_MAX_CHARS]})"
            return out
        out["installed"] = True
    except BaseException as e:  # a probe must answer, whatever the framework does
        out["reason"] = f"{framework} probe failed ({exception_line(e)[:REASON_MAX_CHARS]})"
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    framework = argv[0] if argv else ""
    result = probe(framework) if framework else {
        **_blank(None), "reason": "usage: python -m bench.worker.probe <framework>"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
