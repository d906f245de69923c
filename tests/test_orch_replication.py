"""Replication end to end with the fake worker: each cell in --repeats fresh processes, run in the stored
interleaved schedule, stored one file per process, resumed per process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orch_helpers import fakes, set_plan, started  # noqa: F401 (fixture)

from bench.cli import main
from bench.results.load import load_run, read_process_results
from bench.results.paths import cell_result_path, log_path, run_file

# Two cells of one model (one per framework), so every block holds both frameworks.
TWO = ["all", "--models", "dcgan-mnist", "--frameworks", "tensorflow,torch", "--modes", "eager",
       "--devices", "cpu", "--precisions", "fp32", "--variants", "default", "--no-report", "--steps", "3",
       "--warmup", "1", "--window-steps", "2"]


@pytest.fixture
def logged(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    monkeypatch.setenv("ORCH_FAKE_LOG_REPEATS", "1")  # the fake worker logs "<cell_id>#r<k>"
    return fakes


def schedule_of(run: Path) -> list[str]:
    meta = json.loads(run_file(run).read_text())
    return [f"{e['cell_id']}#r{e['repeat']}" for e in meta["schedule"]]


def test_each_cell_runs_in_r_processes_in_the_stored_order(logged: Path) -> None:
    assert main([*TWO, "--repeats", "3", "--out", "run"]) == 0
    run = logged / "run"
    meta = json.loads(run_file(run).read_text())
    assert meta["repeats"] == 3 and meta["schedule_seed"] == 0 and meta["settings"]["repeats"] == 3
    assert started(logged) == schedule_of(run) and len(started(logged)) == 6
    data = load_run(run)
    c = data.cells
    assert len(c) == 6 and c.groupby("cell_id")["repeat"].apply(sorted).tolist() == [[1, 2, 3]] * 2
    # The order is visible in the stored records: sorting by it gives the order the processes ran in.
    ran = c.sort_values("order")
    assert [f"{cid}#r{k}" for cid, k in zip(ran["cell_id"], ran["repeat"], strict=True)] == started(logged)
    for _, block in c.groupby("block"):
        assert sorted(block["framework"]) == ["tensorflow", "torch"] and block["repeat"].nunique() == 1
    assert sorted(data.steps.groupby(["cell_id", "repeat"]).size().tolist()) == [3] * 6


def test_the_schedule_is_seeded(logged: Path) -> None:
    assert main([*TWO, "--repeats", "4", "--out", "a"]) == 0
    assert main([*TWO, "--repeats", "4", "--out", "b"]) == 0
    assert schedule_of(logged / "a") == schedule_of(logged / "b")
    orders = {tuple(schedule_of(logged / "a"))}
    for seed in range(1, 6):
        assert main([*TWO, "--repeats", "4", "--schedule-seed", str(seed), "--out", f"s{seed}"]) == 0
        assert json.loads(run_file(logged / f"s{seed}").read_text())["schedule_seed"] == seed
        orders.add(tuple(schedule_of(logged / f"s{seed}")))
    assert len(orders) > 1


def test_resume_reruns_only_the_missing_and_failed_processes(logged: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    set_plan(monkeypatch, {"__torch__eager__": "crash@r2"})
    assert main([*TWO, "--repeats", "3", "--out", "run"]) == 1
    run = logged / "run"
    results = read_process_results(run)
    failed = {k for k, r in results.items() if r.status != "ok"}
    torch_eager = next(cid for cid, _ in results if "__torch__" in cid)
    assert failed == {(torch_eager, 2)}
    assert log_path(run, torch_eager, 2).read_text().count("boom") == 1
    out = capsys.readouterr().out
    assert f"failed: {torch_eager} r2: RuntimeError: boom in fake worker" in out
    tf = next(cid for cid, _ in results if "__tensorflow__" in cid)
    cell_result_path(run, tf, 3).unlink()  # as if killed before it
    (logged / "started.log").unlink()
    set_plan(monkeypatch, {})
    assert main(["all", "--resume", "--no-report", "--out", str(run)]) == 0
    expected = [p for p in schedule_of(run) if p in (f"{torch_eager}#r2", f"{tf}#r3")]
    assert started(logged) == expected  # only those two, in the schedule's order
    assert {r.status for r in read_process_results(run).values()} == {"ok"}
    (logged / "started.log").unlink()
    capsys.readouterr()
    assert main(["all", "--resume", "--no-report", "--out", str(run)]) == 0
    assert started(logged) == [] and "all 6 planned process(es)" in capsys.readouterr().err


def test_run_command_resumes_its_cell(logged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cell = ["--model", "dcgan-mnist", "--framework", "torch", "--mode", "eager", "--steps", "2"]
    set_plan(monkeypatch, {"__eager__": "crash@r1"})
    assert main(["run", *cell, "--repeats", "2", "--out", "run"]) == 1
    (logged / "started.log").unlink()
    set_plan(monkeypatch, {})
    assert main(["run", *cell, "--resume", "--out", "run"]) == 0
    assert [s.split("#")[1] for s in started(logged)] == ["r1"]
    assert {r.status for r in read_process_results(logged / "run").values()} == {"ok"}


@pytest.mark.parametrize(("args", "message"), [
    (["--repeats", "0"], "--repeats: must be at least 1 (got 0)"),
    (["--repeats", "two"], "--repeats"),
    (["--schedule-seed", "-1"], "--schedule-seed"),
])
def test_bad_repeats_are_one_line_exit_2(logged: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                        message: str) -> None:
    assert main([*TWO, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert started(logged) == [] and not (logged / "reports").exists()


def test_resume_keeps_the_runs_repeats_and_schedule(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TWO, "--repeats", "2", "--out", "run"]) == 0
    run = logged / "run"
    cell_result_path(run, load_run(run).cells["cell_id"].iloc[0], 1).unlink()
    capsys.readouterr()
    for args, what in ((["--repeats", "3"], "repeats 3 (stored: 2)"),
                       (["--schedule-seed", "9"], "schedule seed 9 (stored: 0)")):
        assert main(["all", "--resume", "--no-report", "--out", str(run), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: settings differ") and what in err and err.count("\n") == 1, err
    assert main(["all", "--resume", "--no-report", "--out", str(run), "--repeats", "2"]) == 0
