"""scripts/gate_calibration.py on fixture runs: it must count false alarms and detections correctly."""

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


def test_calibration_counts_false_alarms_and_detections(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "a", standard_cells(salt=0), run_id="a")
    b = write_run(tmp_path / "b", standard_cells(salt=1), run_id="b")
    slow = {cell_id(mode="compile"): 1.3, cell_id(): 1.3}
    s = write_run(tmp_path / "s", standard_cells(salt=2, scale=slow), run_id="s")
    out = tmp_path / "cal.md"
    assert _load().main(["--unchanged", str(a), str(b), "--slowed", str(s), "--out", str(out)]) == 0
    md = out.read_text(encoding="utf-8")
    false_alarms, detection = md.split("## Detection")
    # 6 ok cells per run, 2 ordered A/A pairs: 12 comparisons, none flagged
    assert "| U test AND CIs apart (gate) | 0/12 (0%) | 0/12 (0%) | 0/12 (0%) |" in false_alarms
    # 2 of 6 cells slowed by 30%, against 2 unchanged runs: 4 of 12 flagged at every threshold
    assert "| U test AND CIs apart (gate) | 4/12 (33%) | 4/12 (33%) | 4/12 (33%) |" in detection
    assert f"| {cell_id(mode='compile')} | +3" in detection
    assert _load().main(["--unchanged", str(a)]) == 2
