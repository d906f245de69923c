"""`bench compare` (A/B in one run) and `gate --ab` with the fake worker: ABBA adjacency, paired ratios,
verdicts with an indifference zone, per-side environments, and a revision side whose code comes from
a checkout outside the run (never from a stored run)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from orch_helpers import ROOT, fakes  # noqa: F401 (fixture)

from bench.analysis.ab import AbCell, judge, paired_ratio
from bench.cell import parse_cell_id
from bench.cli import main
from bench.plan.ab_plan import Pair, abba_schedule, side_of_repeat
from bench.results.load import load_run
from bench.results.paths import run_file

CELLS = ["--models", "dcgan-mnist", "--frameworks", "tensorflow,torch", "--modes", "eager",
         "--devices", "cpu", "--precisions", "fp32", "--steps", "3", "--warmup", "1", "--window-steps", "2"]
TF = "dcgan-mnist__tensorflow__eager__cpu__fp32__b64__default"
TORCH = "dcgan-mnist__torch__eager__cpu__fp32__b64__default"


def test_abba_schedule_gives_every_b_process_an_a_neighbour() -> None:
    cells = [parse_cell_id(TF), parse_cell_id(TORCH)]
    slots = abba_schedule([Pair(c, c) for c in cells], repeats=4, seed=3)
    assert [x.slot.order for x in slots] == list(range(16))
    for i in range(0, 16, 2):  # processes come in adjacent pairs of one cell, one per side
        a, b = slots[i], slots[i + 1]
        assert a.slot.cell == b.slot.cell and {a.side, b.side} == {"a", "b"}
        pair = max(a.slot.repeat, b.slot.repeat) // 2
        assert sorted([a.slot.repeat, b.slot.repeat]) == [2 * pair - 1, 2 * pair]
        assert a.side == ("a" if pair % 2 else "b")  # A B in odd pairs, B A in even ones: ABBA
        assert all(side_of_repeat(x.slot.repeat) == x.side for x in (a, b))


def test_paired_ratio_and_the_indifference_zone() -> None:
    a = [10.0, 12.0, 11.0, 9.0]
    b = [x * 1.12 for x in a]  # every pair 12% slower, whatever the machine's spell did to both
    r, lo, hi = paired_ratio(a, b)
    assert r == pytest.approx(1.12) and lo == pytest.approx(1.12) and hi == pytest.approx(1.12)
    c = AbCell("x", "x", "x", a, b, r, 1.08, 1.16)
    judge(c, 0.03, 0.05, 0.95)
    assert c.verdict == "B slower by 12% [8–16%, 95%]" and c.failed
    c = AbCell("x", "x", "x", a, a, 1.0, 0.98, 1.02)
    judge(c, 0.03, 0.05, 0.95)
    assert c.verdict == "no change within ±3%" and not c.failed
    c = AbCell("x", "x", "x", a, a, 1.04, 0.99, 1.09)
    judge(c, 0.03, 0.05, 0.95)
    assert c.kind == "inconclusive" and not c.failed and "[0.990–1.090, 95%]" in c.verdict
    c = AbCell("x", "x", "x", a, a, 1.04, 1.035, 1.045)  # above the zone but under --fail-on
    judge(c, 0.03, 0.05, 0.95)
    assert c.kind == "slower" and not c.failed


def _ab_run(cwd: Path, *extra: str, repeats: int = 3) -> tuple[int, Path]:
    # the default variant only: the quick profile adds torch's tuned candidates otherwise
    code = main(["compare", *CELLS, "--variants", "default", "--repeats", str(repeats), "--out", "ab",
                 *extra])
    return code, cwd / "ab"


def test_identical_sides_pass_and_a_slowed_side_b_fails(fakes: Path, capsys) -> None:  # noqa: F811
    code, run = _ab_run(fakes, repeats=2)
    assert code == 0, capsys.readouterr()
    text = (run / "compare.md").read_text()
    assert "no change within ±3%" in text and "# A/B comparison: PASS" in text
    data = load_run(run)  # a valid stored run
    assert len(data.cells) == 8 and set(data.cells["status"]) == {"ok"}
    meta = json.loads(run_file(run).read_text())
    assert meta["ab"]["pairs"] == [[TF, TF], [TORCH, TORCH]]
    order = {(e["cell_id"], e["repeat"]): e["order"] for e in meta["schedule"]}
    for cid in (TF, TORCH):
        for p in (1, 2):
            assert abs(order[cid, 2 * p - 1] - order[cid, 2 * p]) == 1  # the pair ran side by side

    assert main(["compare", *CELLS, "--frameworks", "torch", "--variants", "default", "--repeats", "2",
                 "--out", "slow", "--env-b", "FRAMEBENCH_INJECT_SLOWDOWN=0.2"]) == 1
    out = capsys.readouterr().out
    assert "B slower by 20% [20–20%, 95%] ✗" in out and "FRAMEBENCH_INJECT_SLOWDOWN=0.2" in out
    assert main(["gate", "--ab", str(fakes / "slow"), "--output", "g.md"]) == 1
    assert main(["gate", "--ab", str(fakes / "slow"), "--step-time", "25%", "--output", "g.md"]) == 0
    assert main(["gate", "--ab", str(run), "--output", "g.md"]) == 0


def test_b_failing_where_a_ran_fails_and_a_plain_run_is_refused(fakes: Path, monkeypatch,  # noqa: F811
                                                               capsys) -> None:
    monkeypatch.setenv("ORCH_FAKE_PLAN", json.dumps({"torch": "crash@r4"}))
    code, run = _ab_run(fakes, "--frameworks", "torch", repeats=2)
    assert code == 1
    assert "B failed where A ran: r4 failed" in (run / "compare.md").read_text()
    assert main(["all", *CELLS, "--frameworks", "torch", "--repeats", "1", "--no-report",
                 "--out", "plain"]) == 0
    capsys.readouterr()
    assert main(["gate", "--ab", "plain"]) == 2
    assert "not an A/B run" in capsys.readouterr().err


def _git_head() -> str | None:
    if shutil.which("git") is None:
        return None
    p = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


@pytest.mark.skipif(_git_head() is None, reason="needs this project's git repository")
def test_a_revision_side_runs_from_a_checkout_outside_the_run(fakes: Path, monkeypatch) -> None:  # noqa: F811
    log = fakes / "modules.log"
    monkeypatch.setenv("ORCH_FAKE_MODULE_LOG", str(log))
    code, run = _ab_run(fakes, "--rev-b", "HEAD", "--frameworks", "torch", repeats=2)
    assert code == 0
    lines = [line.split() for line in log.read_text().splitlines()]
    assert len(lines) == 4
    run_root = run.resolve()
    for proc, module, cwd in lines:
        repeat = int(proc.rsplit("#r", 1)[1])
        path = Path(module).resolve()
        assert not path.is_relative_to(run_root)  # never code from the run directory
        if side_of_repeat(repeat) == "a":
            assert path.is_relative_to(ROOT.resolve())
        else:  # the revision's checkout: a temporary directory, gone after the run
            assert not path.is_relative_to(ROOT.resolve()) and "framebench-rev-" in module
            assert not path.exists()
        assert not Path(cwd).resolve().is_relative_to(run_root)  # workers start outside the run
    meta = json.loads(run_file(run).read_text())
    assert meta["ab"]["sides"]["b"]["commit"] == _git_head()


def test_judging_a_stored_ab_run_executes_nothing_of_it(fakes: Path, capsys) -> None:  # noqa: F811
    code, run = _ab_run(fakes, "--frameworks", "torch", repeats=2)
    assert code == 0
    marker = fakes / "executed"
    for d in (run, run / "work"):  # code planted where an importer could look
        (d / "bench").mkdir(parents=True, exist_ok=True)
        (d / "bench" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
        (d / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    assert main(["gate", "--ab", str(run), "--output", "g.md"]) == 0
    assert main(["compare", "--run", str(run), "--report", "c.md"]) == 0
    assert not marker.exists()


def test_variant_sides_pair_each_cell_with_its_other_variant(fakes: Path, capsys) -> None:  # noqa: F811
    assert main(["compare", *CELLS, "--frameworks", "torch", "--repeats", "2", "--out", "v",
                 "--variant-a", "default", "--variant-b", "adam-foreach"]) == 0
    meta = json.loads(run_file(fakes / "v").read_text())
    assert meta["ab"]["pairs"] == [[TORCH, TORCH.replace("__default", "__adam-foreach")]]
    assert f"{TORCH} vs adam-foreach" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--env-b", "PYTHONPATH=/x"], ["--env-b", "no-equals"],
                                  ["--rev-b", "no-such-revision-xyz"],
                                  ["--variants", "default", "--variant-b", "adam-foreach"]])
def test_bad_sides_are_one_error_line(fakes: Path, capsys, args: list[str]) -> None:  # noqa: F811
    assert main(["compare", *CELLS, "--repeats", "1", "--out", "bad", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and not (fakes / "bad").exists()


def test_an_ab_run_is_not_resumed_as_a_plain_run(fakes: Path, monkeypatch, capsys) -> None:  # noqa: F811
    monkeypatch.setenv("ORCH_FAKE_PLAN", json.dumps({"torch": "crash@r2"}))
    assert main(["compare", *CELLS, "--frameworks", "torch", "--repeats", "1", "--out", "ab"]) == 1
    capsys.readouterr()
    assert main(["all", "--resume", "--out", "ab", "--no-report"]) == 2
    assert "is an A/B run" in capsys.readouterr().err


def test_an_ab_run_is_neither_gated_nor_saved_as_a_plain_run(fakes: Path, capsys) -> None:  # noqa: F811
    code, run = _ab_run(fakes, "--frameworks", "torch", repeats=1)
    assert code == 0
    assert main(["baseline", "save", "--run", str(run), "--name", "x", "--dir", "bl"]) == 2
    assert main(["gate", "--run", str(run), "--baseline", str(run), "--output", "g.md"]) == 2
    assert capsys.readouterr().err.count("is an A/B run") == 2


def test_a_noisy_cell_gets_more_abba_pairs_until_its_pass_fail_is_settled(fakes: Path, monkeypatch,  # noqa: F811
                                                                           capsys) -> None:
    # ±25% process-to-process noise: two pairs cannot tell a 10% slowdown from the machine's mood
    monkeypatch.setenv("ORCH_FAKE_PLAN", json.dumps({"torch": "jitter0.25"}))
    code, run = _ab_run(fakes, "--frameworks", "torch", "--env-b", "FRAMEBENCH_INJECT_SLOWDOWN=0.1",
                        "--extra-pairs", "4", repeats=2)
    meta = json.loads(run_file(run).read_text())
    seq = meta["ab"]["adaptive"]
    (entry,) = seq["comparisons"]
    assert seq["cap_pairs"] == 4 and entry["added_pairs"] >= 1 and entry["stopped"] in ("settled", "cap")
    assert entry["pairs"] == 2 + entry["added_pairs"]
    repeats = sorted(e["repeat"] for e in meta["schedule"])
    assert repeats == list(range(1, 2 * entry["pairs"] + 1))  # every added pair was scheduled, then ran
    order = {e["repeat"]: e["order"] for e in meta["schedule"]}
    for p in range(3, entry["pairs"] + 1):  # added pairs side by side, in ABBA order of their number
        a, b = order[2 * p - 1], order[2 * p]
        assert abs(a - b) == 1 and (a < b) == (p % 2 == 1)
    assert len(load_run(run).cells) == 2 * entry["pairs"]  # a valid stored run with all of them
    text = (run / "compare.md").read_text()
    assert f"| {TORCH} | {entry['pairs']} |" in text and "Sequential phase" in text
    assert code == (1 if "✗" in text else 0)

    capsys.readouterr()
    code = main(["compare", *CELLS, "--frameworks", "torch", "--variants", "default", "--repeats", "2",
                 "--time-budget", "0.5", "--out", "budget"])
    entry = json.loads(run_file(fakes / "budget").read_text())["ab"]["adaptive"]["comparisons"][0]
    assert (entry["added_pairs"], entry["stopped"]) == (0, "budget") and code == 0


def test_the_sequential_phase_stops_when_pass_fail_cannot_change() -> None:
    from bench.plan.ab_sequential import settled

    a = [1.0, 1.0, 1.0]
    undecided = AbCell("x", "x", "x", a, a, 1.04, 0.99, 1.09)
    judge(undecided, 0.03, 0.05, 0.95)
    assert not settled(undecided, 0.05)
    cannot_fail = AbCell("x", "x", "x", a, a, 1.01, 0.98, 1.045)  # straddles the zone, under --fail-on
    judge(cannot_fail, 0.03, 0.05, 0.95)
    assert cannot_fail.kind == "inconclusive" and settled(cannot_fail, 0.05)
    one_pair = AbCell("x", "x", "x", a[:1], a[:1], 1.0)
    judge(one_pair, 0.03, 0.05, 0.95)
    assert not settled(one_pair, 0.05)
    slower = AbCell("x", "x", "x", a, a, 1.12, 1.08, 1.16)
    judge(slower, 0.03, 0.05, 0.95)
    assert settled(slower, 0.05)


@pytest.mark.parametrize(("cap", "bound"), [(3, 4 + 6), (True, 4), ("9", 4), (-1, 4), (10**9, 4)])
def test_an_ab_runs_stored_cap_widens_the_repeats_only_when_plausible(cap, bound: int) -> None:
    from bench.results.layout import max_repeat

    assert max_repeat({"repeats": 4, "ab": {"adaptive": {"cap_pairs": cap}}}) == bound
    assert max_repeat({"repeats": 4, "ab": "x"}) == 4 and max_repeat({"ab": {}}) is None
