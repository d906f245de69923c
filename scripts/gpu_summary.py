"""One line per stored process of every run under RUNS_ROOT, for scripts/gpu_evidence.sh.

Reads the cells/<cell_id>/r<k>.json files as plain JSON (works on interrupted runs too) and prints the
CUDA figures worth checking first: first step, median step, throughput, memory (whole / steady, NVML
source), CUDA graphs, TF32 label, GradScaler syncs, warnings and reasons.

    python scripts/gpu_summary.py RUNS_ROOT [OUT.txt]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def mib(v: Any) -> str:
    return f"{v / 2**20:.0f}" if isinstance(v, (int, float)) else "-"


def num(v: Any, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, (int, float)) else "-"


def line(run: str, r: dict[str, Any]) -> str:
    flags = r.get("flags") or {}
    notes = []
    if flags.get("cuda_graphs_expected"):
        notes.append(f"graphs={flags.get('cuda_graphs_recorded')} used={flags.get('cuda_graphs_used')}")
    for key in ("tf32_label", "nvml_memory_source", "grad_scaler_host_syncs", "graph_breaks"):
        if flags.get(key) not in (None, False, 0, ""):
            notes.append(f"{key}={str(flags[key])[:60]}")
    if r.get("compile_warnings"):
        notes.append("WARN: " + " | ".join(r["compile_warnings"])[:200])
    if r.get("reason"):
        notes.append("REASON: " + str(r["reason"])[:200])
    median = r.get("step_time_median_s")
    memory = (f"rss {mib(r.get('peak_rss_bytes'))}/{mib(r.get('peak_rss_children_bytes'))} "
              f"alloc {mib(r.get('device_alloc_peak_bytes'))}/{mib(r.get('device_alloc_steady_peak_bytes'))} "
              f"nvml {mib(r.get('nvml_peak_bytes'))}/{mib(r.get('nvml_steady_peak_bytes'))}")
    return (f"{run} {r.get('cell_id')} r{r.get('repeat')} {r.get('status')} "
            f"first {num(r.get('time_to_first_step_s'), '.1f')} s, median "
            f"{num(median * 1e3 if isinstance(median, (int, float)) else None, '.3f')} ms, "
            f"{num(r.get('throughput_img_s'), '.0f')} img/s, {memory} MiB; " + "; ".join(notes))


def main() -> int:
    root = Path(sys.argv[1])
    lines = []
    for run in sorted(p for p in root.iterdir() if (p / "run.json").is_file()):
        for f in sorted((run / "cells").glob("*/r*.json")):
            try:
                lines.append(line(run.name, json.loads(f.read_text(encoding="utf-8"))))
            except (OSError, ValueError, AttributeError) as e:
                lines.append(f"{run.name} {f.name}: unreadable ({e})")
    text = "\n".join(lines) or "(no process result)"
    print(text)
    if len(sys.argv) > 2:
        Path(sys.argv[2]).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
