"""History baselines: several runs, between-run noise, and multiple-comparison control."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from report_fixtures import cell_id, gate_markdown, read_json, standard_cells, table_row, write_run

from bench.cli import main as cli_main
from bench.gate import DEFAULTS, load_config
from bench.gate.baseline import load_baseline, save_baseline
from bench.gate.history import Pool, pool_of, prediction_test
from bench.gate.rules import CellVerdict, decide
from bench.gate.single_run import Check
from bench.stats import adjust_p

COMPILE = cell_id(mode="compile")
EAGER = cell_id()


def _runs(tmp_path: Path, n: int, *, shifts: list[float] | None = None, prefix: str = "H") -> list[Path]:
    """n unchanged runs (3 processes a cell), each on a machine state slower or faster as a whole by
    ``shifts[i]`` (between-run drift that processes within one run do not show)."""
    out = []
    for i in range(n):
        factor = (shifts or [1.0] * n)[i]
        scale = {c.cell.cell_id: factor for c in standard_cells()}
        out.append(write_run(tmp_path / "runs" / f"{prefix}{i}", standard_cells(salt=10 + i, scale=scale),
                             run_id=f"{prefix}{i}", repeats=3, between_cv=0.01,
                             created_at=f"2025-01-0{i + 1}T00:00:00Z"))
    return out




# --------------------------------------------------------------------------- saving a history


def test_baseline_save_keeps_every_run_with_its_process_samples(tmp_path: Path, capsys) -> None:
    runs = _runs(tmp_path, 3)
    args = ["baseline", "save", "--name", "hist", "--dir", str(tmp_path / "bl")]
    assert cli_main([*args, *[a for r in runs for a in ("--run", str(r))]]) == 0
    assert "3 run(s) of history" in capsys.readouterr().out
    data = read_json(tmp_path / "bl" / "hist.json")
    assert data["schema"] == 2 and [r["run_id"] for r in data["runs"]] == ["H0", "H1", "H2"]
    c = data["runs"][1]["cells"][COMPILE]
    assert c["n_processes"] == 3 and len(c["process_medians_s"]) == 3 and len(c["samples_s"]) == 90
    assert "cells" not in data  # the newest run's view is derived on load
    loaded = load_baseline(tmp_path / "bl" / "hist.json")
    assert loaded["run_id"] == "H2" and loaded["cells"][COMPILE] == data["runs"][2]["cells"][COMPILE]


def test_append_adds_runs_once_and_keeps_the_newest(tmp_path: Path, capsys) -> None:
    runs = _runs(tmp_path, 4)
    bl = tmp_path / "bl"
    save_baseline(runs[0], "h", bl)
    replaced: list[str] = []
    save_baseline([runs[1], runs[0]], "h", bl, append=True, replaced=replaced)  # runs[0] again: kept once
    assert [r["run_id"] for r in read_json(bl / "h.json")["runs"]] == ["H0", "H1"] and replaced == ["H0"]
    save_baseline(runs[2:], "h", bl, append=True, max_runs=3)
    assert [r["run_id"] for r in read_json(bl / "h.json")["runs"]] == ["H1", "H2", "H3"]
    save_baseline(runs[3], "h", bl)  # without --append: replaced
    assert [r["run_id"] for r in read_json(bl / "h.json")["runs"]] == ["H3"]
    again = ["baseline", "save", "--name", "h", "--dir", str(bl), "--run", str(runs[3]), "--append"]
    assert cli_main(again) == 0
    assert "already there, so replaced, not added: H3" in capsys.readouterr().out


def test_a_history_refuses_runs_of_other_settings(tmp_path: Path, capsys) -> None:
    from bench.results.records import RunSettings

    a = _runs(tmp_path, 1)[0]
    other = write_run(tmp_path / "runs" / "S", standard_cells(salt=5), run_id="S",
                      settings=RunSettings(profile="quick", steps=12, warmup=2, window_steps=10, seed=0,
                                           intra_op_threads=2, repeats=1))
    args = ["baseline", "save", "--name", "h", "--dir", str(tmp_path / "bl"), "--run", str(a),
            "--run", str(other)]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "setting steps (30 vs 12)" in err
    assert cli_main([*args, "--force"]) == 0


def test_schema_1_baseline_loads_as_a_history_of_one(tmp_path: Path) -> None:
    path = save_baseline(_runs(tmp_path, 1)[0], "one", tmp_path / "bl")
    data = read_json(path)
    run = data["runs"][0]
    old = {"schema": 1, "kind": "framebench-baseline", "name": "one", "run_id": run["run_id"],
           "created_at": run["created_at"], "fingerprint": data["fingerprint"], "machine": {},
           "machine_description": "x", "settings": run["settings"], "versions": {}, "cells": run["cells"]}
    path.write_text(json.dumps(old), encoding="utf-8")
    loaded = load_baseline(path)
    assert len(loaded["runs"]) == 1 and loaded["runs"][0]["cells"] == run["cells"]
    assert gate_markdown(tmp_path, path, _runs(tmp_path, 1, prefix="N")[0])[0] == 0


# --------------------------------------------------------------------------- the between-run test


def test_prediction_test_weighs_the_history_spread() -> None:
    hist = [1.0, 1.05, 0.95, 1.02, 0.98]
    pool = pool_of([hist])
    assert pool.df == 4 and pool.variance > 0
    inside = prediction_test(hist, 1.06, pool)
    outside = prediction_test(hist, 1.30, pool)
    assert inside.p > 0.05 and outside.p < 0.001
    assert outside.change == pytest.approx(1.30 / math.exp(sum(math.log(x) for x in hist) / 5) - 1)
    faster = prediction_test(hist, 0.7, pool)
    assert faster.p > 0.99  # one-sided: faster is never a regression
    lower_is_worse = prediction_test(hist, 0.7, pool, higher_is_worse=False)
    assert lower_is_worse.p < 0.001


def test_a_cells_own_spread_is_moderated_by_the_pool() -> None:
    # two runs that happen to agree exactly: alone they would call any change significant
    lucky = [1.0, 1.0]
    alone = prediction_test(lucky, 1.03, Pool())  # no pool: its own zero spread
    assert alone.p == 0.0
    pooled = prediction_test(lucky, 1.03, pool_of([[1.0, 1.04, 0.96], [2.0, 2.1, 1.9]]))
    assert pooled.p > 0.1
    assert prediction_test([1.0], 1.5, Pool()).p is None  # one run, no pool: no spread known


def test_history_passes_between_run_drift_a_single_run_baseline_flags(tmp_path: Path) -> None:
    # the machine drifts by ±12% between runs as a whole; processes within a run agree to 1%
    runs = _runs(tmp_path, 6, shifts=[1.0, 1.12, 0.9, 1.08, 0.95, 1.13])
    one = save_baseline(runs[2], "one", tmp_path / "bl")
    hist = save_baseline(runs[:5], "hist", tmp_path / "bl")
    code_one, md_one = gate_markdown(tmp_path, one, runs[5])  # +26% vs the fast run, beyond process noise
    assert code_one == 1, md_one
    code, md = gate_markdown(tmp_path, hist, runs[5])
    assert code == 0, md
    assert "history of 5 runs" in md and "between-run noise" in md


def test_history_catches_a_real_regression_and_reports_adjusted_p(tmp_path: Path) -> None:
    runs = _runs(tmp_path, 5, shifts=[1.0, 1.03, 0.97, 1.02, 0.99])
    hist = save_baseline(runs, "hist", tmp_path / "bl")
    slow = write_run(tmp_path / "runs" / "S", standard_cells(salt=50, scale={COMPILE: 1.3}), run_id="S",
                     repeats=3, between_cv=0.01, created_at="2025-02-01T00:00:00Z")
    code, md = gate_markdown(tmp_path, hist, slow)
    assert code == 1
    row = table_row(md, COMPILE)
    assert "FAIL: step time +" in row and "history of 5 runs" in row and "q=" in row
    assert table_row(md, EAGER).endswith("| PASS |")


# --------------------------------------------------------------------------- multiple comparisons


def test_adjust_p_bh_and_holm() -> None:
    ps = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    bh = adjust_p(ps, "bh")
    holm = adjust_p(ps, "holm")
    assert bh[0] == pytest.approx(0.008) and bh[1] == pytest.approx(0.032)
    assert holm[0] == pytest.approx(0.008) and holm[1] == pytest.approx(0.056)
    assert all(h >= b for h, b in zip(holm, bh, strict=True))
    assert adjust_p(ps, "none") == ps and adjust_p([], "bh") == []


def _verdict(cid: str, p: float) -> CellVerdict:
    v = CellVerdict(cid, "ok", "ok")
    v.checks["step_time"] = Check("step_time", 1.0, 1.2, 0.2, p=p, exceeded=True, basis="processes")
    return v


def test_many_borderline_cells_are_not_all_regressions() -> None:
    """Three cells each 20% slower with p = 0.008: one test alone would flag every one at alpha 0.01;
    with 30 tests in the decision (the others clean), BH and Holm keep the family honest."""
    cfg = dict(DEFAULTS)
    alone = [_verdict("c0", 0.008)]
    decide(alone, cfg)
    assert alone[0].verdict == "fail"
    family = [_verdict(f"c{i}", 0.008) for i in range(3)] + [_verdict(f"n{i}", 0.9) for i in range(27)]
    decide(family, cfg)
    assert [v.verdict for v in family[:3]] == ["pass"] * 3
    assert family[0].checks["step_time"].q == pytest.approx(0.08)
    assert "within" in family[0].checks["step_time"].note
    strong = [_verdict("s", 1e-6)] + [_verdict(f"n{i}", 0.9) for i in range(29)]
    decide(strong, {**cfg, "correction": "holm"})
    assert strong[0].verdict == "fail"


def test_correction_is_a_gate_setting(tmp_path: Path) -> None:
    assert load_config()["correction"] == "bh"
    toml = tmp_path / "pyproject.toml"
    toml.write_text('[tool.framebench.gate]\ncorrection = "holm"\n', encoding="utf-8")
    assert load_config(tmp_path / "pyproject.toml")["correction"] == "holm"
    (tmp_path / "pyproject.toml").write_text('[tool.framebench.gate]\ncorrection = "bonferroni"\n',
                                             encoding="utf-8")
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="correction"):
        load_config(tmp_path / "pyproject.toml")
