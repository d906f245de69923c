from __future__ import annotations

from typing import Any

import numpy as np


def probe(out: dict[str, Any]) -> None:
    out.update(version=np.__version__, cuda=False, devices=["cpu"], cuda_build=False)
