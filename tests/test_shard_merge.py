"""``bench all --shard K/M`` and ``bench report --runs`` merging shards, end to end with the fake worker."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from orch_helpers import fakes, run_cli, started  # noqa: F401 (fixture)

from bench.cli import main
from bench.results.paths import cell_result_path, run_file

# Two models of two cells each, two processes per cell: 8 processes in 4 blocks.
ARGS = ["all", "--models", "dcgan-mnist", "vae-mnist", "--frameworks", "tensorflow,torch", "--modes", "eager",
        "--devices", "cpu", "--precisions", "fp32", "--variants", "default", "--no-report", "--steps", "3",
        "--warmup", "1", "--window-steps", "2", "--repeats", "2"]


@pytest.fixture
def logged(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    monkeypatch.setenv("ORCH_FAKE_LOG_REPEATS", "1")  # the fake worker logs "<cell_id>#r<k>"
    return fakes


def meta(run: Path) -> dict:
    return json.loads(run_file(run).read_text())


def places(run: Path) -> set[tuple[str, int, int, int]]:
    return {(e["cell_id"], e["repeat"], e["block"], e["order"]) for e in meta(run)["schedule"]}


def snapshot(*runs: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for r in runs for p in sorted(r.rglob("*"))
            if p.is_file()}


def shards(tmp: Path, m: int = 2, *extra: str, name: str = "s") -> list[Path]:
    for k in range(1, m + 1):
        assert main([*ARGS, *extra, "--shard", f"{k}/{m}", "--out", str(tmp / f"{name}{k}")]) == 0
    return [tmp / f"{name}{k}" for k in range(1, m + 1)]


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line (progress lines such as "probing ..." may precede it), no traceback."""
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("probing ")]
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_shards_run_the_whole_plan_once_and_merge_as_one_run(logged: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--extra-pairs", "0", "--out", "whole"]) == 0
    whole = started(logged)
    (logged / "started.log").unlink()
    s1, s2 = shards(logged)
    assert sorted(started(logged)) == sorted(whole) and len(whole) == 8  # each process once
    assert places(s1) | places(s2) == places(logged / "whole") and not places(s1) & places(s2)
    assert meta(s1)["shard"]["run_key"] == meta(s2)["shard"]["run_key"]
    assert {meta(s)["shard"]["unit"] for s in (s1, s2)} == {"block"} and "adaptive" not in meta(s1)
    before = snapshot(s1, s2)
    capsys.readouterr()
    assert main(["report", "--runs", str(s2), str(s1), "--out", "merged"]) == 0
    assert main(["report", "--runs", "whole", "--out", "alone"]) == 0
    assert snapshot(s1, s2) == before  # nothing written inside an input run
    # As if one machine had run the whole schedule: the pages differ only where they name the run.
    for page in ("dcgan-mnist.md", "vae-mnist.md"):
        merged_id = "shards-" + meta(s1)["shard"]["run_key"][:12]
        merged = (logged / "merged" / page).read_text().replace(merged_id, "R")
        assert merged == (logged / "alone" / page).read_text().replace("`whole`", "`R`")
    front = (logged / "merged" / "README.md").read_text()
    assert "cut into 2 shards" in front and "1/2 `s1`, 2/2 `s2`" in front
    # Shards beside a whole run: one merged run and the other, side by side.
    assert main(["report", "--runs", str(s1), "whole", str(s2), "--out", "both"]) == 0
    assert "`whole`" in (logged / "both" / "README.md").read_text()


def test_merge_refuses_shards_that_do_not_belong_together(fakes: Path,  # noqa: F811
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    s1, s2 = shards(fakes)
    (other,) = shards(fakes, 2, "--steps", "4", name="t")[1:]

    def refused(*runs: Path, extra: tuple[str, ...] = ()) -> str:
        capsys.readouterr()
        before = snapshot(*runs)
        assert main(["report", "--runs", *map(str, runs), "--out", "rep", *extra]) == 2
        assert snapshot(*runs) == before
        return error_line(capsys)

    assert "shards of different plans (settings" in refused(s1, other)
    assert "steps: 3 vs 4" in refused(s1, other)
    assert "shard 1 is given twice" in refused(s1, s1, s2)
    assert "shard(s) 2/2 of run key" in refused(s1) and "are missing" in refused(s1)
    capsys.readouterr()
    assert main(["report", "--runs", str(s1), "--out", "part", "--allow-partial"]) == 0
    assert "warning: shard(s) 2/2" in capsys.readouterr().err
    assert "only 1 of 2 shards given" in (fakes / "part" / "README.md").read_text()

    def edited(name: str, change: Callable[[dict], object]) -> Path:
        copy = fakes / name
        shutil.copytree(s2, copy)
        env = json.loads((copy / "environment.json").read_text())
        change(env)
        (copy / "environment.json").write_text(json.dumps(env))
        return copy

    machine = edited("machine", lambda env: env["cpu"].update(model="Another CPU"))
    assert "recorded on different machines" in refused(s1, machine)
    assert "cpu_model" in refused(s1, machine)
    software = edited("software", lambda env: env["framework_versions"].update(torch="0.0.1"))
    assert "ran different software (framework versions.torch" in refused(s1, software)

    def planned(name: str, **shard: object) -> Path:
        copy = fakes / name
        shutil.copytree(s2, copy)
        m = meta(copy)
        m["shard"].update(shard)
        run_file(copy).write_text(json.dumps(m))
        return copy

    assert "shards of different plans (run key" in refused(s1, planned("key", run_key="0" * 64))
    assert "different plans (number of shards: 2 vs 3)" in refused(s1, planned("three", m=3))


@pytest.mark.parametrize("value", ["3/2", "0/2", "x", "1/0", "2"])
def test_a_bad_shard_value_is_one_line_and_exit_2(fakes: Path, value: str,  # noqa: F811
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--shard", value, "--out", "x"]) == 2
    assert "argument --shard: expected K/M with 1 <= K <= M" in error_line(capsys)
    assert not (fakes / "x").exists()


def test_shards_that_cannot_be_honoured_are_refused(fakes: Path,  # noqa: F811
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--shard", "1/2", "--extra-pairs", "2", "--out", "x"]) == 2
    assert "--extra-pairs cannot be used with --shard" in error_line(capsys)
    assert main([*ARGS, "--shard", "9/9", "--out", "x"]) == 2  # 8 processes
    assert "the plan's 8 process(es) in 4 block(s) make at most 8 shards" in error_line(capsys)
    assert not (fakes / "x").exists()
    proc = run_cli([*ARGS, "--shard", "3/2"], fakes)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_the_dry_run_lists_the_shards_processes(fakes: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    listed = []
    for k in (1, 2, 3):
        capsys.readouterr()
        assert main([*ARGS, "--dry-run", "--shard", f"{k}/3"]) == 0
        out = capsys.readouterr().out
        assert f"shard {k}/3:" in out and "adaptive extra pairs are off in a shard" in out
        listed += [line.split()[0] + "#" + line.split()[1] for line in out.splitlines() if " (block " in line]
    assert len(listed) == 8 and len(set(listed)) == 8
    assert not (fakes / "reports").exists()


def test_a_shard_resumes_its_own_processes_only(logged: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s1, _ = shards(logged)
    first = meta(s1)["schedule"][0]
    cell_result_path(s1, first["cell_id"], first["repeat"]).unlink()
    (logged / "started.log").unlink()
    assert main(["all", "--resume", "--no-report", "--shard", "1/2", "--out", str(s1)]) == 0
    assert started(logged) == [f"{first['cell_id']}#r{first['repeat']}"]
    capsys.readouterr()
    assert main(["all", "--resume", "--no-report", "--shard", "2/2", "--out", str(s1)]) == 2
    assert "--shard 2/2 (stored: shard 1/2)" in error_line(capsys)
