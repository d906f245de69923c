"""``bench gate --confirm N``: flagged cells re-run in fresh processes (the fake worker) before failing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orch_helpers import fakes, set_plan, started  # noqa: F401 (fixture)
from report_fixtures import gate_markdown, table_row

from bench.cli import main
from bench.results.paths import run_file

SMALL = ["all", "--models", "dcgan-mnist", "--frameworks", "torch", "--devices", "cpu",
         "--precisions", "fp32", "--modes", "eager", "compile", "--variants", "default", "--no-report",
         "--steps", "5", "--warmup", "1", "--window-steps", "2", "--repeats", "2"]
EAGER = "dcgan-mnist__torch__eager__cpu__fp32__b64__default"


def _history_and_candidate(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    for name in ("a", "b"):
        assert main([*SMALL, "--out", str(tmp / "runs" / name)]) == 0
    assert main(["baseline", "save", "--name", "base", "--dir", str(tmp / "bl"),
                 "--run", str(tmp / "runs" / "a"), "--run", str(tmp / "runs" / "b")]) == 0
    set_plan(monkeypatch, {"eager": "slow1.5"})
    assert main([*SMALL, "--out", str(tmp / "runs" / "c")]) == 0
    return tmp / "bl" / "base.json", tmp / "runs" / "c"




def test_a_regression_that_does_not_reproduce_passes(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    base, run = _history_and_candidate(fakes, monkeypatch)
    assert gate_markdown(fakes, base, run)[0] == 1  # without confirmation: a regression
    monkeypatch.delenv("ORCH_FAKE_PLAN")  # the slowdown was transient
    before = len(started(fakes))
    code, md = gate_markdown(fakes, base, run, "--confirm", "2", "--confirm-dir", str(fakes / "conf"))
    assert code == 0, md
    row = table_row(md, EAGER)
    assert "WARN (not reproduced by 2 fresh processes: first step time +50.0%, throughput -33.3%; " \
           "re-run step time +0.0%, throughput +0.0%)" in row
    assert "not reproduced: step time +50.0%" in row
    # only the flagged cell was re-run, twice, into a stored run of its own
    assert started(fakes)[before:] == [EAGER, EAGER]
    confirm_run = fakes / "conf" / "c-confirm"
    meta = json.loads(run_file(confirm_run).read_text())
    assert meta["confirms"] == "c" and meta["cells_planned"] == [EAGER] and meta["repeats"] == 2
    assert meta["settings"]["steps"] == 5  # the flagged run's settings
    assert str(confirm_run) in md


def test_a_regression_that_reproduces_fails_showing_both(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    base, run = _history_and_candidate(fakes, monkeypatch)
    code, md = gate_markdown(fakes, base, run, "--confirm", "2", "--confirm-dir", str(fakes / "conf"))
    assert code == 1, md
    row = table_row(md, EAGER)
    assert "FAIL (confirmed by 2 fresh processes: first step time +50.0%, throughput -33.3%; " \
           "re-run step time +50.0%, throughput -33.3%)" in row
    assert f"gate: FAIL — 1 regression(s): {EAGER}" in capsys.readouterr().out


def test_confirm_re_runs_through_the_shared_rerun(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import bench.plan.rerun

    base, run = _history_and_candidate(fakes, monkeypatch)
    calls: list[list[str]] = []
    real = bench.plan.rerun.rerun

    def spy(cells, *args, **kw):  # type: ignore[no-untyped-def]
        calls.append([c.cell_id for c in cells])
        return real(cells, *args, **kw)

    monkeypatch.setattr(bench.plan.rerun, "rerun", spy)
    gate_markdown(fakes, base, run, "--confirm", "2", "--confirm-dir", str(fakes / "conf"))
    assert calls == [[EAGER]]
    confirm_run = fakes / "conf" / "c-confirm"
    meta = json.loads(run_file(confirm_run).read_text())
    assert list(meta)[-3:] == ["settings_by_model", "pythons", "confirms"]  # run.json as before
    assert meta["argv"] == ["bench", "gate", "--confirm", "2"] and meta["profile"] == "quick"
    assert "pythons" not in json.loads((confirm_run / "environment.json").read_text())


def test_nothing_flagged_runs_nothing(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    base, _ = _history_and_candidate(fakes, monkeypatch)
    before = len(started(fakes))
    code, _ = gate_markdown(fakes, base, fakes / "runs" / "b", "--confirm", "3",
                            "--confirm-dir", str(fakes / "conf"))
    assert code == 0 and len(started(fakes)) == before and not (fakes / "conf").exists()


def test_bad_confirm_values_exit_2(fakes: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main(["gate", "--confirm", "-1"]) == 2
    assert main(["gate", "--confirm", "x"]) == 2
    (fakes / "file").write_text("x")
    assert main(["gate", "--confirm", "1", "--confirm-dir", str(fakes / "file")]) == 2
    err = capsys.readouterr().err
    assert "is not a directory" in err and "Traceback" not in err
