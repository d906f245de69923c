"""Wall-clock stamps and this machine's core count: one definition each."""

from __future__ import annotations

import os
from datetime import UTC, datetime


def utc_now_iso(timespec: str = "microseconds") -> str:
    """ISO 8601 UTC with a ``Z``: run metadata uses ``timespec="seconds"``, cell records microseconds."""
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def physical_cores() -> int:
    """Physical cores of this machine (hyperthreads excluded); the default intra-op thread count."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except Exception:  # psutil missing or unable to tell on this platform
        n = None
    return int(n or os.cpu_count() or 1)
