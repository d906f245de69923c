"""scripts/gate_calibration.py evaluate on fixture runs: it must count false alarms and detections."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from report_fixtures import cell_id, standard_cells, write_run

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gate_calibration.py"


def _load():
    spec = importlib.util.spec_from_file_location("gate_calibration", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(d: Path, name: str, n: int, factor: float = 1.0) -> None:
    scale = {c.cell.cell_id: factor for c in standard_cells()}
    write_run(d / name, standard_cells(salt=n, scale=scale), run_id=name, repeats=3, between_cv=0.02,
              created_at=f"2025-01-01T00:{n:02d}:00Z")


def test_evaluate_counts_false_alarms_and_detections(tmp_path: Path, capsys) -> None:
    d = tmp_path / "gate-history"
    plan = [(1, "unchanged", 1.0), (2, "slow20", 1.3), (3, "unchanged", 1.0), (4, "slow10", 1.1)]
    plan += [(n, "unchanged", 1.0) for n in range(5, 10)]
    for n, kind, factor in plan:
        _write(d, f"{n:02d}-{kind}", n, factor)
    mod = _load()
    assert [len(h) for h in mod.histories_for(1, [(n, d / str(n)) for n in (1, 3, 5, 6, 7, 8, 9)], 5)] == [5]
    out = tmp_path / "cal.md"
    assert mod.main(["evaluate", "--dir", str(d), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    md = out.read_text(encoding="utf-8")
    # 7 unchanged runs: one history of 5 others each (not enough for a second): 7 decisions, none failed
    row = "| unchanged code | 7 | 7 | 0/7 (0%) | 0/42 (0%) |"
    assert row in md and row in printed
    # the 30% slowdown is caught in every decision, on every compared ok cell
    assert "| FRAMEBENCH_INJECT_SLOWDOWN=0.2 | 1 | 1 | 1/1 (100%) | 6/6 (100%) |" in md
    assert cell_id(mode="compile") in md and "single run as the baseline" in md


def test_runs_missing_processes_are_not_used(tmp_path: Path) -> None:
    d = tmp_path / "gate-history"
    _write(d, "01-unchanged", 1)
    next(iter((d / "01-unchanged" / "cells").glob("*/r2.json"))).unlink()
    assert not _load()._complete(d / "01-unchanged")
    assert _load().main(["evaluate", "--dir", str(d), "--out", str(tmp_path / "x.md")]) == 2
