"""bench.launchers with several ranks per process slot: the merge rule, the registry's choice of a
launcher, a rank's device, and a launcher added from tests/ alone (tests/plugins/fakelauncher: two
ranks of the fake NumPy framework's real worker) through run_cell and through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from orch_helpers import fakes, set_plan  # noqa: F401 (fixture)

from bench.launchers.base import Launch, Launcher, LaunchOutcome
from bench.launchers.merge import RANK_MERGE, RankMismatch, merge_ranks
from bench.launchers.process import ProcessLauncher, run_ranks
from bench.launchers.slot import run_cell
from bench.plan.schedule import build_schedule
from bench.results.load import load_run, read_process_results, read_steps
from bench.results.paths import log_path, steps_path, work_dir
from bench.results.records import Cell, CellResult, RunSettings, StepRecord
from bench.results.write import create_run

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"
TOY = Cell("toy-ridge", "numpy", "eager", "cpu", "fp32", 32, workers=2)
SETTINGS = RunSettings(steps=5, warmup=1, window_steps=3, time_limit_s=120.0, intra_op_threads=1)


# --------------------------------------------------------------------------- the merge rule (pure)


def _rank(times: list[float], window: float, rss: int,
          losses: float = 1.0) -> tuple[CellResult, list[StepRecord]]:
    cell = Cell("toy-ridge", "numpy", "eager", "cpu", "fp32", 4, workers=2)
    rows = [StepRecord(cell.cell_id, 0, "first", 1.0, {"fit": losses})]
    rows += [StepRecord(cell.cell_id, i + 1, "timed", t, {"fit": losses}) for i, t in enumerate(times)]
    rows += [StepRecord(cell.cell_id, len(rows), "window", None, {"fit": losses})]
    result = CellResult(cell=cell, status="ok", flags={"batch_size": 4}, time_to_first_step_s=1.0,
                        window_steps=1, window_time_s=window, throughput_img_s=4 / window,
                        flops_per_step=100.0, peak_flops=1e9, fraction_of_peak=0.5, peak_rss_bytes=rss,
                        recompiles=1, compile_warnings=["w"], final_losses={"fit": losses})
    return result, rows


def test_the_slowest_rank_sets_each_step_and_throughput_counts_every_rank() -> None:
    r0, s0 = _rank([1.0, 3.0, 1.0], window=2.0, rss=10)
    r1, s1 = _rank([2.0, 1.0, 2.0], window=4.0, rss=30, losses=9.0)
    merged, rows = merge_ranks(r0.cell, [r0, r1], [s0, s1])
    assert [r.step_time_s for r in rows if r.phase == "timed"] == [2.0, 3.0, 2.0]
    assert merged.step_time_median_s == 2.0 and merged.n_steps == 3
    assert merged.window_time_s == 4.0 and merged.throughput_img_s == 2 * 1 * 4 / 4.0
    assert merged.peak_rss_bytes == 30  # the largest rank's
    assert merged.flops_per_step == 200.0 and merged.achieved_flops == 100.0
    assert merged.fraction_of_peak is None and merged.peak_flops is None
    assert merged.recompiles == 2 and merged.compile_warnings == ["w", "rank 1: w"]
    assert merged.final_losses == {"fit": 1.0} and {r.losses["fit"] for r in rows} == {1.0}  # rank 0's
    assert merged.flags["world_size"] == 2 and merged.flags["rank_merge"] == RANK_MERGE
    assert [r["peak_rss_bytes"] for r in merged.flags["ranks"]] == [10, 30]
    assert r0.flags == {"batch_size": 4}  # the ranks' own records are left as they were


def test_a_rank_that_did_not_end_ok_is_the_slots_record() -> None:
    r0, s0 = _rank([1.0], window=1.0, rss=1)
    r1, s1 = _rank([1.0], window=1.0, rss=1)
    r1.status, r1.reason = "diverged", "non-finite loss"
    merged, _ = merge_ranks(r0.cell, [r0, r1], [s0, s1])
    assert merged.status == "diverged" and merged.reason == "rank 1: non-finite loss"
    one, rows = merge_ranks(r0.cell, [r0], [s0])
    assert one is r0 and rows == s0


def test_ranks_that_ran_other_steps_do_not_merge() -> None:
    r0, s0 = _rank([1.0, 1.0], window=1.0, rss=1)
    r1, s1 = _rank([1.0], window=1.0, rss=1)
    with pytest.raises(RankMismatch):
        merge_ranks(r0.cell, [r0, r1], [s0, s1])


# --------------------------------------------------------------------------- the device of a rank


def test_a_worker_spec_carries_its_rank_and_old_specs_load(tmp_path: Path) -> None:
    from bench.worker.main import WorkerSpec

    spec = {"cell": TOY.to_dict(), "settings": {}, "result_path": str(tmp_path / "r.json")}
    (tmp_path / "old.json").write_text(json.dumps(spec))
    old = WorkerSpec.load(tmp_path / "old.json")
    assert (old.rank, old.world_size, old.device_index) == (0, 1, 0)
    (tmp_path / "new.json").write_text(json.dumps({**spec, "rank": 1, "world_size": 2, "device_index": 1}))
    new = WorkerSpec.load(tmp_path / "new.json")
    assert (new.rank, new.world_size, new.device_index) == (1, 2, 1)


def test_a_backend_takes_its_device_index_from_the_launch() -> None:
    from bench.frameworks.base import Backend

    cuda = Cell("toy-ridge", "numpy", "eager", "cuda", "fp32", 4)
    assert Backend(cuda, SETTINGS, {}, device_index=1).device_name() == "cuda:1"
    assert Backend(cuda, SETTINGS, {}, device_index=1).gpu_index() == 1
    assert Backend(cuda, SETTINGS, {}).device_name() == "cuda:0"
    assert Backend(TOY, SETTINGS, {}, device_index=1).device_name() == "cpu"
    assert Backend(TOY, SETTINGS, {}, device_index=1).gpu_index() is None


# --------------------------------------------------------------------------- a launcher from tests/


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """fakeplug and fakelauncher registered in this process (into copies of the registries) and named
    in the environment the workers inherit."""
    import bench.launchers as launchers
    from bench.frameworks import registry as fw_registry
    from models import registry as model_registry

    for k in [k for k in os.environ if k.startswith("FRAMEBENCH_")]:
        monkeypatch.delenv(k)
    fw_registry.frameworks(), model_registry.families()
    monkeypatch.setattr(fw_registry, "_REGISTRY", dict(fw_registry._REGISTRY))
    monkeypatch.setattr(model_registry, "_FAMILIES", dict(model_registry._FAMILIES))
    monkeypatch.setattr(launchers._REGISTRY, "modules", dict(launchers._REGISTRY.modules))
    monkeypatch.syspath_prepend(str(PLUGINS))
    for name in [m for m in sys.modules if m.split(".")[0] in ("fakeplug", "fakelauncher")]:
        monkeypatch.delitem(sys.modules, name)
    import fakelauncher  # noqa: F401
    import fakeplug  # noqa: F401

    monkeypatch.setenv("FRAMEBENCH_PLUGINS", "fakeplug,fakelauncher")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(PLUGINS), str(ROOT)]))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _new_run(root: Path, cell: Cell) -> Path:
    return create_run(root / "run", SETTINGS, ["test"], "quick", [cell],
                            schedule=build_schedule([cell], 2, seed=0))


def test_the_registry_picks_a_launcher_per_cell(plugins: Path) -> None:
    from bench.launchers import launcher_for, skip_reason

    assert launcher_for(TOY) == "two-ranks" and skip_reason(TOY) is None
    one = Cell("toy-ridge", "numpy", "eager", "cpu", "fp32", 32)
    assert launcher_for(one) == "process"
    three = Cell("toy-ridge", "numpy", "eager", "cpu", "fp32", 32, workers=3)
    assert launcher_for(three) is None and "no launcher starts 3 ranks of numpy" in (skip_reason(three) or "")


def test_two_ranks_of_the_real_worker_merge_into_one_stored_record(plugins: Path) -> None:
    run = _new_run(plugins, TOY)
    result = run_cell(TOY, SETTINGS, run, repeat=1, block=0, order=0)
    assert result.status == "ok", (result.reason, result.error_tail)
    assert result.flags["merged_by"] == "two-ranks" and result.flags["world_size"] == 2
    ranks = result.flags["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["status"] == "ok" for r in ranks)
    # The slot's step is the slowest rank's: its median is no faster than either rank's.
    assert result.step_time_median_s >= max(r["step_time_median_s"] for r in ranks)
    assert result.throughput_img_s == pytest.approx(2 * 3 * 32 / result.window_time_s)
    # One stored record and one steps file, as for a slot of one rank; a log per rank.
    stored = read_process_results(run)
    assert list(stored) == [(TOY.cell_id, 1)] and stored[(TOY.cell_id, 1)].flags["world_size"] == 2
    steps = read_steps(steps_path(run, TOY.cell_id, 1))
    assert len(steps) == 1 + 1 + 5 + 3 and {s["repeat"] for s in steps} == {1}
    logs = log_path(run, TOY.cell_id, 1)
    assert logs.is_file() and logs.with_name("r1.rank1.log").is_file()
    work = work_dir(run, TOY.cell_id)
    spec1 = json.loads((work / "spec-r1.rank1.json").read_text())
    assert (spec1["rank"], spec1["world_size"]) == (1, 2)
    assert not list(work.glob("result-*")) and not list(work.glob("steps-*"))  # nothing left behind
    data = load_run(run)  # the merged record loads like any other
    assert data.cells.loc[0, "status"] == "ok"


def test_a_crashing_rank_fails_the_slot_and_the_next_slot_runs(plugins: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    run = _new_run(plugins, TOY)
    monkeypatch.setenv("FAKELAUNCHER_CRASH_RANK", "1")
    crashed = run_cell(TOY, SETTINGS, run, repeat=1, block=0, order=0)
    assert crashed.status == "failed" and crashed.reason.startswith("rank 1: worker died from SIGSEGV")
    assert "rank going down" in (crashed.error_tail or "")
    assert not steps_path(run, TOY.cell_id, 1).exists()
    monkeypatch.delenv("FAKELAUNCHER_CRASH_RANK")
    again = run_cell(TOY, SETTINGS, run, repeat=2, block=1, order=1)
    assert again.status == "ok", again.reason
    assert {k: r.status for k, r in read_process_results(run).items()} == {
        (TOY.cell_id, 1): "failed", (TOY.cell_id, 2): "ok"}


class _AnyCell(Launcher):
    """Every rank a plain process, whatever the cell; killed half a second after the time limit."""

    @classmethod
    def accepts(cls, cell: Cell) -> str | None:
        return None

    def launch(self, job: Launch) -> LaunchOutcome:
        return run_ranks(job, kill_grace_s=0.5)


def test_hung_ranks_time_out_together_and_none_is_left(fakes: Path,  # noqa: F811
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    set_plan(monkeypatch, {"__eager__": "hang"})
    cell = Cell("dcgan-mnist", "torch", "eager", "cpu", "fp32", 8, workers=2)
    settings = RunSettings(steps=3, warmup=1, window_steps=2, time_limit_s=1.5)
    result = run_cell(cell, settings, fakes / "run", launcher=_AnyCell())
    assert result.status == "timeout" and "1.5 s" in result.reason
    assert "fake worker starting" in (result.error_tail or "")
    pid = int((work_dir((fakes / "run").resolve(), cell.cell_id) / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert ProcessLauncher.accepts(cell) is not None  # one rank only


# --------------------------------------------------------------------------- through the real CLI


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMEBENCH_")}
    env.update(FRAMEBENCH_PLUGINS="fakeplug,fakelauncher",
               PYTHONPATH=os.pathsep.join([str(PLUGINS), str(ROOT)]), **extra)
    return env


def _bench(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=_env(**env),
                          capture_output=True, text=True, timeout=300)


def _has_workers_option() -> bool:
    out = subprocess.run([sys.executable, "-m", "bench", "all", "--help"], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=120).stdout
    return "--workers" in out


@pytest.mark.skipif(not _has_workers_option(), reason="`bench all --workers` (the workers axis filter of "
                    "issue 19 item 1) is not on this branch yet")
def test_the_plugin_launcher_runs_through_bench_all_and_report(plugins: Path) -> None:
    tmp_path = plugins  # the stored names are checked against the registries (plugins loaded here too)
    run = tmp_path / "runs" / "two"
    proc = _bench("all", "--models", "toy-ridge", "--frameworks", "numpy", "--devices", "cpu",
                  "--workers", "2", "--out", str(run), "--steps", "5", "--warmup", "1", "--window-steps", "3",
                  "--repeats", "2", "--no-report", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = read_process_results(run)
    assert sorted(k for _, k in results) == [1, 2]
    assert all(r.status == "ok" and r.flags["merged_by"] == "two-ranks" for r in results.values())
    proc = _bench("report", "--runs", str(run), "--out", str(tmp_path / "reports"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "toy-ridge" in (tmp_path / "reports" / "README.md").read_text()
