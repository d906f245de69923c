"""Whole classes of hostile run directory (issue 25), built from the committed run and driven through
every command: special files, oversized files and step counts, links and hard links, planted packages,
deep nesting, injection strings, duplicate keys, outputs inside inputs, bad pyproject tables.

Each command must give exit 2 and one ``error:`` line (``history`` may add a ``warning:`` line per
skipped run), or a correct result, within a time bound (SIGALRM: a FIFO read must not hang), and a
snapshot of the temporary tree proves that nothing but the command's own output changed. The
commands run in-process (``bench.cli.main``) to keep this under a minute; the resume cases run the
fake worker (tests/orch_fakes) as real subprocesses. tests/test_hostile_runs.py holds the value-level
corruptions of issue 11. With FRAMEBENCH_FUZZ_LOG=FILE every outcome is appended to FILE.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from orch_helpers import ROOT, run_cli
from test_hostile_runs import SMALL, snapshot

from bench.cli import main

COMMITTED = ROOT / "reports" / "runs" / "20261125T043336Z"
SECONDS_PER_COMMAND = 30
INJECTION = '<script>alert(1)</script><img src=x onerror="alert(2)">&amp;'
FORMULAS = ["=HYPERLINK(\"http://x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTAB", "\rCR",
            "'=quoted"]


class Hung(BaseException):
    """Raised by SIGALRM: a BaseException, so the CLI cannot mistake it for bad input."""


@contextlib.contextmanager
def time_bound(seconds: int) -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise Hung

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def cli(argv: list[Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    with time_bound(SECONDS_PER_COMMAND):
        try:
            code = main([str(a) for a in argv])
        except Hung:
            pytest.fail(f"{argv[0]} did not finish within {SECONDS_PER_COMMAND} s")
    out, err = capsys.readouterr()
    log(" ".join(str(a) for a in argv[:1]), code, err)
    return code, out, err


def log(what: str, code: int, err: str) -> None:
    path = os.environ.get("FRAMEBENCH_FUZZ_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '').split(' ')[0]}\t{what}\t{code}\t"
                    f"{err.strip()}\n")


def assert_one_line_refusal(code: int, out: str, err: str, expect: str, name: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, (name, code, err)
    assert "Traceback" not in err, (name, err)
    assert lines and lines[-1].startswith("error: "), (name, err)
    # history skips an unreadable run with a warning, then refuses (no run left): one line each.
    assert all(line.startswith("warning: ") for line in lines[:-1]), (name, err)
    assert len(lines) == 1 or name == "history", (name, err)
    # history lists only directories whose run.json is a regular file: a FIFO there is no run to it.
    assert expect in err or (name == "history" and "no stored runs under" in err), (name, expect, err)


# --------------------------------------------------------------------------- the committed run, copied


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed run copied (good/RUN) with a baseline saved from it (good/baselines/*.json)."""
    base = tmp_path_factory.mktemp("hostile-classes")
    shutil.copytree(COMMITTED, base / "RUN")
    assert main(["baseline", "save", "--run", str(base / "RUN"), "--dir", str(base / "baselines")]) == 0
    return base


def baseline_of(good: Path) -> Path:
    (path,) = (good / "baselines").glob("*.json")
    return path


@pytest.fixture
def run(good: Path, tmp_path: Path) -> Path:
    shutil.copytree(good / "RUN", tmp_path / "RUN")
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "keep.txt").write_text("keep", encoding="utf-8")
    return tmp_path / "RUN"


def commands(run: Path, good: Path, out: Path) -> dict[str, list[Any]]:
    """Every command that reads a run, its outputs under ``out``."""
    return {
        "report": ["report", "--runs", run, "--out", out / "report"],
        "gate": ["gate", "--baseline", baseline_of(good), "--run", run, "--output", out / "gate.md"],
        "gate-as-baseline": ["gate", "--baseline", run, "--run", good / "RUN", "--output", out / "gate2.md"],
        "baseline-save": ["baseline", "save", "--run", run, "--dir", out / "baselines"],
        "export": ["export", "--run", run, "--out", f"{out / 'export'}/"],
        "export-pytest-benchmark": ["export-pytest-benchmark", "--run", run, "--out", out / "pb.json"],
        "history": ["history", "--runs-dir", run.parent, "--output", out / "history"],
        "resume": ["all", "--resume", "--out", run],
    }


def first(run: Path, pattern: str) -> Path:
    return sorted(run.glob(pattern))[0]


def ok_cell(run: Path) -> Path:
    return next(p for p in sorted(run.glob("cells/*/r1.json"))
                if json.loads(p.read_text(encoding="utf-8"))["status"] == "ok")


