"""bench.results.write / bench.results.load: atomic writes, the run directory (one file per process), and
loading runs
back (corrupt files named, schema-1 and schema-2 runs migrated)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.cell import parse_cell_id
from bench.errors import BenchError
from bench.plan.schedule import build_schedule
from bench.results import write as store
from bench.results.find import latest_run
from bench.results.load import (
    CELL_COLUMNS,
    STEP_COLUMNS,
    load_run,
    load_runs,
    processes_to_rerun,
    read_run_meta,
)
from bench.results.paths import cell_result_path, steps_path
from bench.results.records import SCHEMA_VERSION, Cell, CellResult, RunSettings, StepRecord
from bench.results.slots import Slot
from bench.results.write import atomic_write_text, create_run, write_cell_result, write_steps

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_1_RUN = ROOT / "reports" / "runs" / "20261123T160704Z"  # committed, written by schema 1
SCHEMA_2_RUN = ROOT / "reports" / "runs" / "20261125T022816Z"  # committed, written by schema 2

CELL = Cell("dcgan-mnist", "torch", "eager", "cpu", batch_size=8)
CELL2 = Cell("dcgan-64", "tensorflow", "function", "cpu", batch_size=4, variant="onednn-off")


def make_run(tmp_path: Path, name: str = "20250101T000000Z") -> Path:
    run = create_run(tmp_path / name, RunSettings(steps=3), ["all"], "quick", [CELL, CELL2],
                           environment={"fingerprint": {"hash": "abc"}})
    write_cell_result(run, CellResult(cell=CELL, status="ok", flags={"tf32": False, "nested": {"a": 1}},
                                            versions={"torch": "2.13"}, step_time_median_s=0.25,
                                            throughput_img_s=32.0,
                                            final_losses={"g": float("nan"), "d": 0.5}))
    rows = [StepRecord(CELL.cell_id, i, "timed", 0.25, {"g": 1.0, "d": 2.0 + i}) for i in range(3)]
    write_steps(steps_path(run, CELL.cell_id), rows)
    return run


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "f.json"
    atomic_write_text(p, "old")
    atomic_write_text(p, "new" * 1000)
    assert p.read_text() == "new" * 1000
    assert [x.name for x in p.parent.iterdir()] == ["f.json"]


def test_atomic_write_failure_mid_write_keeps_old_content(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "f.json"
    atomic_write_text(p, "old")

    def boom(src: str, dst: str) -> None:  # the process "dies" between write and rename
        raise OSError("simulated crash")

    monkeypatch.setattr(store.os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_text(p, "new partial")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["f.json"]  # temp file cleaned up


def test_process_killed_mid_write_leaves_no_partial_result(tmp_path: Path) -> None:
    """A real process dying after writing the temp file but before the rename: readers never see it."""
    run = make_run(tmp_path)
    target = cell_result_path(run, CELL2.cell_id)
    code = (
        "import os, sys\n"
        "from bench.results import write\n"
        "def die(*a): os._exit(9)\n"
        "write.os.replace = die\n"
        "atomic_write_text = write.atomic_write_text\n"
        f"atomic_write_text({str(target)!r}, '{{\"cell_id\": \"half')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 9
    assert not target.exists()
    leftovers = [x for x in target.parent.iterdir() if x.name.startswith(".")]
    assert leftovers, "the temp file of the dead writer should be there (and ignored)"
    data = load_run(run)  # the leftover temp file is not read as a result
    assert list(data.cells["cell_id"]) == [CELL.cell_id]
    assert processes_to_rerun(run) == [Slot(CELL2)]


def test_load_run_tables(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    data = load_run(run)
    assert data.run_id == run.name
    assert data.env["fingerprint"]["hash"] == "abc"
    assert data.settings.steps == 3
    c = data.cells
    assert len(c) == 1
    assert set(CELL_COLUMNS) <= set(c.columns)
    row = c.iloc[0]
    assert row["run_id"] == run.name and row["status"] == "ok" and row["batch_size"] == 8
    assert row["flags"] == {"tf32": False, "nested": {"a": 1}}
    assert row["flags.tf32"] is False or row["flags.tf32"] == False  # noqa: E712 (numpy bool)
    assert "flags.nested" not in c.columns  # only scalars are flattened
    assert row["versions.torch"] == "2.13"
    assert c["step_time_median_s"].dtype.kind == "f"
    assert c["final_losses.g"].isna().all()  # NaN stored as null, read back as NaN
    assert c["final_losses.d"].tolist() == [0.5] and c["final_losses.d"].dtype.kind == "f"
    assert row["final_losses"] == {"g": None, "d": 0.5}
    assert c["step_time_p90_s"].dtype.kind == "f"  # an all-None numeric column is float, not object
    assert row["repeat"] == 1 and pd.isna(row["block"]) and pd.isna(row["order"])
    assert c["repeat"].dtype.kind == "i"
    s = data.steps
    assert list(s.columns[:7]) == STEP_COLUMNS
    assert s["repeat"].tolist() == [1, 1, 1]
    assert len(s) == 3 and (s["run_id"] == run.name).all() and s["step_time_s"].sum() == pytest.approx(0.75)
    assert s["losses.g"].tolist() == [1.0] * 3 and s["losses.d"].tolist() == [2.0, 3.0, 4.0]


def test_stored_files_keep_their_exact_format(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    path = cell_result_path(run, CELL.cell_id)
    assert path.relative_to(run).as_posix() == f"cells/{CELL.cell_id}/r1.json"
    text = path.read_text()
    assert text.startswith('{\n  "cell_id": "dcgan-mnist__torch__eager__cpu__fp32__b8__default",\n')
    assert '  "final_losses": {\n    "g": null,\n    "d": 0.5\n  },\n' in text
    assert text.endswith(f'  "schema": {SCHEMA_VERSION}\n}}\n')
    first = steps_path(run, CELL.cell_id).read_text().splitlines()[0]
    assert first == ('{"cell_id": "dcgan-mnist__torch__eager__cpu__fp32__b8__default", "step": 0, '
                     '"phase": "timed", "step_time_s": 0.25, "losses": {"g": 1.0, "d": 2.0}, "repeat": 1}')


def test_committed_schema_1_run_loads_through_the_migration() -> None:
    cell_files = sorted((SCHEMA_1_RUN / "cells").glob("*.json"))
    raw = json.loads(cell_files[0].read_text())
    assert raw["schema"] == 1 and "final_g_loss" in raw and "final_losses" not in raw
    before = {p: p.read_bytes() for p in cell_files}
    data = load_run(SCHEMA_1_RUN)
    c, s = data.cells, data.steps
    assert len(c) == len(cell_files) and (c["schema"] == SCHEMA_VERSION).all()
    assert {"final_losses.g", "final_losses.d"} <= set(c.columns)
    assert not {"final_g_loss", "final_d_loss", "g_loss", "d_loss"} & (set(c.columns) | set(s.columns))
    row = c[c["cell_id"] == raw["cell_id"]].iloc[0]
    assert row["final_losses.g"] == raw["final_g_loss"] and row["final_losses.d"] == raw["final_d_loss"]
    assert c["final_losses.g"].dtype.kind == "f"
    step_file = SCHEMA_1_RUN / "steps" / f"{raw['cell_id']}.jsonl"
    first = json.loads(step_file.read_text().splitlines()[0])
    got = s[(s["cell_id"] == raw["cell_id"]) & (s["step"] == 0)].iloc[0]
    assert (got["losses.g"], got["losses.d"]) == (first["g_loss"], first["d_loss"])
    assert got["losses"] == {"g": first["g_loss"], "d": first["d_loss"]}
    assert s["losses.g"].dtype.kind == "f" and s["losses.g"].notna().any()
    assert {p: p.read_bytes() for p in cell_files} == before  # migrated on load, never rewritten
    assert (c["repeat"] == 1).all() and c["block"].isna().all() and c["order"].isna().all()
    assert (s["repeat"] == 1).all()


def test_committed_schema_2_run_loads_as_one_process_per_cell() -> None:
    """The committed schema-2 run (flat layout, one process per cell): repeat 1, no block or order."""
    tree = {p: p.read_bytes() for p in SCHEMA_2_RUN.rglob("*") if p.is_file()}
    data = load_run(SCHEMA_2_RUN)
    c = data.cells
    assert len(c) == len(list((SCHEMA_2_RUN / "cells").glob("*.json"))) == c["cell_id"].nunique()
    assert (c["repeat"] == 1).all() and c["block"].isna().all() and c["order"].isna().all()
    assert (c["schema"] == SCHEMA_VERSION).all() and (data.steps["repeat"] == 1).all()
    after = {p: p.read_bytes() for p in SCHEMA_2_RUN.rglob("*") if p.is_file()}
    assert after == tree  # reading changes nothing
    assert processes_to_rerun(SCHEMA_2_RUN) == []


SCHEMA_3_RUN = ROOT / "reports" / "runs" / "20261125T043336Z"  # committed, written by schema 3


def test_schema_3_ci_fields_are_read_under_their_new_names() -> None:
    """Schema 4 renamed a process's step_time_ci95_low/high_s (which held 93.75-97.9%, not 95%) to
    step_time_ci_low/high_s with step_time_ci_coverage; a schema-3 file is read under the new names, with
    the coverage its order-statistic CI had, and is never rewritten."""
    from bench.results.migrations import migrate_baseline_cell, migrate_cell
    from bench.stats import median_ci_coverage

    path = next((SCHEMA_3_RUN / "cells").glob("*/r1.json"))
    raw_bytes = path.read_bytes()
    raw = json.loads(raw_bytes)
    assert raw["schema"] == 3 and "step_time_ci95_low_s" in raw and "step_time_ci_low_s" not in raw
    new = migrate_cell(raw)
    assert new["schema"] == SCHEMA_VERSION and "step_time_ci95_low_s" not in new
    assert (new["step_time_ci_low_s"], new["step_time_ci_high_s"]) == (raw["step_time_ci95_low_s"],
                                                                       raw["step_time_ci95_high_s"])
    assert new["step_time_ci_coverage"] == median_ci_coverage(raw["n_steps"])
    assert "step_time_ci_low_s" not in raw  # the input is left alone
    c = load_run(SCHEMA_3_RUN).cells
    assert "step_time_ci95_low_s" not in c.columns and c["step_time_ci_coverage"].notna().any()
    assert path.read_bytes() == raw_bytes  # migrated on load, never rewritten
    # a file that already carries a new name under an old schema is refused, not merged
    with pytest.raises(ValueError, match="step_time_ci_low_s"):
        migrate_cell({**raw, "step_time_ci_low_s": 1.0})
    # schema 1 and 2 stored a bootstrap interval: its coverage is not known
    old = migrate_cell(json.loads(next((SCHEMA_2_RUN / "cells").glob("*.json")).read_text()))
    assert old["step_time_ci_low_s"] is not None and old["step_time_ci_coverage"] is None
    # a baseline's cell summary written before schema 4
    assert migrate_baseline_cell({"step_time_ci95_low_s": 1.0, "step_time_ci95_high_s": 2.0}) == {
        "step_time_ci_low_s": 1.0, "step_time_ci_high_s": 2.0}


def test_load_runs_concatenates_and_latest_run(tmp_path: Path) -> None:
    a = make_run(tmp_path, "20250101T000000Z")
    b = make_run(tmp_path, "20250102T000000Z")
    rs = load_runs([a, b])
    assert rs.run_ids == [a.name, b.name]
    assert sorted(rs.cells["run_id"]) == [a.name, b.name]
    assert len(rs.steps) == 6
    assert latest_run(tmp_path) == b
    assert latest_run(tmp_path / "nothing") is None
    assert load_runs([]).cells.empty


def test_create_run_refuses_existing_run(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    with pytest.raises(BenchError, match="already holds a run"):
        create_run(run, RunSettings(), [], "quick", [])


@pytest.mark.parametrize(
    ("relpath", "content"),
    [
        ("cells/{cid}/r1.json", '{"cell_id": "x", "model": '),  # truncated
        ("cells/{cid}/r1.json", '{"status": "ok"}'),  # hand-edited: cell fields missing
        ("cells/{cid}/r1.json", None),  # unknown status
        ("run.json", "{not json"),
        ("environment.json", ""),
        ("steps/{cid}/r1.jsonl", '{"cell_id": "x", "step": 0}\n{"cell_id": "x", "st'),
    ],
)
def test_corrupt_files_raise_bench_error_naming_the_file(tmp_path: Path, relpath: str,
                                                         content: str | None) -> None:
    run = make_run(tmp_path)
    path = run / relpath.format(cid=CELL.cell_id)
    if content is None:
        d = json.loads(path.read_text())
        d["status"] = "great"
        content = json.dumps(d)
    path.write_text(content)
    with pytest.raises(BenchError) as e:
        load_run(run)
    assert str(path) in str(e.value)
    assert "\n" not in str(e.value)


def test_load_run_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="no such run directory"):
        load_run(tmp_path / "missing")
    with pytest.raises(BenchError, match="not a run directory"):
        load_run(tmp_path)


def test_cell_id_round_trip_and_rerun_selection(tmp_path: Path) -> None:
    assert parse_cell_id(CELL2.cell_id) == CELL2
    with pytest.raises(BenchError):
        parse_cell_id("a__b")
    run = make_run(tmp_path)
    assert processes_to_rerun(run) == [Slot(CELL2)]  # missing
    write_cell_result(run, CellResult(cell=CELL2, status="timeout", reason="slow"))
    assert processes_to_rerun(run) == [Slot(CELL2)]  # timed out
    write_cell_result(run, CellResult(cell=CELL2, status="skipped", reason="no"))
    assert processes_to_rerun(run) == []


def test_processes_to_rerun_follow_the_schedule(tmp_path: Path) -> None:
    """Per process: only the missing or failed processes, in the run's order."""
    schedule = build_schedule([CELL, CELL2], 3, seed=1)
    run = create_run(tmp_path / "run", RunSettings(repeats=3), ["all"], "quick", [CELL, CELL2],
                           schedule=schedule, schedule_seed=1)
    meta = read_run_meta(run)
    assert meta["repeats"] == 3 and meta["schedule_seed"] == 1 and len(meta["schedule"]) == 6
    assert processes_to_rerun(run) == schedule
    for i, slot in enumerate(schedule):
        status = "failed" if i in (1, 4) else "ok"
        write_cell_result(run, CellResult(cell=slot.cell, status=status, repeat=slot.repeat,
                                                block=slot.block, order=slot.order))
    assert processes_to_rerun(run) == [schedule[1], schedule[4]]
    data = load_run(run)
    assert len(data.cells) == 6 and sorted(data.cells["order"].astype(int)) == list(range(6))
    # One row per process: the planned cells in order, each cell's processes by repeat.
    assert list(zip(data.cells["cell_id"], data.cells["repeat"], strict=True)) == [
        (c.cell_id, r) for c in (CELL, CELL2) for r in (1, 2, 3)]
    assert cell_result_path(run, CELL.cell_id, 3).is_file()


def test_store_imports_no_pandas_until_loading() -> None:
    code = "import sys, bench.results.write; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ})
    assert out.stdout.strip() == "False", out.stderr
