"""The gate's command line: thresholds that cannot be misread, outputs that cannot fail late."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_fixtures import standard_cells, write_run

from bench.cli import main
from bench.gate.baseline import save_baseline


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    base = save_baseline(write_run(tmp_path / "runs" / "A", standard_cells(salt=0)), "b", tmp_path / "bl")
    return base, write_run(tmp_path / "runs" / "B", standard_cells(salt=1))


@pytest.mark.parametrize("value", ["10%", "0.10", "0.1"])
def test_ten_percent_spelled_either_way(tmp_path: Path, pair: tuple[Path, Path], value: str) -> None:
    base, run = pair
    out = tmp_path / "g.md"
    assert main(["gate", "--baseline", str(base), "--run", str(run), "--output", str(out),
                 "--step-time", value]) == 0
    assert "step time +10%," in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("value", "message"), [
    ("10", "'10' is ambiguous: write 10% for a 10 percent change, or 0.1"),
    ("1", "'1' is ambiguous"),
    ("ten", "not a fraction or percentage: 'ten'"),
    ("0", "must be a positive fraction or percentage"),
    ("0%", "must be a positive fraction or percentage"),
])
def test_bad_thresholds_are_one_line_exit_2(pair: tuple[Path, Path], capsys, value: str,
                                            message: str) -> None:
    base, run = pair
    assert main(["gate", "--baseline", str(base), "--run", str(run), "--throughput", value]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_unwritable_outputs_exit_2_before_anything_is_compared(tmp_path: Path, pair: tuple[Path, Path],
                                                               capsys) -> None:
    base, run = pair
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for args in (["gate", "--baseline", str(base), "--run", str(run), "--output", str(blocker / "gate.md")],
                 ["gate", "--baseline", str(base), "--run", str(run), "--output", str(tmp_path)],
                 ["baseline", "save", "--run", str(run), "--dir", str(blocker)],
                 ["baseline", "save", "--run", str(run), "--dir", str(blocker / "sub")]):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_exit_codes_pass_regression_usage(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    base, run = pair
    out = str(tmp_path / "g.md")
    assert main(["gate", "--baseline", str(base), "--run", str(run), "--output", out]) == 0
    slow = write_run(tmp_path / "runs" / "S", standard_cells(
        salt=1, scale={c.cell.cell_id: 1.5 for c in standard_cells()}))
    assert main(["gate", "--baseline", str(base), "--run", str(slow), "--output", out]) == 1
    missing = str(tmp_path / "missing.json")
    assert main(["gate", "--baseline", missing, "--run", str(run), "--output", out]) == 2


@pytest.mark.parametrize(("line", "expected"), [
    ('step_time = 0.2', 0.2),
    ('step_time = "20%"', 0.2),
    ('step_time = "0.2"', 0.2),
])
def test_pyproject_thresholds_take_fractions_and_percentages(tmp_path: Path, line: str,
                                                              expected: float) -> None:
    from bench.gate import load_config

    toml = tmp_path / "pyproject.toml"
    toml.write_text(f"[tool.framebench.gate]\n{line}\n", encoding="utf-8")
    assert load_config(toml)["step_time"] == pytest.approx(expected)


@pytest.mark.parametrize(("line", "message"), [
    ("throughput = 10", "gate setting 'throughput': '10' is ambiguous: write 10% for a 10 percent change"),
    ("throughput = 1.0", "'1.0' is ambiguous"),
    ("throughput = 0", "must be a positive fraction or percentage"),
    ('throughput = "ten"', "not a fraction or percentage: 'ten'"),
    ("throughput = true", "must be a fraction such as 0.1"),
])
def test_pyproject_thresholds_refuse_what_the_command_line_refuses(
        tmp_path: Path, pair: tuple[Path, Path], capsys, line: str, message: str) -> None:
    base, run = pair
    toml = tmp_path / "pyproject.toml"
    toml.write_text(f"[tool.framebench.gate]\n{line}\n", encoding="utf-8")
    assert main(["gate", "--baseline", str(base), "--run", str(run), "--config", str(toml)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(toml) in err and err.count("\n") == 1