def steps_of(cell: Path) -> Path:
    return cell.parents[2] / "steps" / cell.parent.name / "r1.jsonl"


def edit(path: Path, change: Callable[[Any], object]) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    change(d)
    path.write_text(json.dumps(d), encoding="utf-8")


def fifo(rel: str) -> Callable[[Path], None]:
    def mutate(run: Path) -> None:
        path = first(run, rel)
        path.unlink()
        os.mkfifo(path)
    return mutate


def char_device(run: Path) -> None:
    path = run / "environment.json"
    path.unlink()
    try:
        os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # /dev/zero's numbers
    except PermissionError:
        pytest.skip("making a device node needs root")


def sparse(rel: str, size_mb: int) -> Callable[[Path], None]:
    """A file of ``size_mb`` MiB that takes no disk (a hole): the size check refuses it unread."""
    def mutate(run: Path) -> None:
        with open(first(run, rel), "r+b") as f:
            f.truncate(size_mb * 2**20 + 1)
    return mutate


def too_many_steps(run: Path) -> None:
    steps = steps_of(ok_cell(run))
    rows = steps.read_text(encoding="utf-8").splitlines()
    steps.write_text("\n".join(rows + rows[-1:] * 5000) + "\n", encoding="utf-8")


def many_planned_cells(run: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        cid = d["cells_planned"][0]
        axes = cid.split("__")
        ids = ["__".join([*axes[:5], f"b{i}", axes[6]]) for i in range(1, 200_001)]
        d["cells_planned"] = [*ids, ids[-1]]
    edit(run / "run.json", change)


def link_inside(run: Path) -> None:
    (run / "environment.json").unlink()
    (run / "environment.json").symlink_to(ok_cell(run))


def link_out_to_device(run: Path) -> None:
    (run / "environment.json").unlink()
    (run / "environment.json").symlink_to("/dev/zero")


def in_cell(**values: Any) -> Callable[[Path], None]:
    return lambda run: edit(ok_cell(run), lambda d: d.update(values))


def deep_flags(run: Path) -> None:
    value: Any = 1
    for _ in range(700):
        value = {"x": value}
    in_cell(flags={"nested": value})(run)


def duplicate_key(run: Path) -> None:
    path = run / "run.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('{', '{"profile": "quick", ', 1), encoding="utf-8")


def duplicate_key_in_steps(run: Path) -> None:
    steps = steps_of(ok_cell(run))
    rows = steps.read_text(encoding="utf-8").splitlines()
    steps.write_text("\n".join([rows[0].replace("{", '{"step": 0, ', 1), *rows[1:]]) + "\n", encoding="utf-8")


def over_limit(var: str, rel: str) -> Callable[[Path], None]:
    """A file over a limit lowered to 1 MiB by its environment variable (the limits are configurable)."""
    def mutate(run: Path) -> None:
        os.environ[var] = "1"  # the test's monkeypatch restores it
        sparse(rel, 2)(run)
    return mutate


CLASSES: dict[str, tuple[Callable[[Path], None], str]] = {
    "run.json a FIFO": (fifo("run.json"), "a FIFO, not a regular file"),
    "a steps file a FIFO": (fifo("steps/*/r1.jsonl"), "a FIFO, not a regular file"),
    "a cell result a FIFO": (fifo("cells/*/r1.json"), "a FIFO, not a regular file"),
    "environment.json a character device": (char_device, "a character device, not a regular file"),
    "environment.json a link to /dev/zero": (link_out_to_device, "is a link out of it"),
    "environment.json a link inside the run": (link_inside, "a link (stored files are never read"),
    "run.json of 65 MiB": (sparse("run.json", 65), "over the limit of 67108864 for a run file"),
    "a cell result of 17 MiB": (sparse("cells/*/r1.json", 17), "over the limit of 16777216"),
    "a steps file over FRAMEBENCH_MAX_STEPS_MB=1": (over_limit("FRAMEBENCH_MAX_STEPS_MB", "steps/*/r1.jsonl"),
                                                    "over the limit of 1048576 for a steps file"),
    "a steps file of 5000 extra rows": (too_many_steps, "more rows than the process's"),
    "200,000 planned cells, one twice": (many_planned_cells, "is planned twice"),
    "flags nested 700 deep": (deep_flags, "nested deeper than 32 levels"),
    "a reason of 70,000 characters": (in_cell(reason="x" * 70_000), "a string of 70000 characters"),
    "a duplicate key in run.json": (duplicate_key, "duplicate key 'profile'"),
    "a duplicate key in a steps row": (duplicate_key_in_steps, "duplicate key 'step'"),
}


# Every command reads run.json the same way (bench.results.load.read_run_meta): one is enough for the slow
# case.
ONLY = {"200,000 planned cells, one twice": ("report",)}


@pytest.mark.parametrize("case", list(CLASSES))
def test_hostile_run_is_refused_by_every_command_and_nothing_changes(
        case: str, good: Path, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    mutate, expect = CLASSES[case]
    # Recorded by monkeypatch (unset → deleted again after the test), so that the 1 MiB limit a case sets
    # never leaks into later tests (committed generate runs hold steps files over 1 MiB).
    monkeypatch.setenv("FRAMEBENCH_MAX_STEPS_MB", "256")
    mutate(run)
    before = snapshot(tmp_path, tmp_path)
    for name, argv in commands(run, good, tmp_path / "out").items():
        if name not in ONLY.get(case, (name,)):
            continue
        code, out, err = cli(argv, capsys)
        assert_one_line_refusal(code, out, err, expect, name)
    assert snapshot(tmp_path, tmp_path) == before


# --------------------------------------------------------------------------- outputs inside inputs


def inside_cases(run: Path, good: Path, tmp_path: Path) -> dict[str, list[Any]]:
    hard = tmp_path / "hard-link-to-baseline.json"
    os.link(baseline_of(good), hard)
    return {
        "report --out RUN": ["report", "--runs", run, "--out", run],
        "report --out RUN/cells": ["report", "--runs", run, "--out", run / "cells"],
        "gate --output RUN/run.json": ["gate", "--baseline", baseline_of(good), "--run", run,
                                       "--output", run / "run.json"],
        "gate --output the baseline": ["gate", "--baseline", baseline_of(good), "--run", run,
                                       "--output", baseline_of(good)],
        "gate --output a hard link to the baseline": ["gate", "--baseline", baseline_of(good), "--run", run,
                                                      "--output", hard],
        "export-pytest-benchmark --out RUN/run.json": ["export-pytest-benchmark", "--run", run,
                                                       "--out", run / "run.json"],
        "baseline save --dir RUN/cells": ["baseline", "save", "--run", run, "--dir", run / "cells"],
        "export --out RUN/x": ["export", "--run", run, "--out", run / "x"],
        "history --output RUN": ["history", "--runs-dir", tmp_path, "--output", run],
    }


def test_no_command_writes_inside_what_it_reads(good: Path, run: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cases = inside_cases(run, good, tmp_path)
    before, before_good = snapshot(tmp_path, tmp_path), snapshot(good, good)
    for name, argv in cases.items():
        code, out, err = cli(argv, capsys)
        assert_one_line_refusal(code, out, err, "inputs are never outputs", name)
    assert snapshot(tmp_path, tmp_path) == before and snapshot(good, good) == before_good


# --------------------------------------------------------------------------- injection, hard links


def inject(run: Path) -> None:
    edit(run / "environment.json", lambda d: d["git"].update(branch=INJECTION))  # not in the fingerprint
    values = {f"f{i}": v for i, v in enumerate([INJECTION, *FORMULAS])}
    edit(ok_cell(run), lambda d: d["flags"].update(values))
    failed = next(p for p in sorted(run.glob("cells/*/r1.json"))
                  if json.loads(p.read_text(encoding="utf-8"))["status"] != "ok")
    edit(failed, lambda d: d.update(reason=INJECTION))


def outside_code_blocks(text: str) -> str:
    # A worker's output tail is shown in a fenced code block, where Markdown renders no HTML.
    kept, fenced = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            kept.append(line)
    return "\n".join(kept)


def test_injected_strings_are_escaped_and_planted_hard_links_are_replaced(
        good: Path, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.report.export import read_table

    inject(run)
    out = tmp_path / "out"
    # Every output a command will write is first a hard link to a file elsewhere (the victim).
    victim = tmp_path / "victim" / "keep.txt"
    reports = COMMITTED.parents[1]  # the committed report of this run: the files a report writes
    report_files = [p.relative_to(reports) for p in [*reports.glob("*.md"), *reports.glob("figures/*.png")]]
    planted = [out / "report" / rel for rel in report_files] + [
        out / "gate.md", out / "pb.json", out / "export" / "cells.csv", out / "export" / "dtypes.json"]
    for p in planted:
        p.parent.mkdir(parents=True, exist_ok=True)
        os.link(victim, p)
    before = snapshot(tmp_path, tmp_path)
    cmds = commands(run, good, out)
    for name in ("report", "gate", "export", "export-pytest-benchmark"):
        code, _, err = cli(cmds[name], capsys)
        assert code == 0, (name, err)
    assert victim.read_text(encoding="utf-8") == "keep" and victim.stat().st_nlink == 1
    after = snapshot(tmp_path, tmp_path)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert all(k.startswith("out") or k == "victim/keep.txt" for k in changed), sorted(changed)[:5]
    assert after["victim/keep.txt"][3] == before["victim/keep.txt"][3]  # same content

    pages = "\n".join(p.read_text(encoding="utf-8") for p in (out / "report").glob("*.md"))
    pages += (out / "gate.md").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages
    assert "<script" not in outside_code_blocks(pages) and "<img" not in outside_code_blocks(pages)

    csv_text = (out / "export" / "cells.csv").read_bytes().decode("utf-8")  # a "\r" kept as it is
    for value in FORMULAS:
        assert f"'{value[0]}" in csv_text
    for line in csv_text.split("\n"):
        for field in line.split(","):
            assert not field.lstrip('"').startswith(("=", "+", "@")), field
    cells = read_table(out / "export" / "cells.csv")
    row = cells[cells["flags.f1"].notna()].iloc[0]
    assert [row[f"flags.f{i}"] for i in range(1, len(FORMULAS) + 1)] == FORMULAS  # read back as written
    drift = cells["step_time_drift"].dropna()
    assert (drift < 0).any() and drift.dtype.kind == "f"  # negative numbers stay numbers


# --------------------------------------------------------------------------- pyproject tables


@pytest.mark.parametrize(("toml", "expect"), [
    ("tool = 1\n", "[tool] is not a table (got int 1)"),
    ("[tool]\nframebench = \"gate\"\n", "[tool.framebench] is not a table"),
    ("[tool.framebench]\ngate = [1]\n", "[tool.framebench.gate] is not a table"),
    ("[tool.framebench.gates]\nstep_time = 0.2\n", "unknown key 'gates' in [tool.framebench]"),
])
def test_a_pyproject_of_the_wrong_shape_is_one_line(toml: str, expect: str, good: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pyproject.toml").write_text(toml, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name, argv in {
        "gate": ["gate", "--baseline", baseline_of(good), "--run", good / "RUN",
                 "--config", tmp_path / "pyproject.toml"],
        "history": ["history", "--runs-dir", good, "--output", tmp_path / "history"],
    }.items():
        code, out, err = cli(argv, capsys)
        assert_one_line_refusal(code, out, err, expect, name)
        assert str(tmp_path / "pyproject.toml") in err


def test_a_baseline_of_too_many_runs_is_refused(good: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    d = json.loads(baseline_of(good).read_text(encoding="utf-8"))
    one = d["runs"][-1]
    cid = next(iter(one["cells"]))
    small = {**one, "cells": {cid: {k: v for k, v in one["cells"][cid].items() if k != "samples_s"}}}
    d["runs"] = [small] * 1001
    bad = tmp_path / "big.json"
    bad.write_text(json.dumps(d), encoding="utf-8")
    code, out, err = cli(["gate", "--baseline", bad, "--run", good / "RUN"], capsys)
    assert_one_line_refusal(code, out, err, "runs: List should have at most 1000 items", "gate")


# --------------------------------------------------------------------------- --resume: planted code, links


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run of this machine made with the fake worker (the committed run is another machine's,
    which --resume refuses before it starts anything)."""
    base = tmp_path_factory.mktemp("hostile-resume")
    p = run_cli(["all", *SMALL, "--no-report", "--out", str(base / "RUN")], cwd=base)
    assert p.returncode == 0, p.stderr
    return base / "RUN"


def test_resume_runs_no_planted_code_and_writes_through_no_hard_link(fake_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "RUN"
    shutil.copytree(fake_run, run)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    cell = sorted(run.glob("cells/*/r1.json"))[0]
    cell.unlink()  # --resume runs this process again
    marker = tmp_path / "PWNED"
    work = run / "work" / cell.parent.name
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    for module in ("bench/__init__.py", "orch_fake_worker.py", "models/__init__.py", "sitecustomize.py"):
        (work / module).parent.mkdir(parents=True, exist_ok=True)
        (work / module).write_text(code, encoding="utf-8")
    log = run / "logs" / cell.parent.name / "r1.log"
    log.unlink()
    os.link(victim, log)  # the resume writes this process's log
    p = run_cli(["all", "--resume", "--no-report", "--out", str(run)], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert not marker.exists(), "a module planted in the run was imported"
    assert victim.read_text(encoding="utf-8") == "keep"
    assert log.stat().st_nlink == 1 and "fake worker" in log.read_text(encoding="utf-8")
    assert cell.exists() and not (work / "bench").exists()
