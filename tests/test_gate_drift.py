"""The stored-history gate across days: the drift rule (a uniform shift confirmed by the machine's own
canary passes, a cell far beyond it fails, no canary no drift) and the day-one prior of a one-run
baseline, on synthetic checks and on the committed calibration runs."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from bench.gate import DEFAULTS
from bench.gate.drift import apply_drift, canary_change, find_drift
from bench.gate.rules import CellVerdict, decide
from bench.gate.single_run import Check

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = ROOT / "reports" / "calibration" / "gate-history"


def _verdicts(changes: list[float], noise: float = 0.04) -> list[CellVerdict]:
    from scipy.stats import t as student_t

    out = []
    for i, ch in enumerate(changes):
        c = Check("step_time", 1.0, 1.0 + ch, ch, noise=noise, df=5.0, basis="history of 3 runs")
        c.p = float(student_t.sf(math.log1p(ch) / math.log1p(noise), 5.0))
        c.exceeded = ch > DEFAULTS["step_time"]
        v = CellVerdict(f"cell{i}", "ok", "ok")
        v.checks["step_time"] = c
        out.append(v)
    return out


def test_a_uniform_shift_confirmed_by_the_canary_passes_and_a_cell_beyond_it_fails() -> None:
    changes = [0.30, 0.28, 0.33, 0.31, 0.29, 0.32, 0.30, 0.95]  # the last: far beyond the shift
    verdicts = _verdicts(changes)
    drifts = apply_drift(verdicts, DEFAULTS, canary=-0.22)  # the machine's own peak fell 22%
    decide(verdicts, DEFAULTS)
    assert len(drifts) == 1 and drifts[0].applied
    assert drifts[0].text().startswith("machine drift: 8 of 8 cells slower, median +30%")
    assert [v.verdict for v in verdicts] == ["pass"] * 7 + ["fail"]
    assert "beyond the run-wide shift of +30%" in verdicts[-1].reasons[0]


def test_without_the_canary_a_uniform_slowdown_stays_a_regression() -> None:
    for canary in (None, 0.01):  # not measured; or the machine's peak did not move: the code did
        verdicts = _verdicts([0.30, 0.28, 0.33, 0.31, 0.29, 0.32])
        drifts = apply_drift(verdicts, DEFAULTS, canary=canary)
        decide(verdicts, DEFAULTS)
        assert len(drifts) == 1 and not drifts[0].applied and "not read as machine drift" in drifts[0].text()
        assert all(v.verdict == "fail" for v in verdicts)


def test_no_drift_when_cells_disagree_or_few_moved() -> None:
    mixed = [Check("step_time", 1, 1, ch) for ch in (0.30, -0.05, 0.02, 0.35, 0.01, -0.02)]
    assert find_drift("step_time", mixed, 0.10, canary=-0.3) is None
    spread = [Check("step_time", 1, 1, ch) for ch in (0.06, 0.9, 0.3, 0.07, 0.6, 0.15)]
    assert find_drift("step_time", spread, 0.10, canary=-0.3) is None
    few = [Check("step_time", 1, 1, 0.3) for _ in range(4)]
    assert find_drift("step_time", few, 0.10, canary=-0.3) is None
    assert apply_drift(_verdicts([0.3] * 6), {**DEFAULTS, "drift": "off"}, canary=-0.3) == []


def test_canary_change_ignores_what_is_not_a_positive_number() -> None:
    baseline = {"runs": [{"canary": {"peak_flops": 100.0}}, {"canary": {"peak_flops": "x"}},
                         {"canary": [1]}, {"canary": {"peak_flops": 400.0}}]}
    assert canary_change(baseline, {"peak_flops": 150.0}) == pytest.approx(150 / 200 - 1)
    assert canary_change(baseline, None) is None and canary_change({"runs": []}, {"peak_flops": 1.0}) is None


def _days():
    spec = importlib.util.spec_from_file_location("gate_calibration_days",
                                                  ROOT / "scripts" / "gate_calibration_days.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gate_calibration_days", mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not (ROOT / "reports" / "calibration" / "cross-day").is_dir(), reason="no cross-day run")
def test_the_12_07_run_passes_against_the_november_runs_with_the_drift_rule() -> None:
    from bench.gate import load_config

    days = _days()
    cfg = load_config(ROOT / "pyproject.toml")
    (_, _, dec), (e_nov, e_rerun, _), (_, _, cells) = days._load([*days.NOVEMBER_RUNS, days.CROSS_DAY_RUN])
    plain = days._gate([e_nov, e_rerun], dec, cells, {**cfg, "drift": "off"})
    res = days._gate([e_nov, e_rerun], dec, cells, cfg)
    assert len(plain.failed) >= 10 and res.failed == []
    assert res.drifts[0].applied and res.drifts[0].moved == res.drifts[0].cells == 21


@pytest.mark.skipif(not CALIBRATION.is_dir(), reason="no calibration runs")
def test_day_one_prior_on_the_calibration_runs() -> None:
    """Every one-run-baseline A/A decision among the committed calibration runs passes with the
    prior; a 20% slowdown is still caught."""
    from bench.gate import load_config

    days = _days()
    cfg = load_config(ROOT / "pyproject.toml")
    unchanged = sorted(CALIBRATION.glob("*-unchanged"))
    slow = sorted(CALIBRATION.glob("*-slow20"))
    runs, entries, cells = days._load([*unchanged, *slow])
    n = len(unchanged)
    false_alarms = caught = decisions = 0
    for i in range(len(runs)):
        for b in range(n):
            if b == i:
                continue
            res = days._gate([entries[b]], runs[i], cells[i], cfg)
            if i < n:
                false_alarms += bool(res.failed)
            else:
                decisions += 1
                caught += bool(res.failed)
    assert n == 12 and false_alarms == 0  # of 132 A/A decisions
    assert decisions == 72 and caught >= 0.75 * decisions
