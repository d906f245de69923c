"""The per-process run layout (schema 3 and later: one file per process) and its replication fields,
checked on every load: hostile or careless edits are one-line BenchErrors naming the file; reading
never changes a run. In-process and fast; tests/test_hostile_runs.py feeds such runs to the commands."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.errors import BenchError
from bench.plan.schedule import build_schedule
from bench.results.load import check_run, load_run
from bench.results.paths import cell_result_path, steps_path
from bench.results.records import SCHEMA_VERSION, Cell, CellResult, RunSettings, StepRecord
from bench.results.write import create_run, write_cell_result, write_steps

A = Cell("dcgan-mnist", "torch", "eager", "cpu", batch_size=8)
B = Cell("dcgan-mnist", "tensorflow", "function", "cpu", batch_size=8)
OTHER = Cell("dcgan-64", "torch", "eager", "cpu", batch_size=4)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run of today's schema, of two cells in 2 processes each, every process stored (results and steps)."""
    schedule = build_schedule([A, B], 2, seed=5)
    run = create_run(tmp_path / "run", RunSettings(repeats=2), ["all"], "quick", [A, B],
                           schedule=schedule, schedule_seed=5)
    for s in schedule:
        write_cell_result(run, CellResult(cell=s.cell, status="ok", repeat=s.repeat, block=s.block,
                                                order=s.order, step_time_median_s=0.1))
        write_steps(steps_path(run, s.cell_id, s.repeat),
                          [StepRecord(s.cell_id, i, "timed", 0.1, {"g": 1.0, "d": 1.0}, s.repeat)
                           for i in range(3)])
    return run


def refused(run: Path) -> str:
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(BenchError) as e:
        load_run(run)
    with pytest.raises(BenchError):
        check_run(run)  # what --resume runs first
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # reading changed nothing
    text = str(e.value)
    assert "\n" not in text
    return text


def edit(path: Path, change: Callable[[Any], object]) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    change(d)
    path.write_text(json.dumps(d), encoding="utf-8")


def r(run: Path, cell: Cell = A, repeat: int = 1) -> Path:
    return cell_result_path(run, cell.cell_id, repeat)


def test_the_good_run_loads_one_row_per_process(run: Path) -> None:
    data = load_run(run)
    c = data.cells
    assert len(c) == 4 and sorted(zip(c["cell_id"], c["repeat"], strict=True)) == sorted(
        (cell.cell_id, k) for cell in (A, B) for k in (1, 2))
    assert sorted(c["order"].astype(int)) == [0, 1, 2, 3] and sorted(c["block"].astype(int)) == [0, 0, 1, 1]
    meta = data.meta
    by_order = {e["order"]: (e["cell_id"], e["repeat"]) for e in meta["schedule"]}
    stored = zip(c["order"], c["cell_id"], c["repeat"], strict=True)
    assert {int(o): (cid, k) for o, cid, k in stored} == by_order
    assert sorted(data.steps.groupby(["cell_id", "repeat"]).size().tolist()) == [3, 3, 3, 3]


