"""Two unchanged runs of the same matrix, side by side: how far a cell's number moves on its own.

    python scripts/aa_compare.py RUN_A RUN_B [--markdown out.md]

For every cell measured in both runs it prints the between-process CV of each run (the spread of the
cell's process medians), the cell's number in each run (the median of its process medians) and the
A/A difference (B / A - 1). The last line gives the largest absolute A/A difference and the median
between-process CV. Reads the runs through the same validation and aggregation as the reports.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.analysis.aggregate import cell_summaries  # noqa: E402
from bench.errors import BenchError  # noqa: E402
from bench.results.load import load_run  # noqa: E402


def summaries(run: str) -> dict[str, dict]:
    data = load_run(run)
    table = cell_summaries(data.cells, data.steps)
    return {r["cell_id"]: r for r in table.to_dict("records")
            if isinstance(r.get("step_time_median_s"), float) and math.isfinite(r["step_time_median_s"])}


def _pct(v: float | None) -> str:
    return "–" if v is None or v != v else f"{100 * v:.1f}%"


def compare(a: dict[str, dict], b: dict[str, dict]) -> tuple[list[list[str]], float, float]:
    rows, diffs, cvs = [], [], []
    for cid in sorted(set(a) & set(b)):
        ma, mb = a[cid]["step_time_median_s"], b[cid]["step_time_median_s"]
        diff = mb / ma - 1.0
        diffs.append(abs(diff))
        for r in (a[cid], b[cid]):
            if isinstance(r.get("between_process_cv"), float) and math.isfinite(r["between_process_cv"]):
                cvs.append(r["between_process_cv"])
        ok = f"{a[cid].get('n_ok')}/{b[cid].get('n_ok')}"
        rows.append([cid, ok, _pct(a[cid].get("between_process_cv")), _pct(b[cid].get("between_process_cv")),
                     f"{1e3 * ma:.1f}", f"{1e3 * mb:.1f}", f"{100 * diff:+.1f}%"])
    worst = max(diffs) if diffs else float("nan")
    median_cv = sorted(cvs)[len(cvs) // 2] if cvs else float("nan")
    return rows, worst, median_cv


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_a")
    ap.add_argument("run_b")
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = ap.parse_args(argv)
    try:
        rows, worst, median_cv = compare(summaries(args.run_a), summaries(args.run_b))
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    head = ["cell", "processes ok A/B", "between-process CV A", "CV B", "A ms/step", "B ms/step", "A/A diff"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines.append("")
    lines.append(f"largest |A/A difference|: {100 * worst:.1f}% over {len(rows)} cells; "
                 f"median between-process CV: {100 * median_cv:.1f}%")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
