"""Issue 11, inputs: every bad input is one line and exit 2, checked before anything runs or is written;
nothing outside --out is touched; --dry-run, --version and the profile defaults in --help."""

from __future__ import annotations

import errno
import json
import struct
from pathlib import Path

import pytest
from orch_helpers import fakes, results_by_cell, run_cli, started  # noqa: F401 (fixture)

from bench.cli import main
from bench.commands import build_parser
from bench.errors import BenchError
from bench.plan import orchestrate
from bench.results.load import read_process_results
from bench.results.paths import DEFAULT_RUNS_ROOT, cell_result_path, run_file

SMALL = ["all", "--models", "dcgan-mnist", "--frameworks", "torch", "--modes", "eager", "--devices", "cpu",
         "--precisions", "fp32", "--variants", "default", "--no-report", "--steps", "2", "--warmup", "0",
         "--window-steps", "0", "--repeats", "1"]


def results_by_cell_repeat(run: Path, repeat: int) -> dict[str, object]:
    return {cid: r for (cid, k), r in read_process_results(run).items() if k == repeat}


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def _mnist_idx(path: Path, n: int = 8) -> Path:
    """A valid (tiny) MNIST IDX images file: 28x28 unsigned bytes."""
    path.write_bytes(b"\0\0\x08\x03" + struct.pack(">3I", n, 28, 28) + bytes(range(256)) * (n * 784 // 256)
                     + bytes(n * 784 % 256))
    return path


def _one_error_line(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def junk(fakes: Path) -> Path:  # noqa: F811
    (fakes / "afile").write_text("a file, not a directory\n")
    (fakes / "adir").mkdir()
    (fakes / "junk.idx").write_bytes(b"not an image file at all")
    (fakes / "truncated.idx").write_bytes(_mnist_idx(fakes / "t.idx").read_bytes()[:-100])
    (fakes / "t.idx").unlink()
    (fakes / "empty.npz").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip archive
    _mnist_idx(fakes / "mnist.idx")
    return fakes


# The first list of issue 11, as far as inputs go; each was a traceback, exit 1 or a silent run before.
BAD_RUNS: list[tuple[list[str], str]] = [
    ([*SMALL, "--out", "afile/run"], "afile is a file, not a directory"),
    ([*SMALL, "--out", "afile"], "--out afile: exists and is not a directory"),
    ([*SMALL, "--batch-size", "0"], "--batch-size: must be at least 1 (got 0)"),
    ([*SMALL, "--batch-size", "-4"], "--batch-size: must be at least 1 (got -4)"),
    (["run", "--model", "dcgan-mnist", "--framework", "torch", "--mode", "eager", "--batch-size", "0"],
     "--batch-size: must be at least 1"),
    (["all", "--models", ",", "--no-report"], "--models: empty list"),
    (["all", "--models", "", "--no-report"], "--models: empty list"),
    (["all", "--frameworks", " , ", "--no-report"], "--frameworks: empty list"),
    ([*SMALL, "--data", "adir"], "--data adir: is a directory"),
    ([*SMALL, "--data", "junk.idx"], "junk.idx: not an IDX"),
    ([*SMALL, "--data", "truncated.idx"], "truncated.idx: IDX header says"),
    ([*SMALL, "--data", "empty.npz"], "empty.npz: npz lacks x_train"),
    (["all", "--data", "junk.idx", "--no-report"], "junk.idx: not an IDX"),  # every model selected
    # MNIST is fine, but not for every selected model: refused up front, naming the models it fits.
    (["all", "--models", "dcgan-mnist,dcgan-64", "--data", "mnist.idx", "--no-report"],
     "does not fit dcgan-64"),
    ([*SMALL, "--steps", "0"], "--steps: must be at least 1 (got 0)"),
    ([*SMALL, "--warmup", "-1"], "--warmup: must be at least 0"),
    ([*SMALL, "--window-steps", "-1"], "--window-steps: must be at least 0"),
    ([*SMALL, "--threads", "0"], "--threads: must be at least 1"),
    ([*SMALL, "--seed", "-1"], "--seed: must be at least 0"),
    ([*SMALL, "--time-limit", "0"], "--time-limit: must be positive"),
    ([*SMALL, "--time-limit", "nan"], "--time-limit: must be a finite number"),
    ([*SMALL, "--steps", "many"], "--steps: expected an integer, got 'many'"),
    ([*SMALL, "--no-such-option"], "unrecognized arguments: --no-such-option"),
]


@pytest.mark.parametrize(("args", "message"), BAD_RUNS, ids=[" ".join(a[len(SMALL) - 1:]) if a[:len(SMALL)] ==
                                                              SMALL else " ".join(a) for a, _ in BAD_RUNS])
def test_bad_run_input_is_one_line_exit_2_before_any_worker(junk: Path, capsys: pytest.CaptureFixture[str],
                                                            args: list[str], message: str) -> None:
    before = _files(junk)
    assert main(args) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert message in err, err
    assert started(junk) == []  # the fake worker logs every start: none
    assert _files(junk) == before  # nothing written anywhere


def test_data_that_fits_only_some_models_names_those_it_fits(junk: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from models.registry import model_names

    assert main(["all", "--data", "mnist.idx", "--no-report"]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "dcgan-64" in err and "it fits dcgan-mnist" in err and "--models dcgan-mnist" in err
    fits = err.split("it fits ")[1].split(":")[0].split(", ")
    assert set(fits) < set(model_names())
    # With only the models it fits, the same file runs (checked once, then the cells start).
    assert main([*SMALL, "--data", "mnist.idx"]) == 0
    assert started(junk) == ["dcgan-mnist__torch__eager__cpu__fp32__b64__default"]  # the quick CPU batch


def test_report_out_an_existing_file_is_refused(junk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--out", "run"]) == 0
    capsys.readouterr()
    before = (junk / "afile").read_text()
    assert main(["report", "--runs", "run", "--out", "afile"]) == 2
    assert "--out afile: exists and is not a directory" in _one_error_line(capsys.readouterr().err)
    assert (junk / "afile").read_text() == before


@pytest.mark.parametrize(("args", "message"), [
    (["gate", "--output", "adir"], "--output adir: is a directory; give a file name"),
    (["gate", "--output", "afile/verdict.md"], "afile is a file, not a directory"),
    (["gate", "--step-time", "10"], "write 10% for a 10 percent change, or 0.1"),
    (["gate", "--memory", "1"], "write 1% for a 1 percent change, or 0.01"),
    (["gate", "--step-time", "fast"], "not a fraction or percentage: 'fast'"),
    (["gate", "--step-time=-5%"], "must be a positive fraction or percentage"),
    (["gate", "--alpha", "2"], "--alpha: must lie strictly between 0 and 1"),
    (["gate", "--compile-time-floor", "-1"], "--compile-time-floor: must not be negative"),
    (["export-pytest-benchmark", "--out", "adir"], "--out adir: is a directory"),
    (["baseline", "save", "--dir", "afile"], "--dir afile: exists and is not a directory"),
    (["report", "--runs", "no/such/run"], "no such run directory"),
])
def test_bad_report_and_gate_input_is_one_line_exit_2(junk: Path, capsys: pytest.CaptureFixture[str],
                                                      args: list[str], message: str) -> None:
    before = _files(junk)
    assert main(args) == 2  # never 1: CI reads 1 from the gate as "a regression"
    assert message in _one_error_line(capsys.readouterr().err)
    assert _files(junk) == before


def test_gate_thresholds_still_take_percentages_and_fractions() -> None:
    parser = build_parser()
    assert parser.parse_args(["gate", "--step-time", "10%"]).step_time == pytest.approx(0.10)
    assert parser.parse_args(["gate", "--step-time", "0.10"]).step_time == pytest.approx(0.10)
    assert parser.parse_args(["gate", "--memory", "150%"]).memory == pytest.approx(1.5)


@pytest.mark.parametrize(("exc", "message"), [
    (PermissionError(errno.EACCES, "Permission denied", "/srv/results/run.json"),
     "error: /srv/results/run.json: Permission denied"),
    (OSError(errno.ENOSPC, "No space left on device"), "error: No space left on device"),
    (BenchError("two\nlines"), "error: two lines"),
])
def test_one_error_path_for_every_command(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                          capsys: pytest.CaptureFixture[str], exc: Exception,
                                          message: str) -> None:
    from bench.commands import report

    def failing(args: object) -> int:
        raise exc

    monkeypatch.setattr(report, "run", failing)
    assert main(["report"]) == 2
    assert _one_error_line(capsys.readouterr().err).rstrip("\n") == message


def test_a_validation_error_is_one_line_exit_2(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pydantic = pytest.importorskip("pydantic")
    from bench.commands import report

    class Stored(pydantic.BaseModel):
        batch_size: int

    def failing(args: object) -> int:
        Stored.model_validate({"batch_size": "big"})
        return 0

    monkeypatch.setattr(report, "run", failing)
    assert main(["report"]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert "batch_size" in err


def test_a_bug_is_a_traceback_and_exit_3_never_1(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from bench.commands import report

    def failing(args: object) -> int:
        raise KeyError("oops")

    monkeypatch.setattr(report, "run", failing)
    assert main(["report"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error (KeyError)" in err


# --------------------------------------------------------------------------- nothing outside --out


def test_a_run_with_out_writes_only_inside_out(fakes: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """Before: `all --out runs/x` wrote README.md, <model>.md and figures/ into runs/.. (here: the cwd)."""
    (fakes / "started.log").touch()
    before = _files(fakes)
    assert main([*SMALL[:-9], "--steps", "2", "--warmup", "0", "--window-steps", "0", "--repeats", "1",
                 "--out", "runs/x"]) == 0
    out = capsys.readouterr().out
    new = _files(fakes) - before
    assert new and all(p.parts[:2] == ("runs", "x") or p == Path("runs") for p in new), sorted(map(str, new))
    assert (fakes / "runs" / "x" / orchestrate.REPORT_SUBDIR / "README.md").exists()
    assert "front page: runs/x/report/README.md" in out


def test_reports_of_a_run_in_the_default_place_go_to_reports(tmp_path: Path) -> None:
    default_run = DEFAULT_RUNS_ROOT / "20261123T160000Z"
    assert orchestrate.report_out_dir(default_run) == DEFAULT_RUNS_ROOT.parent
    assert orchestrate.report_out_dir(tmp_path / "runs" / "x") == tmp_path / "runs" / "x" / "report"
    assert orchestrate.report_out_dir(tmp_path / "x", tmp_path / "r") == tmp_path / "r"
    assert orchestrate.report_dir_for(orchestrate.RunRequest(), default_run) is None
    given = orchestrate.RunRequest(out=tmp_path / "x")
    assert orchestrate.report_dir_for(given, tmp_path / "x") == tmp_path / "x" / "report"


# --------------------------------------------------------------------------- conveniences


def test_dry_run_lists_the_plan_with_estimates_and_writes_nothing(fakes: Path,  # noqa: F811
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    before = _files(fakes)
    assert main(["all", "--dry-run", "--models", "dcgan-mnist", "--frameworks", "torch"]) == 0
    out = capsys.readouterr().out
    assert _files(fakes) == before and started(fakes) == []
    lines = out.splitlines()
    head, total = lines[0], next(line for line in lines if line.startswith("estimated total"))
    cells = [line for line in lines if line.startswith("  dcgan-mnist__")]
    # What the plan covers, per framework and device; where the estimates come from.
    assert "covers:" in lines and "  torch on cpu, 1 model(s): eager fp32" in out
    assert lines[-1].startswith("start-up and compile times from ")
    runs = [c for c in cells if "  run x3  " in c]
    skips = [c for c in cells if "  skip  " in c]
    processes = 3 * len(runs)  # the profile's 3 processes per cell
    assert f"{len(runs)} cell(s) to run in {processes} process(es) (3 per cell" in head
    assert f"{len(skips)} skipped" in head
    assert all("  run x3  ~" in c for c in runs)
    assert len(runs) + len(skips) == len(cells)
    assert any("__eager__cpu__" in c for c in runs)
    assert all(c.rstrip().split()[-1].startswith("~") for c in runs)
    assert any(c.endswith("needs CUDA") for c in skips) and any("no CUDA device" in c for c in skips)
    assert total.startswith("estimated total: ~") and f"for {processes} process(es)" in total
    assert "nothing was run or written" in total
    # A dry run still checks its input first.
    assert main(["all", "--dry-run", "--batch-size", "0"]) == 2


def test_dry_run_of_a_resume_lists_the_processes_to_rerun(fakes: Path,  # noqa: F811
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL[:-2], "--repeats", "2", "--modes", "eager,compile", "--out", "run"]) == 0
    lost = next(iter(results_by_cell_repeat(fakes / "run", 2)))
    cell_result_path(fakes / "run", lost, 2).unlink()
    (fakes / "started.log").unlink()
    capsys.readouterr()
    before = _files(fakes)
    assert main(["all", "--dry-run", "--resume", "--out", "run"]) == 0
    out = capsys.readouterr().out
    assert "would re-run 1 process(es)" in out and f"{lost} r2  run  ~" in out
    assert _files(fakes) == before and started(fakes) == []


def test_version(tmp_path: Path) -> None:
    from bench.commands import version

    p = run_cli(["--version"], tmp_path)
    assert p.returncode == 0 and p.stdout.strip() == f"framebench {version()}"
    assert version()[0].isdigit()


def test_help_shows_the_profile_defaults(tmp_path: Path) -> None:
    from bench.plan.profiles import PROFILE_DEFS

    for command in ("all", "run"):
        text = " ".join(run_cli([command, "--help"], tmp_path).stdout.split())
        assert "profile defaults per model" in text
        for prof in PROFILE_DEFS.values():
            counts = prof.step_counts("dcgan-mnist")
            assert f"1 + {counts.warmup} / {counts.steps} / {counts.window_steps}" in text
            assert f"time limit {prof.time_limit_s:g} s" in text


def test_stored_settings_of_the_run_record_the_checked_values(fakes: Path) -> None:  # noqa: F811
    assert main([*SMALL, "--batch-size", "3", "--threads", "1", "--time-limit", "30", "--out", "run"]) == 0
    meta = json.loads(run_file(fakes / "run").read_text())
    assert meta["settings"]["intra_op_threads"] == 1 and meta["settings"]["time_limit_s"] == 30
    (r,) = results_by_cell(fakes / "run").values()
    assert r.cell.batch_size == 3
