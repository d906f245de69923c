"""Stored runs as an attacker or a careless hand leaves them (issue 11): every bad input is one line and
exit 2, and nothing outside the temporary directory is touched.

A good run is made once with the fake worker (tests/orch_fakes). Each case copies it, corrupts one
thing, and feeds it to `report`, `gate` (the run against a good baseline, and the run used as the
baseline), `all --resume` and `baseline save`, as `python -m bench` subprocesses, checking the exit
status, stderr and a snapshot of the whole temporary tree (the pytest base directory, with a sentinel
``victim`` directory beside the run) before and after. More corruptions, checked in-process, are in
tests/test_store_schema.py. With FRAMEBENCH_FUZZ_LOG=FILE, every command's
exit status and message are appended to FILE (the issue's closing note lists them).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from orch_helpers import fake_env, run_cli

from bench.results.records import SCHEMA_VERSION

TRAVERSAL_ID = "dcgan-mnist__torch__eager__cpu__fp32__b1__x/../../../victim"
SMALL = ["--models", "dcgan-mnist", "--frameworks", "torch", "--devices", "cpu", "--steps", "3",
         "--warmup", "1", "--window-steps", "2", "--precisions", "fp32", "--repeats", "2"]


# --------------------------------------------------------------------------- the good run


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good run (base/RUN, two ok cells in two processes each) and its baseline (base/baselines/*.json)."""
    base = tmp_path_factory.mktemp("hostile-base")
    p = run_cli(["all", *SMALL, "--no-report", "--out", str(base / "RUN")], cwd=base)
    assert p.returncode == 0, p.stderr
    p = run_cli(["baseline", "save", "--run", str(base / "RUN"), "--dir", str(base / "baselines")], cwd=base)
    assert p.returncode == 0, p.stderr
    return base


def good_baseline(base: Path) -> Path:
    (path,) = (base / "baselines").glob("*.json")
    return path


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    v = tmp_path / "victim"
    (v / "sub" / "deeper").mkdir(parents=True)
    (v / "sub" / "keep.txt").write_text("keep", encoding="utf-8")
    return v


def copy_run(base: Path, tmp_path: Path) -> Path:
    run = tmp_path / "RUN"  # TRAVERSAL_ID leads from RUN/work/<id> to tmp_path/victim
    shutil.copytree(base / "RUN", run, symlinks=True)
    return run


# --------------------------------------------------------------------------- observing


