"""The summary table a run prints at its end (pandas, from the loaded cells)."""

from __future__ import annotations

from typing import Any


def summary_table(cells: Any) -> str:
    """cell, status, median step, images/s, time to first step (and the reason when not ok)."""
    import pandas as pd

    if cells.empty:
        return "(no cells)"

    def ms(v: Any) -> str:
        return "" if pd.isna(v) else f"{v * 1000:.1f} ms"

    table = pd.DataFrame({
        "cell": cells["cell_id"],
        "status": cells["status"],
        "median step": cells["step_time_median_s"].map(ms),
        "images/s": cells["throughput_img_s"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
        "first step": cells["time_to_first_step_s"].map(lambda v: "" if pd.isna(v) else f"{v:.2f} s"),
        "reason": cells["reason"].fillna("").map(lambda r: r if len(r) <= 60 else r[:57] + "..."),
    })
    return table.to_string(index=False)
