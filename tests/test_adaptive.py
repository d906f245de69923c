"""The adaptive phase with the fake worker (bench.plan.adaptive): after the planned processes, more ABBA
pairs for a headline comparison still inconclusive, until it is decided, the cap or the budget."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from orch_helpers import fakes, set_plan, started  # noqa: F401 (fixture)

from bench.analysis.comparisons import groups_from_meta
from bench.analysis.headline import headlines
from bench.analysis.tables import comparison_frame
from bench.cli import main
from bench.plan import adaptive
from bench.plan.adaptive import can_decide, group_ratio
from bench.results.load import load_runs, read_process_results
from bench.results.paths import run_file
from bench.stats import RatioCI

# The headline comparison of dcgan-mnist on CPU: TensorFlow function (A) against torch eager (B), plus
# one cell outside it (TensorFlow eager): 9 planned processes.
RUN = ["all", "--models", "dcgan-mnist", "--frameworks", "tensorflow,torch", "--modes", "function,eager",
       "--devices", "cpu", "--precisions", "fp32", "--variants", "default", "--steps", "3", "--warmup", "1",
       "--window-steps", "2", "--repeats", "3"]
A = "dcgan-mnist__tensorflow__function__cpu__fp32__b64__default"
B = "dcgan-mnist__torch__eager__cpu__fp32__b64__default"


@pytest.fixture
def logged(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    monkeypatch.setenv("ORCH_FAKE_LOG_REPEATS", "1")
    return fakes


def meta_of(run: Path) -> dict:
    return json.loads(run_file(run).read_text())


def comparison(run: Path) -> dict:
    (entry,) = meta_of(run)["adaptive"]["comparisons"]
    assert entry["cells"] == [A, B]
    return entry


def test_a_decided_comparison_gets_no_more_processes(logged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_plan(monkeypatch, {"__torch__eager__": "slow2"})  # B exactly twice as slow in every pair
    assert main([*RUN, "--no-report", "--out", "run"]) == 0
    meta = meta_of(logged / "run")
    assert meta["headline_groups"] == [[A, B]]
    entry = comparison(logged / "run")
    assert (entry["added_pairs"], entry["decision"], entry["stopped"]) == (0, "A faster", "decided")
    assert entry["ratio"] == pytest.approx(2.0) and len(started(logged)) == 9


def test_an_inconclusive_comparison_gets_pairs_up_to_the_cap(logged: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    set_plan(monkeypatch, {"__torch__eager__": "jitter0.4"})  # B's processes ±40%: a wide interval
    # The futility stop would end it at once (its own test below): this one is about the added pairs.
    monkeypatch.setattr(adaptive, "can_decide", lambda ratio, more: True)
    assert main([*RUN, "--extra-pairs", "2", "--out", "run"]) == 0
    run = logged / "run"
    meta = meta_of(run)
    entry = comparison(run)
    assert (entry["added_pairs"], entry["pairs"], entry["stopped"]) == (2, 5, "cap")
    assert entry["decision"] == "inconclusive" and meta["adaptive"]["cap_pairs"] == 2
    # the added pairs were scheduled (recorded before they ran) and ran in that order: each pair alone in
    # a new block after the planned ones, its two processes adjacent, ABBA order continuing (pair 4 B A,
    # pair 5 A B)
    sched = meta["schedule"]
    assert started(logged) == [f"{e['cell_id']}#r{e['repeat']}" for e in sched] and len(sched) == 9 + 4
    extra = sched[9:]
    assert [(e["cell_id"], e["repeat"]) for e in extra] == [(B, 4), (A, 4), (A, 5), (B, 5)]
    assert [e["block"] for e in extra] == [3, 3, 4, 4] and [e["order"] for e in extra] == [9, 10, 11, 12]
    # the stopping rule's ratio is the headline's, from the stored processes
    results = read_process_results(run)
    assert len(results) == 13
    ratio = group_ratio(results, groups_from_meta(meta)[0])
    assert ratio.n == 5 and ratio.ratio == pytest.approx(entry["ratio"])
    # ... and so is its interval, moderated by the same pooled spread as the report's
    (h,) = headlines(comparison_frame(load_runs([run])))
    shown = h.default_ranking.ratio  # the slower's over the faster's: B/A when A (TensorFlow) is faster
    shown = shown if h.default_ranking.picks[0][0] == "tensorflow" else shown.inverted()
    assert shown.method == ratio.method == "paired+prior"
    assert (shown.low, shown.high) == pytest.approx((entry["low"], entry["high"]), rel=1e-12)
    page = (run / "report" / "README.md").read_text(encoding="utf-8")
    assert "inconclusive (n = 5)" in page and "2 pair(s) added, 5 in all; inconclusive (stopped: cap)" in page
    # every planned block holds both sides of the comparison adjacent, in ABBA order
    for _, entries in itertools.groupby(sched[:9], key=lambda e: e["block"]):
        block = list(entries)
        ids = [e["cell_id"] for e in block]
        first = min(ids.index(A), ids.index(B))
        assert ids[first:first + 2] == ([A, B] if block[0]["repeat"] % 2 else [B, A]) and len(ids) == 3


def test_a_comparison_more_pairs_cannot_decide_stops_as_futile(logged: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    set_plan(monkeypatch, {"__torch__eager__": "jitter0.4"})  # near 1 with a wide interval: 2 pairs can't
    assert main([*RUN, "--extra-pairs", "2", "--no-report", "--out", "run"]) == 0
    entry = comparison(logged / "run")
    assert (entry["added_pairs"], entry["stopped"], entry["decision"]) == (0, "futile", "inconclusive")
    assert len(started(logged)) == 9


@pytest.mark.parametrize(("ratio", "low", "high", "n", "df", "more", "expected"), [
    (1.30, 1.02, 1.66, 3, 6.0, 5, True),    # clear of +5% once the interval narrows
    (1.13, 0.92, 1.39, 3, 6.0, 5, False),   # too close to the edge for 5 more pairs at this spread
    (1.13, 0.92, 1.39, 3, 6.0, 60, True),   # ... but not for 60
    (1.01, 0.97, 1.05, 3, 6.0, 5, True),    # a tie within reach
    (1.30, 1.02, 1.66, 3, 6.0, 0, False),   # no pair left
])
def test_can_decide_projects_the_interval(ratio: float, low: float, high: float, n: int, df: float,
                                          more: int, expected: bool) -> None:
    assert can_decide(RatioCI(ratio, low, high, n, "paired+prior", df=df), more) is expected


def test_the_budget_stops_the_adaptive_phase(logged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_plan(monkeypatch, {"__torch__eager__": "jitter0.4"})
    monkeypatch.setattr(adaptive, "can_decide", lambda ratio, more: True)
    assert main([*RUN, "--time-budget", "1", "--out", "run"]) == 0
    entry = comparison(logged / "run")
    assert (entry["added_pairs"], entry["stopped"], entry["decision"]) == (0, "budget", "inconclusive")
    assert len(started(logged)) == 9 and meta_of(logged / "run")["adaptive"]["budget_s"] == 1.0
    page = (logged / "run" / "report" / "README.md").read_text(encoding="utf-8")
    assert "inconclusive (n = 3)" in page


def test_no_adaptive_phase_without_an_interval_or_with_zero_pairs(logged: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    set_plan(monkeypatch, {"__torch__eager__": "jitter0.4"})
    assert main([*RUN[:-2], "--repeats", "1", "--no-report", "--out", "one"]) == 0
    assert "adaptive" not in meta_of(logged / "one") and len(started(logged)) == 3
    assert main([*RUN, "--extra-pairs", "0", "--no-report", "--out", "off"]) == 0
    assert "adaptive" not in meta_of(logged / "off") and len(started(logged)) == 3 + 9
