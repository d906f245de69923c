"""The summary table a run prints at its end (pandas, from the loaded cells: one row per cell, its
processes combined by bench.analysis.aggregate)."""

from __future__ import annotations

from typing import Any


def summary_table(cells: Any, steps: Any = None) -> str:
    """cell, status, processes ok/measured, median step (over processes) with the between-process CV,
    images/s, time to first step and to steady state (and the reason when not ok)."""
    import pandas as pd

    from bench.analysis.aggregate import cell_summaries

    if cells.empty:
        return "(no cells)"
    s = cell_summaries(cells, steps)

    def ms(v: Any) -> str:
        return "" if pd.isna(v) else f"{v * 1000:.1f} ms"

    def pct(v: Any) -> str:
        return "" if pd.isna(v) else f"{v * 100:.1f}%"

    def sec(v: Any) -> str:
        return "" if pd.isna(v) else f"{v:.2f} s"

    table = pd.DataFrame({
        "cell": s["cell_id"],
        "status": s["status"],
        "processes": [f"{int(k)}/{int(n)}" for k, n in zip(s["n_ok"], s["n_processes"], strict=True)],
        "median step": s["step_time_median_s"].map(ms),
        "CV between": s["between_process_cv"].map(pct),
        "images/s": s["throughput_img_s"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
        "first step": s["time_to_first_step_s"].map(sec),
        "steady after": s["time_to_steady_state_s"].map(sec),
        "reason": s["reason"].map(lambda r: "" if not isinstance(r, str) else r if len(r) <= 60
                                  else r[:57] + "..."),
    })
    return table.to_string(index=False)
