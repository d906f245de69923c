"""Where and how files are written: only inside the directory given (bench.results.paths.inside), with the
user's umask (0644/0755 by default, not mkstemp's 0600), and never into the runs a report reads."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from orch_helpers import fake_env
from report_fixtures import standard_cells, write_run

from bench.cli import main as cli_main
from bench.errors import BenchError
from bench.report import build as report
from bench.report.pytest_benchmark import EXPORT_NAME, FORMAT_VERSION, write_export
from bench.results import paths as rundir
from bench.results import write as store
from bench.results.write import atomic_write_text

SMALL = ["all", "--models", "dcgan-mnist", "--frameworks", "torch", "--devices", "cpu",
         "--steps", "3", "--warmup", "1", "--window-steps", "2", "--repeats", "2"]


def tree_hash(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


# --------------------------------------------------------------------------- file modes


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_files_and_directories_follow_the_umask(tmp_path: Path, umask: int, file_mode: int,
                                                dir_mode: int) -> None:
    run = tmp_path / "RUN"
    p = subprocess.run([sys.executable, "-m", "bench", *SMALL, "--out", str(run)], cwd=tmp_path,
                       env=fake_env(), capture_output=True, text=True, timeout=300, umask=umask)
    assert p.returncode == 0, p.stderr
    files = [x for x in run.rglob("*") if x.is_file()]
    assert {x.name for x in files} >= {"run.json", "environment.json", EXPORT_NAME}
    kinds = {x.parent.parent.name for x in files}
    assert {"cells", "steps", "logs"} <= kinds
    wrong = {str(x.relative_to(run)): oct(stat.S_IMODE(x.stat().st_mode)) for x in files
             if stat.S_IMODE(x.stat().st_mode) != file_mode}
    assert not wrong
    dirs = [run, *(x for x in run.rglob("*") if x.is_dir())]
    assert all(stat.S_IMODE(d.stat().st_mode) == dir_mode for d in dirs)


def test_file_mode_is_read_without_changing_the_umask() -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    assert store.file_mode() == 0o666 & ~mask
    assert os.umask(mask) == mask  # still the same afterwards


# --------------------------------------------------------------------------- inside the output directory


def test_inside(tmp_path: Path) -> None:
    root = tmp_path / "out"
    (root / "figures").mkdir(parents=True)
    assert rundir.inside(root, root / "a.md") == root / "a.md"
    assert rundir.inside(root, root / "figures" / "new" / "x.png") == root / "figures" / "new" / "x.png"
    assert rundir.inside(root, root) == root
    for outside in (root / ".." / "a.md", tmp_path / "a.md", Path("/etc/passwd"), root / "figures/../../x"):
        with pytest.raises(BenchError, match="outside"):
            rundir.inside(root, outside)
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BenchError, match="outside"):
        rundir.inside(root, root / "link" / "x.md")


def test_atomic_write_within_refuses_a_linked_directory(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    run = tmp_path / "run"
    run.mkdir()
    (run / "cells").symlink_to(victim)
    with pytest.raises(BenchError, match="outside"):
        atomic_write_text(run / "cells" / "x.json", "{}", within=run)
    assert list(victim.iterdir()) == []


def test_report_pages_outside_out_are_refused_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = write_run(tmp_path / "run", standard_cells())
    evil = report.Report(pages={"README.md": "front", "../escape.md": "x"}, figures={})
    monkeypatch.setattr(report, "build_report", lambda runs: evil)
    out = tmp_path / "out"
    with pytest.raises(BenchError, match="outside"):
        report.write_report([run], out)
    assert not (tmp_path / "escape.md").exists() and not (out / "README.md").exists()


def test_report_into_a_linked_figures_directory_is_refused(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", standard_cells())
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep__throughput.png").write_bytes(b"keep")  # matches a stale-figure pattern
    out = tmp_path / "out"
    out.mkdir()
    (out / "figures").symlink_to(victim)
    with pytest.raises(BenchError, match="outside"):
        report.write_report([run], out)
    assert [p.name for p in victim.iterdir()] == ["keep__throughput.png"]


# --------------------------------------------------------------------------- reports never modify inputs


def test_report_leaves_the_runs_it_reads_unchanged(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run", standard_cells())
    before = tree_hash(run)
    assert cli_main(["report", "--runs", str(run), "--out", str(tmp_path / "out")]) == 0
    assert cli_main(["report", "--runs", str(run), "--out", str(tmp_path / "out"), "--no-export"]) == 0
    assert tree_hash(run) == before
    assert not (run / EXPORT_NAME).exists()
    assert (tmp_path / "out" / "README.md").is_file()


def test_export_does_not_depend_on_the_installed_pytest_benchmark(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run = write_run(tmp_path / "run", standard_cells())
    first = write_export(run, tmp_path / "a.json").read_bytes()
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0.1")
    assert write_export(run, tmp_path / "b.json").read_bytes() == first
    assert json.loads(first)["version"] == FORMAT_VERSION
    # Without --out, the export goes into the run (what `bench all` does at the end of a run).
    assert write_export(run) == run / EXPORT_NAME and (run / EXPORT_NAME).read_bytes() == first
