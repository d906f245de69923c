"""bench.launchers: the Launcher interface behind run_cell, with the fake worker."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from orch_helpers import fakes, set_plan  # noqa: F401 (fixture)

from bench.launchers.base import Launch, Launcher, LaunchOutcome, classify_exit
from bench.launchers.process import ProcessLauncher
from bench.launchers.slot import run_cell
from bench.plan.schedule import build_schedule
from bench.results.load import read_process_results, read_steps
from bench.results.paths import cell_result_path, log_path, steps_path, work_dir
from bench.results.records import Cell, RunSettings
from bench.results.write import create_run
from models.registry import family_of

CELL = Cell("dcgan-mnist", "torch", "eager", "cpu", "fp32", 8)
SETTINGS = RunSettings(steps=3, warmup=1, window_steps=2, time_limit_s=60.0, intra_op_threads=1)


def new_run(root: Path, repeats: int = 3) -> Path:
    """An empty run planning CELL in ``repeats`` processes (run.json only), for run_cell to store into."""
    return create_run(root / "run", SETTINGS, ["test"], "quick", [CELL],
                            schedule=build_schedule([CELL], repeats, seed=0))


class Recording(Launcher):
    """A launcher that records what it was asked to start and answers with a canned outcome
    (or, with ``delegate``, lets the process launcher run it)."""

    def __init__(self, outcome: LaunchOutcome | None = None) -> None:
        self.outcome = outcome
        self.jobs: list[Launch] = []

    def launch(self, job: Launch) -> LaunchOutcome:
        self.jobs.append(job)
        if self.outcome is None:
            return ProcessLauncher().launch(job)
        job.log_path.write_text("# started by a test\nsomething went wrong here\n")
        return self.outcome


def test_the_process_launcher_stores_one_result_per_process(fakes: Path) -> None:  # noqa: F811
    run = new_run(fakes)
    result = run_cell(CELL, SETTINGS, run, block=0, order=0)
    assert result.status == "ok" and result.wall_s is not None and result.started_at
    assert (result.repeat, result.block, result.order) == (1, 0, 0)
    losses = family_of(CELL.model).losses
    assert list(result.final_losses) == list(losses)
    stored = read_process_results(run)[(CELL.cell_id, 1)]
    assert stored.final_losses == result.final_losses
    steps = read_steps(steps_path(run, CELL.cell_id))
    assert len(steps) == SETTINGS.steps and set(steps[0]["losses"]) == set(losses)
    assert (work_dir(run, CELL.cell_id) / "spec-r1.json").exists()
    # A second process of the same cell: its own files, the same scratch directory.
    second = run_cell(CELL, SETTINGS, run, repeat=2, block=1, order=1)
    assert (second.repeat, second.block, second.order) == (2, 1, 1)
    assert cell_result_path(run, CELL.cell_id, 2).is_file()
    assert {r["repeat"] for r in read_steps(steps_path(run, CELL.cell_id, 2))} == {2}
    assert log_path(run, CELL.cell_id, 2).read_text().startswith("# ")
    assert sorted(p.name for p in work_dir(run, CELL.cell_id).glob("spec-*")) == [
        "spec-r1.json", "spec-r2.json"]
    assert set(read_process_results(run)) == {(CELL.cell_id, 1), (CELL.cell_id, 2)}


def test_a_result_for_another_process_is_refused(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A worker that writes another repeat (or order) than it was given: recorded as failed."""
    class Mislabelling(Recording):
        def launch(self, job: Launch) -> LaunchOutcome:
            spec = json.loads(Path(job.command[3]).read_text())
            spec["order"] = 99
            Path(job.command[3]).write_text(json.dumps(spec))
            return ProcessLauncher().launch(job)

    result = run_cell(CELL, SETTINGS, new_run(fakes), repeat=1, block=0, order=0,
                               launcher=Mislabelling())
    assert result.status == "failed" and "another process" in result.reason
    assert (result.repeat, result.block, result.order) == (1, 0, 0)


