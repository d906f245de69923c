"""The adaptive phase with the fake worker (bench.plan.adaptive): after the planned processes, more ABBA
pairs for a headline comparison still inconclusive, until it is decided, the cap or the budget."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from orch_helpers import fakes, set_plan, started  # noqa: F401 (fixture)

from bench.analysis.comparisons import groups_from_meta
from bench.cli import main
from bench.plan.adaptive import group_ratio
from bench.results.load import read_process_results
from bench.results.paths import run_file

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
    page = (run / "report" / "README.md").read_text(encoding="utf-8")
    assert "inconclusive (n = 5)" in page and "2 pair(s) added, 5 in all; inconclusive (stopped: cap)" in page
    # every planned block holds both sides of the comparison adjacent, in ABBA order
    for _, entries in itertools.groupby(sched[:9], key=lambda e: e["block"]):
        block = list(entries)
        ids = [e["cell_id"] for e in block]
        first = min(ids.index(A), ids.index(B))
        assert ids[first:first + 2] == ([A, B] if block[0]["repeat"] % 2 else [B, A]) and len(ids) == 3


def test_the_budget_stops_the_adaptive_phase(logged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_plan(monkeypatch, {"__torch__eager__": "jitter0.4"})
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