def snapshot(root: Path, hash_under: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under root: mode, size, mtime (directories change when entries come or go), and the
    content hash of the files under ``hash_under``. Links are not followed."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            digest = None
            if stat.S_ISREG(st.st_mode) and p.is_relative_to(hash_under):
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


def commands(run: Path, base: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "report": ["report", "--runs", str(run), "--out", str(tmp_path / "out")],
        "gate": ["gate", "--baseline", str(good_baseline(base)), "--run", str(run),
                 "--output", str(tmp_path / "gate.md")],
        "gate-as-baseline": ["gate", "--baseline", str(run), "--run", str(base / "RUN"),
                             "--output", str(tmp_path / "gate2.md")],
        "resume": ["all", "--resume", "--out", str(run)],
        "baseline-save": ["baseline", "save", "--run", str(run), "--dir", str(tmp_path / "baselines")],
    }


def run_all(cmds: dict[str, list[str]], cwd: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """The commands at once (each its own `python -m bench` process), to keep the fuzz test short."""
    procs = {name: subprocess.Popen([sys.executable, "-m", "bench", *argv], cwd=cwd, env=fake_env(),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, argv in cmds.items()}
    done = {}
    for name, p in procs.items():
        out, err = p.communicate(timeout=120)
        done[name] = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    return done


def log(case: str, results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    path = os.environ.get("FRAMEBENCH_FUZZ_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            for name, p in results.items():
                f.write(f"{case}\t{name}\t{p.returncode}\t{p.stderr.strip()}\n")


def assert_refused(results: dict[str, subprocess.CompletedProcess[str]], expect: str) -> None:
    for name, p in results.items():
        lines = p.stderr.splitlines()
        assert p.returncode == 2, (name, p.returncode, p.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, p.stderr)
        assert "Traceback" not in p.stderr and p.stdout == "", (name, p.stdout, p.stderr)
        assert expect in lines[0], (name, lines[0])


# --------------------------------------------------------------------------- corruptions


def cells(run: Path) -> list[Path]:
    """The run's process result files, cells/<cell_id>/r<k>.json."""
    return sorted((run / "cells").glob("*/r*.json"))


def edit(path: Path, change: Callable[[Any], object]) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    change(d)
    path.write_text(json.dumps(d, indent=2), encoding="utf-8")


def in_cell(**values: Any) -> Callable[[Path, Path], None]:
    def mutate(run: Path, victim: Path) -> None:
        edit(cells(run)[0], lambda d: d.update(values))
    return mutate


def without(key: str) -> Callable[[Path, Path], None]:
    def mutate(run: Path, victim: Path) -> None:
        edit(cells(run)[0], lambda d: d.pop(key))
    return mutate


def cell_text(change: Callable[[str], str | bytes]) -> Callable[[Path, Path], None]:
    def mutate(run: Path, victim: Path) -> None:
        path = cells(run)[0]
        old = path.read_text(encoding="utf-8")
        new = change(old)
        assert new != old, "the corruption did not apply"
        path.write_bytes(new if isinstance(new, bytes) else new.encode("utf-8"))
    return mutate


def in_file(name: str, change: Callable[[Any], Any]) -> Callable[[Path, Path], None]:
    return lambda run, victim: edit(run / name, change)


def file_text(name: str, text: str) -> Callable[[Path, Path], None]:
    return lambda run, victim: (run / name).write_text(text, encoding="utf-8")


def steps_file(run: Path) -> Path:
    return sorted((run / "steps").glob("*/r*.jsonl"))[0]


def step_rows(change: Callable[[list[str]], list[str]]) -> Callable[[Path, Path], None]:
    def mutate(run: Path, victim: Path) -> None:
        p = steps_file(run)
        p.write_text("\n".join(change(p.read_text(encoding="utf-8").splitlines())) + "\n", encoding="utf-8")
    return mutate


def in_step(**values: Any) -> Callable[[Path, Path], None]:
    def change(lines: list[str]) -> list[str]:
        row = json.loads(lines[0])
        row.update(values)
        return [json.dumps(row), *lines[1:]]
    return step_rows(change)


def misnamed_cell(run: Path, victim: Path) -> None:
    first = cells(run)[0]
    second = next(p for p in cells(run) if p.parent != first.parent and p.name == first.name)
    second.write_bytes(first.read_bytes())  # a valid result under another cell's name


def planned(extra: str) -> Callable[[Path, Path], None]:
    return in_file("run.json", lambda d: d["cells_planned"].append(extra))


def duplicate_planned(run: Path, victim: Path) -> None:
    edit(run / "run.json", lambda d: d["cells_planned"].append(d["cells_planned"][0]))


def misnamed_steps(run: Path, victim: Path) -> None:
    (run / "steps" / "evil").mkdir()
    shutil.copy(steps_file(run), run / "steps" / "evil" / "r1.jsonl")


def copied_cell(name: str) -> Callable[[Path, Path], None]:
    """A valid result copied to another name beside it (``cells/<id>/<name>``, or ``cells/<name>``)."""
    def mutate(run: Path, victim: Path) -> None:
        first = cells(run)[0]
        shutil.copy(first, first.parent / name if "/" not in name else run / name)
    return mutate


def in_schedule(change: Callable[[list[dict[str, Any]]], object]) -> Callable[[Path, Path], None]:
    return in_file("run.json", lambda d: change(d["schedule"]))


def link_cells_out(run: Path, victim: Path) -> None:
    shutil.copytree(run / "cells", victim / "cells")
    shutil.rmtree(run / "cells")
    (run / "cells").symlink_to(victim / "cells")


def link_log_out(run: Path, victim: Path) -> None:
    cell = cells(run)[0]
    cell.unlink()  # --resume would run this process again and write its log
    log = run / "logs" / cell.parent.name / f"{cell.stem}.log"
    log.unlink()
    log.symlink_to(victim / "sub" / "keep.txt")


def link_work_out(run: Path, victim: Path) -> None:
    cell = cells(run)[0]
    cell.unlink()  # --resume would run this process again in (and tidy) its work directory
    work = run / "work" / cell.parent.name
    shutil.rmtree(work)
    work.symlink_to(victim)


def deep_nesting(text: str) -> str:
    return text.replace('"flags": {', '"flags": {"x": ' + "[" * 100_000 + "]" * 100_000 + ", ", 1)


CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    # cells/<id>.json
    "cell batch_size 'big'": (in_cell(batch_size="big"), "batch_size: Input should be a valid integer"),
    "cell median 'fast'": (in_cell(step_time_median_s="fast"), "step_time_median_s: Input should be a valid"),
    "cell framework 'jax'": (in_cell(framework="jax"), "framework: unknown framework 'jax'"),
    "cell model a path": (in_cell(model="../../victim/pwned"), "model: String should match pattern"),
    "cell status missing": (without("status"), "status: Field required"),
    "cell status 'great'": (in_cell(status="great"), "status: Input should be 'ok'"),
    "cell negative time": (in_cell(time_to_first_step_s=-1.5),
                           "time_to_first_step_s: Input should be greater"),
    "cell loss 'NaN' string": (in_cell(final_losses={"g": "NaN"}), "final_losses.g: Input should be a valid"),
    "cell NaN literal": (cell_text(lambda t: t.replace('"time_to_first_step_s": 0.5',
                                                       '"time_to_first_step_s": NaN')), "finite number"),
    "cell 5000-digit number": (cell_text(lambda t: t.replace('"n_steps": 3', '"n_steps": ' + "9" * 5000)),
                               "Exceeds the limit"),
    "cell schema 99": (in_cell(schema=99), "unsupported schema 99"),
    "cell not an object": (cell_text(lambda t: "[1, 2, 3]"), "not a JSON object"),
    "cell truncated": (cell_text(lambda t: t[: len(t) // 2]), "corrupt cell result"),
    "cell not UTF-8": (cell_text(lambda t: b"\xff\xfe{}"), "not UTF-8"),
    "cell nested 100000 deep": (cell_text(deep_nesting), "RecursionError"),
    "cell under another's name": (misnamed_cell, "does not match the file name"),
    "cell id not its fields": (in_cell(precision="bf16"), "does not match the cell's fields"),
    # the per-process layout and the replication fields (schema 3)
    "cell r0.json": (copied_cell("r0.json"), "not a process file (r<k>.json, k = 1, 2, ...)"),
    "cell flat file in a schema-3 run": (copied_cell("cells/x.json"),
                                         f"a schema-{SCHEMA_VERSION} run keeps cells/<cell_id>/r<k>.json"),
    "cell repeat 'one'": (in_cell(repeat="one"), "repeat: Input should be a valid integer"),
    "cell repeat 2 in r1.json": (in_cell(repeat=2), "repeat 2 does not match the file name (r1)"),
    "cell order not the schedule's": (in_cell(order=7), "disagree with the run's schedule"),
    "run schedule names an unplanned cell": (
        in_schedule(lambda s: s.append({**s[0], "order": len(s),
                                        "cell_id": "dcgan-64__torch__eager__cpu__fp32__b16__default"})),
        "is not planned (cells_planned)"),
    "run schedule entry a string": (in_schedule(lambda s: s.append("all")), "Input should be a valid dict"),
    # run.json
    "run traversal id": (planned(TRAVERSAL_ID), "malformed cell id"),
    "run id of framework 'jax'": (planned("dcgan-mnist__jax__eager__cpu__fp32__b1__default"),
                                  "framework: unknown framework 'jax'"),
    "run cells_planned a string": (in_file("run.json", lambda d: d.update(cells_planned="all")),
                                   "cells_planned: Input should be a valid list"),
    "run schema 99": (in_file("run.json", lambda d: d.update(schema=99)), "schema: Input should be 1, 2"),
    "run not an object": (file_text("run.json", '"hello"'), "Input should be a valid dictionary"),
    "run cell planned twice": (duplicate_planned, "is planned twice"),
    # steps/<id>.jsonl
    "steps last line truncated": (step_rows(lambda rows: [*rows[:-1], rows[-1][:20]]), "corrupt steps file"),
    "steps phase 'sprint'": (in_step(phase="sprint"), "phase: Input should be 'first'"),
    "steps row of another cell": (in_step(cell_id="dcgan-mnist__torch__eager__cpu__fp32__b1__default"),
                                  "is not the file's cell"),
    "steps file not named by a cell": (misnamed_steps, "the name is not a cell id"),
    "steps row of another process": (in_step(repeat=2), "repeat 2 is not the file's process (r1)"),
    # environment.json, roofline.json
    "environment fingerprint a path": (in_file("environment.json", lambda d: d["fingerprint"].update(
        hash="../../victim")), "fingerprint.hash: String should match pattern"),
    "environment gpus not objects": (in_file("environment.json", lambda d: d["gpu"].update(gpus=[1, 2])),
                                     "gpu.gpus[0]: Input should be a valid dictionary"),
    "roofline peak 'lots'": (file_text("roofline.json", '{"device": "cuda", "peak_flops": "lots"}'),
                             "peak_flops: Input should be a valid number"),
    # links out of the run
    "cells/ a link out": (link_cells_out, "is a link out of it"),
    "a log a link out": (link_log_out, "is a link out of it"),
    "a work directory a link out": (link_work_out, "is a link out of it"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_corrupted_run_is_refused_everywhere_and_nothing_is_touched(case: str, base: Path, tmp_path: Path,
                                                                    victim: Path) -> None:
    mutate, expect = CASES[case]
    run = copy_run(base, tmp_path)
    mutate(run, victim)
    top = tmp_path.parent
    before = snapshot(top, tmp_path)
    results = run_all(commands(run, base, tmp_path), tmp_path)
    log(case, results)
    assert snapshot(top, tmp_path) == before
    assert_refused(results, expect)


def test_the_good_run_passes_every_command(base: Path, tmp_path: Path, victim: Path) -> None:
    # The fuzz cases above fail because of their corruption alone: the same commands on the good copy pass.
    run = copy_run(base, tmp_path)
    before = snapshot(run, run)
    results = run_all(commands(run, base, tmp_path), tmp_path)
    for name, p in results.items():
        assert p.returncode == 0, (name, p.stderr)
    assert "nothing to resume" in results["resume"].stderr
    assert snapshot(run, run) == before  # reports, gates and baselines never write into the run


# --------------------------------------------------------------------------- bad baseline files


def baseline_edit(change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], str]:
    def text(d: dict[str, Any]) -> str:
        change(d)
        return json.dumps(d)
    return text


def newest_cells(d: dict[str, Any]) -> dict[str, Any]:
    """The cells of a baseline's newest run (schema 2 stores a history of runs)."""
    return d["runs"][-1]["cells"]


def first_cell(d: dict[str, Any]) -> dict[str, Any]:
    return next(iter(newest_cells(d).values()))


def traversal_key(d: dict[str, Any]) -> None:
    cells = newest_cells(d)
    cells[TRAVERSAL_ID] = cells.pop(next(iter(cells)))


BASELINES: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "truncated": (lambda d: json.dumps(d)[:100], "corrupt baseline"),
    "not an object": (lambda d: "[]", "Input should be a valid dictionary"),
    "kind": (baseline_edit(lambda d: d.update(kind="other")), "kind: Input should be 'framebench-baseline'"),
    "schema 3": (baseline_edit(lambda d: d.update(schema=3)), "schema: Input should be 1 or 2"),
    "no runs": (baseline_edit(lambda d: d.update(runs=[])), "a schema-2 baseline needs at least one run"),
    "samples 'fast'": (baseline_edit(lambda d: first_cell(d).update(samples_s=["fast"])),
                       "samples_s[0]: Input should be a valid number"),
    "traversal cell key": (baseline_edit(traversal_key), "malformed cell id"),
    "status 'great'": (baseline_edit(lambda d: first_cell(d).update(status="great")),
                       "status: Input should be"),
    "fingerprint a path": (baseline_edit(lambda d: d.update(fingerprint="../../etc")), "fingerprint: String"),
    "negative median": (baseline_edit(lambda d: first_cell(d).update(step_time_median_s=-1)),
                        "step_time_median_s: Input should be greater"),
    "cells an array": (baseline_edit(lambda d: d["runs"][-1].update(cells=[])),
                       "cells: Input should be a valid dict"),
    "framework 'jax'": (baseline_edit(lambda d: first_cell(d).update(framework="jax")),
                        "framework: unknown framework 'jax'"),
}


@pytest.mark.parametrize("case", list(BASELINES))
def test_corrupt_baseline_file_is_refused(case: str, base: Path, tmp_path: Path) -> None:
    text, expect = BASELINES[case]
    bad = tmp_path / "baseline.json"
    bad.write_text(text(json.loads(good_baseline(base).read_text(encoding="utf-8"))), encoding="utf-8")
    top = tmp_path.parent
    before = snapshot(top, tmp_path)
    results = run_all({"gate": ["gate", "--baseline", str(bad), "--run", str(base / "RUN"),
                                "--output", str(tmp_path / "gate.md")]}, tmp_path)
    log(f"baseline {case}", results)
    assert snapshot(top, tmp_path) == before
    assert_refused(results, expect)
    assert str(bad) in results["gate"].stderr


# --------------------------------------------------------------------------- the bullets, one by one


def test_traversal_id_in_run_json_makes_resume_delete_nothing(base: Path, tmp_path: Path,
                                                              victim: Path) -> None:
    run = copy_run(base, tmp_path)
    planned(TRAVERSAL_ID)(run, victim)
    before = snapshot(tmp_path, tmp_path)
    p = run_cli(["all", "--resume", "--out", str(run)], cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    n = len(json.loads((base / "RUN" / "run.json").read_text(encoding="utf-8"))["cells_planned"])
    assert f"cells_planned[{n}]: malformed cell id {TRAVERSAL_ID!r}" in p.stderr
    assert snapshot(tmp_path, tmp_path) == before
    assert (victim / "sub" / "deeper").is_dir()


def test_a_cell_that_bypasses_the_id_check_cannot_reach_outside(tmp_path: Path, victim: Path) -> None:
    # Defence in depth: even a Cell built in code (no parsing) gets no work directory outside the run.
    from bench.errors import BenchError
    from bench.launchers.slot import run_cell
    from bench.results import paths
    from bench.results.records import Cell, RunSettings

    run = tmp_path / "RUN"
    run.mkdir()
    cell = Cell("dcgan-mnist", "torch", "eager", "cpu", batch_size=1, variant="x/../../../victim")
    with pytest.raises(BenchError, match="malformed cell id"):
        run_cell(cell, RunSettings(), run)
    for path_of in (paths.work_dir, paths.log_path, paths.cell_result_path, paths.steps_path):
        with pytest.raises(BenchError, match="malformed cell id"):
            path_of(run, cell.cell_id)
    assert (victim / "sub" / "deeper").is_dir() and list(run.iterdir()) == []


def test_a_stored_model_that_is_a_path_makes_report_write_nothing(base: Path, tmp_path: Path,
                                                                 victim: Path) -> None:
    run = copy_run(base, tmp_path)
    in_cell(model="../victim/pwned")(run, victim)
    before = snapshot(tmp_path.parent, tmp_path)
    p = run_cli(["report", "--runs", str(run), "--out", str(tmp_path / "out")], cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "model: String should match pattern" in p.stderr
    assert snapshot(tmp_path.parent, tmp_path) == before
    assert not list(tmp_path.parent.rglob("pwned*"))


@pytest.mark.parametrize(("values", "message"), [
    ({"batch_size": "big"}, "batch_size: Input should be a valid integer (got 'big')"),
    ({"step_time_median_s": "fast"}, "step_time_median_s: Input should be a valid number (got 'fast')"),
    ({"framework": "jax"}, "framework: unknown framework 'jax'; valid choices: "),
])
def test_bad_stored_values_are_one_line_and_exit_2(values: dict[str, Any], message: str, base: Path,
                                                   tmp_path: Path, victim: Path) -> None:
    run = copy_run(base, tmp_path)
    in_cell(**values)(run, victim)
    p = run_cli(["report", "--runs", str(run), "--out", str(tmp_path / "out")], cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith(f"error: corrupt cell result {cells(run)[0]}: {message}")
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