def test_run_cell_goes_through_the_launcher_it_is_given(fakes: Path) -> None:  # noqa: F811
    rec = Recording()
    result = run_cell(CELL, SETTINGS, fakes / "run", python="/usr/bin/env", launcher=rec)
    (job,) = rec.jobs
    assert job.cell == CELL and job.time_limit_s == SETTINGS.time_limit_s
    assert job.command[:3] == ["/usr/bin/env", "-m", "orch_fake_worker"]
    assert job.command[3].endswith("spec-r1.json") and job.work_dir == Path(job.command[3]).parent
    assert job.env["PYTHONUNBUFFERED"] == "1"
    assert job.log_path == log_path((fakes / "run").resolve(), CELL.cell_id)
    assert result.status == "failed"  # /usr/bin/env -m ...: not a python


@pytest.mark.parametrize(("outcome", "status", "reason"), [
    (LaunchOutcome(timed_out=True), "timeout", "exceeded the time limit of 60 s"),
    (LaunchOutcome(start_error="cannot start /x/python: No such file"), "failed",
     "cannot start /x/python: No such file"),
    (LaunchOutcome(returncode=-signal.SIGKILL), "oom", "SIGKILL"),
    (LaunchOutcome(returncode=3), "failed", "something went wrong here"),
])
def test_an_outcome_without_a_result_is_recorded_with_a_reason(
        fakes: Path, outcome: LaunchOutcome, status: str, reason: str) -> None:  # noqa: F811
    run = new_run(fakes)
    result = run_cell(CELL, SETTINGS, run, repeat=3, block=2, order=2, launcher=Recording(outcome))
    assert result.status == status and reason in result.reason
    assert (result.repeat, result.block, result.order) == (3, 2, 2)
    assert read_process_results(run)[(CELL.cell_id, 3)].status == status
    if outcome.start_error is None:
        assert "something went wrong" in (result.error_tail or "")
        assert "# started" not in (result.error_tail or "")


def test_the_process_launcher_kills_a_hung_worker(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    set_plan(monkeypatch, {"__eager__": "hang"})
    settings = RunSettings(steps=3, warmup=1, window_steps=2, time_limit_s=1.5)
    quick_kill = ProcessLauncher(kill_grace_s=0.5)
    result = run_cell(CELL, settings, fakes / "run", launcher=quick_kill)
    assert result.status == "timeout" and "1.5 s" in result.reason
    assert "fake worker starting" in (result.error_tail or "")


def test_launcher_is_an_interface() -> None:
    with pytest.raises(TypeError):
        Launcher()  # type: ignore[abstract]
    assert classify_exit(1, ["RuntimeError: boom", "^^^^"]) == ("failed", "RuntimeError: boom")
    assert classify_exit(0, [])[1] == "worker exited without writing a result"


def test_progress_eta_from_estimates_then_from_finished_processes() -> None:
    import io

    from bench.plan.progress import Progress
    from bench.results.records import CellResult
    from bench.results.slots import Slot

    now = [0.0]
    out = io.StringIO()
    cells = [Slot(CELL, 1), Slot(Cell("dcgan-64", "torch", "eager", "cpu", "fp32", 8), 2)]
    p = Progress(2, estimate=lambda c: 30.0, stream=out, clock=lambda: now[0])
    assert p.eta(cells) == 60.0 and p.eta([]) == 0.0
    p.start(cells[0], cells[1:])
    now[0] = 10.0
    p.finish(cells[0], CellResult(cell=CELL, status="failed", reason="boom"), cells[1:])
    assert p.eta(cells[1:]) == 10.0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"[1/2] {CELL.cell_id} r1 ... running") and "ETA 1:00" in lines[0]
    assert lines[1].endswith("failed in 0:10: boom (elapsed 0:10, ETA 0:10)")
