"""The README's harness-vs-plain-loop table from the JSON files of scripts/compare_idiomatic.py.

    python scripts/idiomatic_table.py /tmp/idiomatic-vae-mnist.json /tmp/idiomatic-dcgan-mnist.json ...
    python scripts/idiomatic_table.py /tmp/serving-dcgan-mnist.json   # scripts/compare_serving.py's, batch 1

One Markdown row per model × framework × mode: both sides' medians of process medians and their
between-process CV, harness/plain as the median of the per-round paired ratios with its order-statistic
interval (as compare_idiomatic.py prints it), and how many rounds (processes a side) a 95% interval of
the paired log ratios would need to be narrower than ±tolerance, at the spread these rounds showed:
the smallest n with t(0.975, n − 1) · sd / √n ≤ log(1 + tolerance). Reads JSON only.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

FRAMEWORKS = {"tf": "TensorFlow", "torch": "PyTorch"}


def rounds_needed(paired_pct: list[float], tolerance_pct: float, cap: int = 100_000) -> int | None:
    """Rounds for a 95% t interval of the mean paired log ratio inside ±tolerance (module doc); None
    under 2 rounds; ``cap`` when even that many would not do."""
    logs = [math.log1p(x / 100.0) for x in paired_pct]
    if len(logs) < 2:
        return None
    sd = statistics.stdev(logs)
    half = math.log1p(tolerance_pct / 100.0)
    if sd == 0:
        return 2
    from scipy.stats import t as student_t

    n = max(2, math.floor((1.959964 * sd / half) ** 2))  # t > z: at least the normal's answer
    while n < cap and float(student_t.ppf(0.975, n - 1)) * sd / math.sqrt(n) > half:
        n += 1
    return n


def ms(seconds: float) -> str:
    """Milliseconds: one decimal, or three under 10 ms (compare_serving.py's batch-1 latencies)."""
    return f"{seconds * 1e3:.{1 if seconds >= 0.01 else 3}f}"


def rows(doc: dict) -> list[list[str]]:
    tol = float(doc.get("args", {}).get("tolerance", 3.0))
    out = []
    for key, s in doc["summaries"].items():
        model, pair = key.split("/")
        fw, mode = pair.split("-", 1)
        sides = s["sides"]
        p, i = sides["project"], sides["idiomatic"]
        batch = next((r["batch"] for r in doc["records"] if r["key"] == key), "?")
        if s.get("ratio") is None:
            out.append([model, FRAMEWORKS.get(fw, fw), mode, str(batch), *["–"] * 5, "no result"])
            continue
        lo, hi = s["ratio_interval"]
        cov = s.get("interval_coverage")
        need = rounds_needed(s["paired_differences_pct"], tol)
        cv = f"{p['between_process_cv'] * 100:.0f}% / {i['between_process_cv'] * 100:.0f}%"
        out.append([model, FRAMEWORKS.get(fw, fw), mode, str(batch), ms(p["median_of_medians_s"]),
                    ms(i["median_of_medians_s"]), f"{s['ratio']:.3f}",
                    f"{s['paired_ratio_median']:.3f} [{lo:.3f}–{hi:.3f}"
                    + (f", {cov * 100:.1f}%]" if cov else "]"),
                    cv, f"{p['n_ok']}+{i['n_ok']}; ±{tol:g}% needs ~{need}" if need else "–"])
    return out


def table(docs: list[dict]) -> str:
    head = ["model", "framework", "mode", "batch", "harness ms", "plain ms", "ratio of medians",
            "paired ratio [interval]", "CV harness / plain", "processes a side"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 4 + ["--:"] * 4 + ["---"] * 2) + "|"]
    lines += ["| " + " | ".join(r) + " |" for d in docs for r in rows(d)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", nargs="+", help="files written by compare_idiomatic.py --json")
    args = p.parse_args(argv)
    docs = []
    for f in args.json:
        try:
            doc = json.loads(Path(f).read_text())
            table([doc])  # what it cannot read is refused here, before anything is printed
        except (OSError, ValueError) as e:
            print(f"error: {f}: {e}", file=sys.stderr)
            return 2
        except (KeyError, TypeError, AttributeError, IndexError) as e:
            print(f"error: {f}: not a compare_idiomatic.py --json file ({type(e).__name__}: {e})",
                  file=sys.stderr)
            return 2
        docs.append(doc)
    print(table(docs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
