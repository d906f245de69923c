"""The verdict of an A/B run (``bench compare``, ``bench gate --ab``): per cell the paired ratio B/A.

Analysis only (stored JSON in, verdicts out); bench.gate.ab renders it, bench.plan.ab_sequential adds
pairs to the cells it leaves undecided.

Each comparison of an A/B run (bench.plan.ab_plan) holds R pairs of processes run next to each other (ABBA).
Per pair, r = B's median step time / A's; the cell's ratio is the geometric mean of the pairs' r, with
a Student t interval on log r (n − 1 degrees of freedom, coverage ``confidence``, 95% by default). A
slow spell of the machine falls on both processes of a pair, so it cancels, and so does the drift
between days that the stored-history gate has to model (bench.gate.drift).

Verdict, with an indifference zone of ±``margin`` (3% by default):
- "B slower by 12% [8–16%, 95%]": the interval lies above 1 + margin;
- "B faster by 7% [4–10%, 95%]": the interval lies below 1 − margin;
- "no change within ±3%": the interval lies inside the zone;
- "inconclusive": anything else (the interval straddles an edge of the zone), or fewer than 2 pairs.
A cell FAILS (exit 1) when B is slower by more than ``fail_on`` (5% by default) AND its interval lies
above the zone, or when B's processes failed where A's ran; exit 2 for a run that is not an A/B run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.stats import num

DEFAULT_MARGIN = 0.03
DEFAULT_FAIL_ON = 0.05
CONFIDENCE = 0.95


@dataclass
class AbCell:
    key: str  # the comparison: the cell id (or "<cell A> vs <variant B>")
    cell_a: str
    cell_b: str
    a_s: list[float] = field(default_factory=list)  # A's median step time per complete pair
    b_s: list[float] = field(default_factory=list)
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    verdict: str = "inconclusive"
    kind: str = "inconclusive"  # slower | faster | same | inconclusive | failed
    failed: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class AbResult:
    run_id: str
    sides: dict[str, dict[str, Any]]
    cells: list[AbCell]
    margin: float
    fail_on: float
    confidence: float
    sequential: dict[str, Any] | None = None  # run.json's ab.adaptive (bench.plan.ab_sequential), as stored

    @property
    def failed(self) -> list[AbCell]:
        return [c for c in self.cells if c.failed]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def paired_ratio(a: list[float], b: list[float], confidence: float = CONFIDENCE
                 ) -> tuple[float | None, float | None, float | None]:
    """Geometric mean of b/a over pairs and its t interval; (ratio, None, None) under 2 pairs."""
    logs = [math.log(y / x) for x, y in zip(a, b, strict=True) if x > 0 and y > 0]
    if not logs:
        return None, None, None
    mean = sum(logs) / len(logs)
    if len(logs) < 2:
        return math.exp(mean), None, None
    from scipy.stats import t as student_t

    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (len(logs) - 1))
    half = float(student_t.ppf(0.5 + confidence / 2, len(logs) - 1)) * sd / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def judge(c: AbCell, margin: float, fail_on: float, confidence: float) -> None:
    """The verdict and pass/fail of one comparison (module doc)."""
    cov = f"{confidence:.0%}"
    if c.ratio is None:
        c.verdict = c.verdict if c.kind == "failed" else "inconclusive (no complete pair)"
        return
    if c.low is None or c.high is None:
        c.kind, c.verdict = "inconclusive", f"inconclusive (n = {len(c.a_s)} pair): B/A {c.ratio:.3f}"
        return
    lo, hi = c.low - 1, c.high - 1
    if lo > margin:
        c.kind = "slower"
        c.verdict = f"B slower by {(c.ratio - 1) * 100:.0f}% [{lo * 100:.0f}–{hi * 100:.0f}%, {cov}]"
    elif hi < -margin:
        c.kind = "faster"
        c.verdict = f"B faster by {(1 - c.ratio) * 100:.0f}% [{-hi * 100:.0f}–{-lo * 100:.0f}%, {cov}]"
    elif lo >= -margin and hi <= margin:
        c.kind, c.verdict = "same", f"no change within ±{margin * 100:g}%"
    else:
        c.kind = "inconclusive"
        c.verdict = (f"inconclusive (n = {len(c.a_s)} pairs): B/A {c.ratio:.3f} "
                     f"[{c.low:.3f}–{c.high:.3f}, {cov}]")
    c.failed = c.kind == "slower" and c.ratio - 1 > fail_on


def _ab_meta(meta: dict[str, Any], where: Path) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    ab = meta.get("ab")
    if not isinstance(ab, dict):
        raise BenchError(f"{where} is not an A/B run (no 'ab' in run.json); make one with `bench compare`")
    sides, pairs = ab.get("sides"), ab.get("pairs")
    planned = set(meta.get("cells_planned") or ())
    ok = (isinstance(sides, dict) and all(isinstance(sides.get(s), dict) for s in ("a", "b"))
          and isinstance(pairs, list) and pairs
          and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) and x in planned for x in p)
                  for p in pairs))
    if not ok:
        raise BenchError(f"{where}: run.json's 'ab' is malformed (sides a and b, pairs of planned cell ids)")
    return sides, [(a, b) for a, b in pairs]


def analyse(run_dir: Path, *, margin: float = DEFAULT_MARGIN, fail_on: float = DEFAULT_FAIL_ON,
            confidence: float = CONFIDENCE) -> AbResult:
    """The stored A/B run's verdict (reads JSON only: nothing of the run is executed)."""
    from bench.results.load import read_process_results, read_run_meta

    run_dir = Path(run_dir)
    meta = read_run_meta(run_dir)
    sides, pairs = _ab_meta(meta, run_dir)
    results = read_process_results(run_dir, meta)
    cells = []
    for cell_a, cell_b in pairs:
        key = cell_a if cell_a == cell_b else f"{cell_a} vs {cell_b.rsplit('__', 1)[-1]}"
        c = AbCell(key, cell_a, cell_b)
        n_pairs = max([k for cid, k in results if cid in (cell_a, cell_b)] or [0]) // 2 + 1
        bad = {"a": [], "b": []}
        for p in range(1, n_pairs + 1):
            ra, rb = results.get((cell_a, 2 * p - 1)), results.get((cell_b, 2 * p))
            for side, r in (("a", ra), ("b", rb)):
                if r is not None and r.status != "ok":
                    bad[side].append(f"r{r.repeat} {r.status}" + (f": {r.reason}" if r.reason else ""))
            ta = num(ra.step_time_median_s) if ra is not None and ra.status == "ok" else None
            tb = num(rb.step_time_median_s) if rb is not None and rb.status == "ok" else None
            if ta and tb and ta > 0 and tb > 0:
                c.a_s.append(ta)
                c.b_s.append(tb)
        c.ratio, c.low, c.high = paired_ratio(c.a_s, c.b_s, confidence)
        if bad["b"] and not bad["a"]:
            c.kind, c.failed = "failed", True
            c.verdict = "B failed where A ran: " + "; ".join(bad["b"][:2])
        elif bad["a"] or bad["b"]:
            c.notes.append("processes not ok: " + "; ".join(bad["a"][:1] + bad["b"][:1]))
        if c.kind != "failed":
            judge(c, margin, fail_on, confidence)
        cells.append(c)
    adaptive = meta["ab"].get("adaptive")
    return AbResult(str(meta.get("run_id")), sides, cells, margin, fail_on, confidence,
                    adaptive if isinstance(adaptive, dict) else None)
