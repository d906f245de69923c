"""The ``unsupported`` status: a cell of several ranks whose engine raised from its own code (the
strategy cannot run the model) is recorded as unsupported with the error's line, not failed; stored,
loaded and resumed as a final answer; worse than ok for the gate. No framework import."""

from __future__ import annotations

from pathlib import Path

from bench.frameworks.base import Backend
from bench.plan.schedule import build_schedule
from bench.results.load import load_run, processes_to_rerun
from bench.results.records import Cell, CellResult, RunSettings
from bench.results.write import create_run, write_cell_result
from bench.vocab import BAD_STATUSES, CELL_STATUSES, FAILED_STATUSES

CELL = Cell("vae-mnist", "tensorflow", "eager", "cpu", "fp32", 8, workers=2)
ENGINE_FILE = "/site-packages/tensorflow/python/distribute/collective_all_reduce_strategy.py"


def _raised_in(filename: str) -> BaseException:
    try:
        exec(compile("raise NotImplementedError('the strategy cannot do this')", filename, "exec"))
    except NotImplementedError as e:
        return e
    raise AssertionError("not raised")


class _Engine(Backend):
    unsupported_sources = ("tensorflow/python/distribute/",)


def test_only_an_error_raised_in_the_engines_own_code_is_unsupported() -> None:
    two = _Engine(CELL, RunSettings(), {}, rank=0, world_size=2)
    assert two.unsupported(_raised_in(ENGINE_FILE))
    assert not two.unsupported(_raised_in("/work/models/vae/tf_vae.py"))  # the model's own: a failure
    assert not _Engine(CELL, RunSettings(), {}).unsupported(_raised_in(ENGINE_FILE))  # one rank: no engine
    assert not Backend(CELL, RunSettings(), {}, world_size=2).unsupported(_raised_in(ENGINE_FILE))


def test_an_unsupported_cell_is_final_and_worse_than_ok(tmp_path: Path) -> None:
    assert "unsupported" in CELL_STATUSES and "unsupported" in BAD_STATUSES
    assert "unsupported" not in FAILED_STATUSES  # not re-run by --resume, no exit 1
    run = create_run(tmp_path / "run", RunSettings(), ["test"], "full", [CELL],
                     schedule=build_schedule([CELL], 1, seed=0))
    write_cell_result(run, CellResult(cell=CELL, status="unsupported", repeat=1, block=0, order=0,
                                      reason="rank 0: NotImplementedError: the strategy cannot do this"))
    data = load_run(run)
    assert data.cells.loc[0, "status"] == "unsupported"
    assert processes_to_rerun(run) == []
