"""The orchestration end to end with a fake worker: isolation, resume, errors, exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from orch_helpers import fake_env, fakes, results_by_cell, run_cli, set_plan, started  # noqa: F401 (fixture)

from bench.cli import main
from bench.results.find import latest_run
from bench.results.load import load_run, processes_to_rerun
from bench.results.paths import cell_result_path, log_path, run_file, work_dir

# Two cells of one model and framework, one process each, keep these runs to a few fake processes
# (tests/test_orch_replication.py runs several processes per cell).
SMALL = ["all", "--models", "dcgan-mnist", "--frameworks", "torch", "--devices", "cpu",
         "--precisions", "fp32", "--variants", "default", "--no-report",
         "--steps", "3", "--warmup", "1", "--window-steps", "2", "--repeats", "1"]


def run_dir_of(tmp_path: Path) -> Path:
    d = latest_run(tmp_path / "reports" / "runs")
    assert d is not None
    return d


def statuses(run: Path) -> dict[str, str]:
    return {cid.split("__")[2]: r.status for cid, r in results_by_cell(run).items()}


def test_crash_and_hang_do_not_stop_the_run(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                           capsys: pytest.CaptureFixture[str]) -> None:
    set_plan(monkeypatch, {"__eager__": "crash", "__compile__": "hang"})
    rc = main([*SMALL, "--frameworks", "torch,tensorflow", "--time-limit", "3"])
    out, err = capsys.readouterr()
    assert rc == 1
    run = run_dir_of(fakes)
    results = results_by_cell(run)
    by_mode = {(r.cell.framework, r.cell.mode): r for r in results.values()}
    crash = by_mode[("torch", "eager")]
    assert crash.status == "failed" and crash.reason == "RuntimeError: boom in fake worker"
    assert "boom" in crash.error_tail and crash.wall_s is not None
    hang = by_mode[("torch", "compile")]
    assert hang.status == "timeout" and "time limit of 3 s" in hang.reason
    assert "fake worker starting" in (hang.error_tail or "")
    hung_pid = int((work_dir(run, hang.cell.cell_id) / "pid").read_text())
    assert not _alive(hung_pid)
    # Cells after the failures still ran.
    assert by_mode[("tensorflow", "function")].status == "ok"
    assert by_mode[("tensorflow", "xla")].status == "ok"
    assert by_mode[("torch", "reduce-overhead")].status == "skipped"
    assert by_mode[("torch", "reduce-overhead")].reason == "needs CUDA"
    assert log_path(run, crash.cell.cell_id).read_text().count("boom") == 1
    assert "failed: " in out and "timeout: " in out and "results: " in out
    assert "[1/" in err  # progress lines
    # Compile caches do not stay in the run directory; the spec to rerun a cell by hand does.
    work = work_dir(run, crash.cell.cell_id)
    assert (work / "spec-r1.json").exists() and not (work / "inductor-cache").exists()
    data = load_run(run)
    assert set(data.steps["cell_id"]) == {r.cell.cell_id for r in results.values() if r.status == "ok"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie not yet reaped by init still "exists"; check its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(("behaviour", "status", "reason"), [
    ("oom", "oom", "MemoryError: Unable to allocate 4.00 GiB"),
    ("kill", "oom", "SIGKILL"),
    ("noresult", "failed", "without writing a result"),
    ("garbage", "failed", "unreadable result"),
])
def test_exit_without_result_is_classified(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                           behaviour: str, status: str, reason: str) -> None:
    set_plan(monkeypatch, {"__eager__": behaviour})
    rc = main([*SMALL, "--modes", "eager"])
    assert rc == 1
    (r,) = results_by_cell(run_dir_of(fakes)).values()
    assert r.status == status and reason in r.reason


def test_resume_reruns_only_missing_and_failed_cells(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    set_plan(monkeypatch, {"__compile__": "crash"})
    assert main([*SMALL, "--frameworks", "torch,tensorflow"]) == 1
    run = run_dir_of(fakes)
    first = started(fakes)
    planned = json.loads(run_file(run).read_text())["schedule"]
    assert first == [e["cell_id"] for e in planned]  # the processes ran in the schedule's order
    assert {c.split("__")[2] for c in first} == {"eager", "function", "xla", "compile"}
    # Lose one finished cell (as if the run had been killed before it).
    lost = next(c for c in first if "__function__" in c and c.endswith("__default"))
    cell_result_path(run, lost).unlink()
    (fakes / "started.log").unlink()
    set_plan(monkeypatch, {})
    capsys.readouterr()
    assert main(["all", "--resume", "--no-report"]) == 0
    rerun = started(fakes)
    assert sorted(rerun) == sorted([lost, next(c for c in first if "__compile__" in c)])
    assert set(statuses(run).values()) <= {"ok", "skipped"}
    assert len(json.loads(run_file(run).read_text())["resumed_at"]) == 1
    (fakes / "started.log").unlink()
    capsys.readouterr()
    assert main(["all", "--resume", "--no-report", "--out", str(run)]) == 0
    assert started(fakes) == []
    assert "nothing to resume" in capsys.readouterr().err


def test_resume_with_other_settings_is_refused(fakes: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main([*SMALL, "--modes", "eager"]) == 0
    run = run_dir_of(fakes)
    cell_result_path(run, next(iter(results_by_cell(run)))).unlink()
    capsys.readouterr()
    assert main(["all", "--resume", "--steps", "7", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: settings differ") and "steps 7" in err and err.count("\n") == 1
    assert main(["all", "--resume", "--steps", "3", "--no-report"]) == 0  # same value: fine


def test_resume_never_executes_an_interpreter_read_from_the_run(fakes: Path, tmp_path: Path,  # noqa: F811
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--modes", "eager"]) == 0
    run = run_dir_of(fakes)
    cell_result_path(run, next(iter(results_by_cell(run)))).unlink()
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\n")
    evil.chmod(0o755)
    meta = json.loads(run_file(run).read_text())
    meta["pythons"] = {"torch": str(evil)}
    run_file(run).write_text(json.dumps(meta))
    (fakes / "started.log").unlink(missing_ok=True)
    capsys.readouterr()
    assert main(["all", "--resume", "--no-report", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--python torch={evil}" in err
    assert not marker.exists() and started(fakes) == []


def test_resume_on_another_machine_is_refused(fakes: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main([*SMALL, "--modes", "eager"]) == 0
    run = run_dir_of(fakes)
    cell_result_path(run, next(iter(results_by_cell(run)))).unlink()
    env_file = run / "environment.json"
    env = json.loads(env_file.read_text())
    env["cpu"]["model"] = "Some Other CPU"
    env_file.write_text(json.dumps(env))
    capsys.readouterr()
    assert main(["all", "--resume", "--no-report"]) == 2
    err = capsys.readouterr().err
    where = run.relative_to(fakes)  # reports/runs/<id>, as found by --resume
    assert err.startswith(f"error: {where} was recorded on another machine (fingerprint ")
    assert "cpu_model ('Some Other CPU' vs " in err or "cpu_model (Some Other CPU vs " in err
    scheduled = [e["cell_id"] for e in json.loads(run_file(run).read_text())["schedule"]]
    assert err.count("\n") == 1 and started(fakes) == scheduled  # the first run's only


def test_resume_without_any_run(fakes: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert main(["all", "--resume"]) == 2
    assert capsys.readouterr().err.startswith("error: no run to resume")


@pytest.mark.parametrize("args", [
    ["all", "--models", "dcgan-9"],
    ["all", "--frameworks", "jax"],
    ["all", "--modes", "turbo"],
    ["all", "--devices", "tpu"],
    ["all", "--precisions", "fp8"],
    ["all", "--variants", "fast"],
    ["all", "--profile", "medium"],
    ["all", "--steps", "0"],
    ["all", "--data", "no/such/mnist.npz"],
    ["all", "--python", "torch=/no/such/python"],
    ["all", "--python", "jax=/usr/bin/python3"],
    ["run", "--model", "dcgan-mnist", "--framework", "torch", "--mode", "xla"],
    ["run", "--model", "dcgan-mnist", "--framework", "tensorflow", "--mode", "eager",
     "--variant", "warm-cache"],
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(fakes: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
                                                         args: list[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    if "unknown" in err:
        assert "valid choices: " in err
    assert not (fakes / "reports").exists()
    assert started(fakes) == []


def test_run_one_cell_and_report_failure_is_a_warning(fakes: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from bench.plan import orchestrate

    def broken(run_dir: Path, out: Path | None = None, **_: object) -> list[Path]:
        raise RuntimeError("report exploded")

    monkeypatch.setattr(orchestrate, "report_after_run", broken)
    out_dir = fakes / "myrun"
    assert main(["run", "--model", "dcgan-64", "--framework", "torch", "--mode", "eager", "--batch-size", "4",
                 "--steps", "2", "--repeats", "1", "--out", str(out_dir)]) == 0
    (r,) = results_by_cell(out_dir).values()
    assert r.status == "ok" and r.cell.batch_size == 4 and r.settings["steps"] == 2
    meta = json.loads(run_file(out_dir).read_text())
    assert meta["cells_planned"] == [r.cell.cell_id] and meta["argv"][0] == "run"
    env = json.loads((out_dir / "environment.json").read_text())
    assert env["fingerprint"]["hash"] and env["frameworks"]["torch"]["version"] == "9.9"
    out, err = capsys.readouterr()
    assert "median step" in out and r.cell.cell_id in out
    # `all` calls the report; its failure is one warning line and the exit code stays 0.
    assert main([*SMALL, "--modes", "eager", "--out", str(fakes / "r2")]) == 0  # --no-report in SMALL
    with_report = [*SMALL[:-9], "--modes", "eager", "--steps", "2", "--repeats", "1"]  # no --no-report
    assert main([*with_report, "--out", str(fakes / "r3")]) == 0
    err = capsys.readouterr().err
    assert "warning: report generation failed (RuntimeError: report exploded)" in err


def test_cuda_cells_run_with_the_roofline_peak(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("ORCH_FAKE_CUDA", "1")
    # One rank: full's two-rank cells start torchrun, which runs the real worker, not the fake one.
    assert main(["all", "--models", "dcgan-mnist", "--frameworks", "torch", "--modes", "eager",
                 "--workers", "1", "--no-report", "--steps", "2", "--repeats", "1", "--profile", "full"]) == 0
    run = run_dir_of(fakes)
    assert json.loads(run_file(run).read_text())["profile"] == "full"  # CUDA's default is gpu
    results = results_by_cell(run).values()
    cuda = [r for r in results if r.cell.device == "cuda"]
    assert {r.cell.precision for r in cuda} == {"fp32", "bf16", "fp16"}
    assert all(r.status == "ok" for r in cuda)
    # Held to the peak of their precision (the fake roofline measures fp32 only).
    assert all(r.peak_flops == 1.0e12 for r in cuda if r.cell.precision == "fp32")
    # CPU cells too: the CPU's peak is measured once per run (roofline-cpu.json).
    cpu = [r for r in results if r.cell.device == "cpu" and r.status == "ok" and r.cell.precision == "fp32"]
    assert cpu and all(r.peak_flops == 1.0e12 for r in cpu)
    assert json.loads((run / "roofline-cpu.json").read_text())["device"] == "cpu"
    roofline = json.loads((run / "roofline.json").read_text())
    assert roofline["peak_flops"] == 1.0e12 and roofline["device"] == "cuda"
    assert roofline["framework"] == "torch"  # the registry's preferred roofline framework with CUDA cells


def test_roofline_framework_comes_from_the_cells_on_the_device(fakes: Path,  # noqa: F811
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_FAKE_CUDA", "1")
    assert main(["all", "--models", "dcgan-mnist", "--frameworks", "tensorflow", "--modes", "eager",
                 "--devices", "cuda", "--precisions", "fp32", "--no-report", "--steps", "2", "--tf32",
                 "--repeats", "1"]) == 0
    roofline = json.loads((run_dir_of(fakes) / "roofline.json").read_text())
    assert roofline["framework"] == "tensorflow" and roofline["tf32"] is True


def test_bad_data_file_is_one_line_exit_2_and_writes_nothing(fakes: Path,  # noqa: F811
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    junk = fakes / "junk.idx"
    junk.write_bytes(b"not an image file at all")
    assert main(["all", "--models", "dcgan-mnist", "--data", str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {junk.resolve()}: ") and "IDX" in err and err.count("\n") == 1, err
    assert not (fakes / "reports").exists() and started(fakes) == []


def test_missing_framework_is_skipped_not_failed(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv("ORCH_FAKE_INSTALLED", "torch")
    assert main([*SMALL, "--frameworks", "tensorflow,torch", "--modes", "eager"]) == 0
    results = results_by_cell(run_dir_of(fakes)).values()
    tf = [r for r in results if r.cell.framework == "tensorflow"]
    assert tf and all(r.status == "skipped" and r.reason == "tensorflow not installed" for r in tf)
    assert started(fakes) == [r.cell.cell_id for r in results if r.cell.framework == "torch"]


def _sigint_as_in_a_terminal() -> None:
    # A test suite started as a background job (nohup, `cmd &` in a script) inherits SIGINT ignored,
    # and so would the CLI under test: give it the disposition a user's terminal gives it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_kills_the_cell_keeps_results_and_says_how_to_resume(tmp_path: Path) -> None:
    env = fake_env(ORCH_FAKE_PLAN=json.dumps({"__compile__": "hang"}),
                   ORCH_FAKE_LOG=str(tmp_path / "started.log"))
    p = subprocess.Popen([sys.executable, "-m", "bench", *SMALL], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=_sigint_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "__compile__" not in started(tmp_path).__str__():
            time.sleep(0.1)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert "--resume" in err
    run = latest_run(tmp_path / "reports" / "runs")
    assert run is not None
    done = results_by_cell(run)
    assert any(r.cell.mode == "eager" and r.status == "ok" for r in done.values())
    assert not any(r.cell.mode == "compile" for r in done.values())  # the interrupted cell: no result
    compile_id = next(c for c in started(tmp_path) if "__compile__" in c)
    pid = int((work_dir(run, compile_id) / "pid").read_text())
    assert not _alive(pid)
    assert [s.cell.mode for s in processes_to_rerun(run)] == ["compile"]


def test_env_command_prints_json(tmp_path: Path) -> None:
    p = run_cli(["env", "--json"], tmp_path)
    assert p.returncode == 0, p.stderr
    env = json.loads(p.stdout)
    assert env["frameworks"]["tensorflow"]["version"] == "9.9" and env["fingerprint"]["hash"]
    p = run_cli(["env"], tmp_path)
    assert p.returncode == 0 and "fingerprint" in p.stdout and "cpu" in p.stdout


def test_help_documents_exit_codes(tmp_path: Path) -> None:
    for cmd in (["--help"], ["all", "--help"], ["run", "--help"], ["env", "--help"], ["report", "--help"],
                ["baseline", "save", "--help"], ["gate", "--help"], ["export-pytest-benchmark", "--help"]):
        p = run_cli(cmd, tmp_path)
        assert p.returncode == 0, cmd
    text = run_cli(["all", "--help"], tmp_path).stdout
    assert "exit status" in text
    # The choices listed come from the registries.
    from bench.frameworks.registry import frameworks
    from models.registry import model_names

    flat = " ".join(text.split())
    assert all(m in flat for m in model_names())
    # argparse wraps long lists at hyphens too ("max-" / "autotune"): compared without whitespace.
    bare = "".join(text.split())
    assert all(f"{d.name}:{'/'.join(d.mode_names)}" in bare for d in frameworks())


def test_no_command_or_subcommand_prints_help_exit_2(tmp_path: Path) -> None:
    for cmd in ([], ["baseline"]):
        p = run_cli(cmd, tmp_path)
        assert p.returncode == 2 and "usage:" in p.stderr, cmd


def test_parent_never_imports_a_framework(tmp_path: Path) -> None:
    """The CLI modules import neither framework, even while running a (fake) matrix end to end."""
    code = (
        "import sys\n"
        "import bench.cli, bench.launchers.slot, bench.plan.matrix, bench.results.write\n"
        "import bench.host.envinfo, bench.plan.profiles\n"
        "import bench.plan.progress, bench.host.detect, bench.plan.orchestrate, bench.commands\n"
        f"rc = bench.cli.main({[*SMALL, '--modes', 'eager']!r})\n"
        "bad = [m for m in ('torch', 'tensorflow', 'keras', 'jax') if m in sys.modules]\n"
        "print('RC', rc, 'BAD', bad)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=fake_env(), capture_output=True,
                       text=True, timeout=120)
    assert "RC 0 BAD []" in p.stdout, p.stdout + p.stderr


def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    env = fake_env(ORCH_FAKE_PLAN=json.dumps({"__eager__": "hang"}),
                   ORCH_FAKE_LOG=str(tmp_path / "started.log"))
    p = subprocess.Popen([sys.executable, "-m", "bench", *SMALL], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not started(tmp_path):
            time.sleep(0.1)
        time.sleep(0.5)
        p.terminate()
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    run = latest_run(tmp_path / "reports" / "runs")
    pid = int((work_dir(run, started(tmp_path)[0]) / "pid").read_text())
    assert not _alive(pid)
