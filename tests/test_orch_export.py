"""`bench export`: a run's tidy tables as CSV (dtypes kept through dtypes.json) or Parquet (pyarrow)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from orch_helpers import fakes, set_plan  # noqa: F401 (fixture)

from bench.cell import CELL_AXES, parse_cell_id
from bench.cli import main
from bench.report.export import output_paths, read_table, tidy_tables

SMALL = ["all", "--models", "dcgan-mnist", "--frameworks", "torch", "--devices", "cpu", "--no-report",
         "--steps", "3", "--warmup", "1", "--window-steps", "2"]


@pytest.fixture
def run(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    """A run with ok, failed and skipped cells (the fake worker; torch eager fails)."""
    set_plan(monkeypatch, {"__eager__": "crash"})
    assert main([*SMALL, "--out", "run"]) == 1
    return fakes / "run"


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def test_tables_have_proper_dtypes_and_steps_carry_the_axes(run: Path) -> None:
    tables = tidy_tables(run)
    cells, steps = tables["cells"], tables["steps"]
    assert set(cells["status"]) == {"ok", "failed", "skipped"}
    for col in ("started_at", "finished_at"):
        assert isinstance(cells[col].dtype, pd.DatetimeTZDtype) and str(cells[col].dt.tz) == "UTC"
        assert cells[col].notna().all()
    for col in ("batch_size", "n_steps", "window_steps", "peak_rss_bytes", "settings.steps", "schema"):
        assert str(cells[col].dtype) == "Int64", col
    assert cells["peak_rss_bytes"].isna().all()  # nullable: missing stays missing, not NaN floats
    assert str(cells["step_time_median_s"].dtype) == "float64"
    assert str(cells["status"].dtype) == "string" and cells["reason"].isna().any()
    assert "settings" not in cells and "final_losses" not in cells and "final_losses.g" in cells
    assert str(steps["step"].dtype) == "Int64" and str(steps["batch_size"].dtype) == "Int64"
    assert list(steps.columns[:2 + len(CELL_AXES)]) == ["run_id", "cell_id", *CELL_AXES]
    for row in steps.drop_duplicates("cell_id").itertuples(index=False):
        cell = parse_cell_id(row.cell_id)
        assert tuple(getattr(row, a) for a in CELL_AXES) == cell.key()
    assert "losses.g" in steps and "losses" not in steps
    # one row per process in cells, one per cell in cell_summaries
    summaries = tables["cell_summaries"]
    assert len(cells) == len(cells.drop_duplicates(["cell_id", "repeat"]))
    assert len(summaries) == cells["cell_id"].nunique() and summaries["cell_id"].is_unique
    assert str(summaries["n_ok"].dtype) == "Int64" and str(summaries["step_time_median_s"].dtype) == "float64"
    assert str(summaries["step_time_ci_coverage"].dtype) == "float64"


def test_csv_export_round_trips_its_dtypes(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run.parent / "exports"
    out.mkdir()
    before = _files(run)
    assert main(["export", "--run", str(run), "--format", "csv", "--out", str(out)]) == 0
    assert "cells.csv" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["cell_summaries.csv", "cells.csv", "dtypes.json",
                                                     "steps.csv"]
    assert _files(run) == before  # the run it reads is left alone
    tables = tidy_tables(run)
    for name in ("cells", "cell_summaries", "steps"):
        back = read_table(out / f"{name}.csv")
        pd.testing.assert_frame_equal(back, tables[name])


def test_export_to_a_prefix(run: Path) -> None:
    assert main(["export", "--run", str(run), "--out", str(run.parent / "ex" / "run1")]) == 0
    paths = output_paths(run.parent / "ex" / "run1", "csv")
    assert paths["cells"] == run.parent / "ex" / "run1-cells.csv" and paths["steps"].exists()
    assert len(read_table(paths["steps"])) == len(tidy_tables(run)["steps"])


def test_parquet_without_pyarrow_is_one_line_exit_2(run: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow → ImportError
    before = _files(run.parent)
    assert main(["export", "--run", str(run), "--format", "parquet", "--out", str(run.parent / "pq")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "pip install pyarrow" in err
    assert _files(run.parent) == before


def test_parquet_round_trip(run: Path) -> None:
    pytest.importorskip("pyarrow")
    out = str(run.parent / "pq") + "/"
    assert main(["export", "--run", str(run), "--format", "parquet", "--out", out]) == 0
    tables = tidy_tables(run)
    for name in ("cells", "cell_summaries", "steps"):
        pd.testing.assert_frame_equal(read_table(run.parent / "pq" / f"{name}.parquet"), tables[name])


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "run/x"], "inside the run directory"),
    (["--out", "exports", "--format", "xml"], "invalid choice: 'xml'"),
    (["--out", "afile/x"], "afile is a file, not a directory"),
])
def test_bad_export_input(run: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                          message: str) -> None:
    (run.parent / "afile").write_text("x")
    before = _files(run.parent)
    assert main(["export", "--run", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert _files(run.parent) == before


def test_export_pytest_benchmark_still_works(run: Path) -> None:
    import json

    out = run.parent / "pb" / "bench.json"
    assert main(["export-pytest-benchmark", "--run", str(run), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["benchmarks"]
