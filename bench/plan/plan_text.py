"""What ``all --dry-run`` says beyond its cell list: planning for a GPU this machine does not have, what
the plan covers per framework, and where its estimate comes from.

``--assume-cuda NAME`` plans as if every installed framework saw one CUDA device called NAME (the
probes are answered as the framework's would be on that machine), so that a GPU profile's plan and
its budget can be read, and tested, on a machine without a GPU. History is then the stored runs of
a machine with that GPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.cell import Cell
from bench.frameworks.registry import get_framework


def assume_cuda_probes(probes: Mapping[str, Mapping[str, Any]], gpu_name: str) -> dict[str, dict[str, Any]]:
    """The probes as they would read with one CUDA device ``gpu_name``: installed frameworks see it."""
    out: dict[str, dict[str, Any]] = {}
    for fw, probe in probes.items():
        p = dict(probe)
        if p.get("installed"):
            p.update(cuda=True, cuda_build=True, devices=[gpu_name], assumed_cuda=True)
            p.pop("reason", None)
        out[fw] = p
    return out


def _join(values: Iterable[str]) -> str:
    return "/".join(dict.fromkeys(values))


def coverage_lines(cells: Iterable[Cell]) -> list[str]:
    """Per framework and device: each mode with its precisions and models (runnable cells)."""
    by_key: dict[tuple[str, str], dict[str, list[Cell]]] = {}
    for c in cells:
        by_key.setdefault((c.framework, c.device), {}).setdefault(c.mode, []).append(c)
    lines = []
    for (fw, device), modes in by_key.items():
        models = {c.model for cs in modes.values() for c in cs}
        parts = []
        for mode in get_framework(fw).mode_names:
            cs = modes.get(mode)
            if not cs:
                continue
            own = {c.model for c in cs}
            where = "" if own == models else f" on {_join(sorted(own))}"
            variants = sorted({c.variant for c in cs} - {"default"})
            extra = f" (+ {_join(variants)})" if variants else ""
            parts.append(f"{mode} {_join(c.precision for c in cs)}{where}{extra}")
        lines.append(f"  {fw} on {device}, {len(models)} model(s): " + "; ".join(parts))
    return lines


def estimate_basis(device_names: Mapping[str, str | None], cells: Iterable[Cell]) -> str:
    """What the estimate is for: the assumed or probed GPU for CUDA cells, the reference CPU for CPU ones."""
    devices = {c.device for c in cells}
    out = []
    if "cuda" in devices:
        out.append(f"one {device_names.get('cuda') or 'GPU'} for CUDA cells")
    if "cpu" in devices:
        out.append("a 2-core reference CPU for CPU cells")
    return "estimates are for " + " and ".join(out) if out else "no cell to estimate"