CASES: dict[str, tuple[Callable[[Path], object], str]] = {
    "r0.json": (lambda run: shutil.copy(r(run), r(run).with_name("r0.json")),
                "not a process file (r<k>.json"),
    "r01.json": (lambda run: shutil.copy(r(run), r(run).with_name("r01.json")), "not a process file"),
    "a stray file": (lambda run: (r(run).parent / "notes.txt").write_text("x"), "not a process file"),
    "a flat file beside": (lambda run: shutil.copy(r(run), run / "cells" / f"{A.cell_id}.json"),
                           f"a schema-{SCHEMA_VERSION} run keeps cells/<cell_id>/r<k>.json"),
    "a directory not a cell": (lambda run: (run / "cells" / "x..y").mkdir(),
                               "the name is not a cell id"),
    "repeat a string": (lambda run: edit(r(run), lambda d: d.update(repeat="1")),
                        "repeat: Input should be a valid integer"),
    "repeat 1.5": (lambda run: edit(r(run), lambda d: d.update(repeat=1.5)), "repeat: Input should be"),
    "repeat true": (lambda run: edit(r(run), lambda d: d.update(repeat=True)), "repeat: Input should be"),
    "repeat 0": (lambda run: edit(r(run), lambda d: d.update(repeat=0)), "repeat: Input should be greater"),
    "repeat not the file's": (lambda run: edit(r(run, A, 2), lambda d: d.update(repeat=1)),
                              "repeat 1 does not match the file name (r2)"),
    "order not the schedule's": (lambda run: edit(r(run), lambda d: d.update(order=3)),
                                 "disagree with the run's schedule"),
    "block negative": (lambda run: edit(r(run), lambda d: d.update(block=-1)), "block: Input should be"),
    "repeat beyond the run's": (lambda run: shutil.copy(r(run), r(run).with_name("r3.json")),
                                "repeat 1 does not match the file name (r3)"),
    "schedule names an unplanned cell": (
        lambda run: edit(run / "run.json", lambda d: d["schedule"].append(
            {"order": 4, "block": 2, "cell_id": OTHER.cell_id, "repeat": 1})),
        f"schedule[4]: cell {OTHER.cell_id!r} is not planned"),
    "schedule order shuffled": (
        lambda run: edit(run / "run.json", lambda d: d["schedule"].reverse()),
        "is not its place in the schedule"),
    "schedule twice": (
        lambda run: edit(run / "run.json", lambda d: d["schedule"].append({**d["schedule"][0], "order": 4,
                                                                           "block": 2})),
        "is scheduled twice"),
    "schedule repeat beyond repeats": (
        lambda run: edit(run / "run.json", lambda d: d.update(repeats=1)), "in a run of 1 repeat(s)"),
    "schedule repeat a string": (
        lambda run: edit(run / "run.json", lambda d: d["schedule"][0].update(repeat="1")),
        "schedule[0].repeat: Input should be a valid integer"),
    "schedule extra key": (
        lambda run: edit(run / "run.json", lambda d: d["schedule"][0].update(cmd="rm -rf")),
        "schedule[0].cmd: Extra inputs are not permitted"),
    "repeats 0": (lambda run: edit(run / "run.json", lambda d: d.update(repeats=0)), "repeats: Input"),
    "steps row of another process": (
        lambda run: steps_path(run, A.cell_id, 2).write_text(
            steps_path(run, A.cell_id, 1).read_text()),
        "repeat 1 is not the file's process (r2)"),
    "steps flat file": (lambda run: shutil.copy(steps_path(run, A.cell_id), run / "steps" / "x.jsonl"),
                        f"a schema-{SCHEMA_VERSION} run keeps steps/<cell_id>/r<k>.jsonl"),
    "steps r0": (lambda run: shutil.copy(steps_path(run, A.cell_id),
                                         steps_path(run, A.cell_id).with_name("r0.jsonl")),
                 "not a process file (r<k>.jsonl"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_layout_or_replication_fields_are_refused(run: Path, case: str) -> None:
    mutate, message = CASES[case]
    mutate(run)
    text = refused(run)
    assert message in text, text


def test_a_schema_2_run_keeps_its_flat_layout(tmp_path: Path) -> None:
    """A schema-2 run: cells/<id>.json read as repeat 1; a per-process directory or a schedule is refused."""
    committed = Path(__file__).resolve().parents[1] / "reports" / "runs" / "20261125T022816Z"
    run = tmp_path / "old"
    shutil.copytree(committed, run)
    data = load_run(run)
    assert (data.cells["repeat"] == 1).all() and data.cells["order"].isna().all()
    cid = data.cells["cell_id"].iloc[0]
    (run / "cells" / cid).mkdir()
    assert "a schema-2 run keeps one file per cell (cells/<cell_id>.json)" in refused(run)
    (run / "cells" / cid).rmdir()
    edit(run / "run.json", lambda d: d.update(schedule=[]))
    assert "a schema-2 run has no schedule" in refused(run)


def test_resume_refuses_a_run_of_an_older_schema(tmp_path: Path) -> None:
    from bench.plan.orchestrate import plan_resume
    from bench.plan.request import RunRequest

    committed = Path(__file__).resolve().parents[1] / "reports" / "runs" / "20261125T022816Z"
    run = tmp_path / "old"
    shutil.copytree(committed, run)
    only = f"--resume continues runs of schema {SCHEMA_VERSION} only"
    with pytest.raises(BenchError, match=rf"schema-2 run .*{only}"):
        plan_resume(RunRequest(out=run, resume=True))
    # the schema-3 run (one result per process, the CI fields under their old names) is refused too
    committed = committed.parent / "20261125T043336Z"
    run = tmp_path / "three"
    shutil.copytree(committed, run)
    with pytest.raises(BenchError, match=rf"^\S+ is a schema-3 run; {only}"):
        plan_resume(RunRequest(out=run, resume=True))
