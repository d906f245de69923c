"""The Markdown verdict of an A/B run (``bench compare``, ``bench gate --ab``), from bench.analysis.ab."""

from __future__ import annotations

from bench.analysis.ab import AbCell, AbResult
from bench.markdown import fmt_ms, md_table


def _fmt_ms(xs: list[float]) -> str:
    if not xs:
        return "–"
    s = sorted(xs)
    return fmt_ms(s[len(s) // 2])


def _side_rows(res: AbResult) -> list[list[str]]:
    rows = []
    for name in ("a", "b"):
        s = res.sides.get(name) or {}
        versions = s.get("versions") if isinstance(s.get("versions"), dict) else {}
        pythons = s.get("python_executables") if isinstance(s.get("python_executables"), dict) else {}
        env = s.get("env") if isinstance(s.get("env"), dict) else {}
        rows.append([name.upper(), ", ".join(f"{k} {v}" for k, v in versions.items()) or "–",
                     ", ".join(f"{k}: {v}" for k, v in pythons.items()) or "–",
                     str(s.get("commit"))[:12] if s.get("commit") else "this working tree",
                     str(s.get("variant") or "default"),
                     ", ".join(f"{k}={v}" for k, v in env.items()) or "–"])
    return rows


def _fmt_ratio(c: AbCell, confidence: float) -> str:
    if c.ratio is None:
        return "–"
    ci = f" [{c.low:.3f}–{c.high:.3f}, {confidence:.0%}]" if c.low is not None and c.high is not None else ""
    return f"{c.ratio:.3f}{ci}"


def render(res: AbResult) -> str:
    head = "FAIL" if res.failed else "PASS"
    body = [[c.key, str(len(c.a_s)), _fmt_ms(c.a_s), _fmt_ms(c.b_s), _fmt_ratio(c, res.confidence),
             c.verdict + (" ✗" if c.failed else "") + ("".join(f"; {n}" for n in c.notes))]
            for c in res.cells]
    counts = {k: sum(c.kind == k for c in res.cells) for k in ("slower", "faster", "same", "inconclusive")}
    return "".join([
        f"# A/B comparison: {head}\n\n",
        f"Run `{res.run_id}`: {len(res.cells)} comparison(s); B slower in {counts['slower']}, faster in "
        f"{counts['faster']}, no change in {counts['same']}, inconclusive in {counts['inconclusive']}; "
        f"**{len(res.failed)} failed**.\n\n",
        md_table(["side", "framework versions", "interpreters", "code (commit)", "variant",
                  "extra environment"], _side_rows(res), "llllll"),
        "\n",
        md_table(["cell", "pairs", "A median ms", "B median ms", f"B/A [CI, {res.confidence:.0%}]",
                  "verdict"], body, "lrrrrl"),
        _sequential_line(res),
        f"\nRule: per pair of processes run next to each other (ABBA), r = B's median step time / A's; the "
        f"ratio is the geometric mean of r with a Student t interval on log r ({res.confidence:.0%}). "
        f"Indifference zone ±{res.margin * 100:g}%: 'B slower'/'B faster' when the interval lies beyond "
        f"it, 'no change' when inside, else inconclusive. A cell fails when B is slower by more than "
        f"{res.fail_on * 100:g}% with its interval above the zone, or when B's processes failed where A's "
        "ran. Exit 0 pass, 1 a cell failed, 2 bad input.\n",
    ])


def _sequential_line(res: AbResult) -> str:
    """What the sequential phase did, from run.json's ab.adaptive (untrusted: counts only)."""
    seq = res.sequential or {}
    cap, entries = seq.get("cap_pairs"), seq.get("comparisons")
    if not isinstance(cap, int) or isinstance(cap, bool) or not isinstance(entries, list):
        return ""
    entries = [e for e in entries if isinstance(e, dict)]
    added = [e.get("added_pairs") for e in entries]
    grown = sum(isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in added)
    why = {k: sum(e.get("stopped") == k for e in entries) for k in ("settled", "cap", "budget", "no pair")}
    stops = ", ".join(f"{k} {n}" for k, n in why.items() if n)
    return (f"\nSequential phase: a cell whose pass/fail was not settled after the planned pairs got one "
            f"more pair at a time, up to {cap}; {grown} of {len(entries)} cell(s) got extra pairs (stopped: "
            f"{stops or 'none'}). The interval is not widened for these looks: the ±{res.margin * 100:g}% "
            f"zone and the {res.fail_on * 100:g}% threshold keep an unchanged cell from failing.\n")


def summary_line(res: AbResult) -> str:
    if res.failed:
        names = ", ".join(c.key for c in res.failed[:5])
        return f"compare: FAIL — {len(res.failed)} cell(s) slower: {names}"
    return f"compare: PASS — {len(res.cells)} comparison(s)"
