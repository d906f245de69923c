"""bench.launchers.engine: a torch cell of two ranks under torchrun (gloo on this CPU) with DDP around
its modules, and a TensorFlow one under MultiWorkerMirroredStrategy (TF_CONFIG), each merged into one
stored record; a rank killed mid-run fails the slot, names the rank, and leaves no process behind;
DDP's gradients are the ranks' mean."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bench.frameworks.torch.ranks import command as torchrun_command
from bench.frameworks.torch.ranks import root_cause
from bench.launchers import launcher_for
from bench.launchers.base import Launch, LaunchOutcome
from bench.launchers.engine import EngineLauncher as TorchrunLauncher
from bench.launchers.engine import entry_args
from bench.launchers.slot import run_cell
from bench.plan.schedule import build_schedule
from bench.results.load import load_run, read_process_results
from bench.results.records import Cell, RunSettings
from bench.results.write import create_run
from bench.worker import rank as rank_entry

CELL = Cell("dcgan-mnist", "torch", "eager", "cpu", "fp32", 8, workers=2)
SETTINGS = RunSettings(steps=3, warmup=1, window_steps=2, time_limit_s=180.0)

SUMMARY = """[rank0]: RuntimeError: [gloo] Connection closed by peer
============================================================
bench.worker.rank FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-07_16:00:00
  rank      : 0 (local_rank: 0)
  exitcode  : 1 (pid: 11)
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-07_16:00:00
  host      : box
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 12)
  error_file: <N/A>
============================================================
"""


def test_torchrun_takes_torch_cells_of_several_ranks_only() -> None:
    assert TorchrunLauncher.accepts(CELL) is None and launcher_for(CELL) == "engine"
    one = Cell("dcgan-mnist", "torch", "eager", "cpu", "fp32", 8)
    assert TorchrunLauncher.accepts(one) is not None and launcher_for(one) == "process"
    numpy = Cell("toy-ridge", "numpy", "eager", "cpu", "fp32", 8, workers=2)
    assert "no multi-process launcher" in (TorchrunLauncher.accepts(numpy) or "")
    cuda = Cell("dcgan-mnist", "torch", "eager", "cuda", "fp32", 8, workers=2)
    assert [TorchrunLauncher().device_index(cuda, k) for k in (0, 1)] == [0, 1]
    assert TorchrunLauncher().device_index(CELL, 1) == 0


def test_the_agent_command_names_each_ranks_spec_and_log_and_its_summary_names_the_failed_rank(
        tmp_path: Path) -> None:
    from bench.launchers.base import RankJob

    ranks = tuple(RankJob(k, ["py", "-m", "bench.worker.main", f"s{k}.json"], tmp_path / f"l{k}.log")
                  for k in (0, 1))
    job = Launch(CELL, ranks[0].command, tmp_path, ranks[0].log_path, {}, 10.0, ranks=ranks)
    cmd = torchrun_command("py", 2, entry_args(job))
    assert cmd[:4] == ["py", "-m", "torch.distributed.run", "--standalone"]
    assert "--nproc-per-node=2" in cmd and "--max-restarts=0" in cmd
    assert cmd[cmd.index("-m", 3):] == ["-m", "bench.worker.rank", "s0.json", str(tmp_path / "l0.log"),
                                        "s1.json", str(tmp_path / "l1.log")]
    assert root_cause(SUMMARY) == (1, -9) and root_cause("no summary") is None


def test_a_rank_entry_without_its_rank_is_bad_input(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RANK", "2")
    assert rank_entry.main(["s0.json", "l0.log", "s1.json", "l1.log"]) == 2
    assert "names none of the 2" in capsys.readouterr().err
    monkeypatch.delenv("RANK")
    assert rank_entry.main(["s0.json", "l0.log"]) == 2


def _run_dir(root: Path) -> Path:
    return create_run(root / "run", SETTINGS, ["test"], "full", [CELL],
                      schedule=build_schedule([CELL], 1, seed=0))


def _processes_naming(text: str) -> list[int]:
    """Live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
def test_two_gloo_ranks_of_a_gan_run_under_ddp_and_merge_into_one_record(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    run = _run_dir(tmp_path)
    result = run_cell(CELL, SETTINGS, run, repeat=1, block=0, order=0)
    assert result.status == "ok", (result.reason, result.error_tail)
    f = result.flags
    assert f["dist_backend"] == "gloo" and f["world_size"] == 2
    assert f["ddp"].startswith("DistributedDataParallel")
    assert f["threads_per_rank"] == f["intra_op_threads"] and f["threads_total"] == 2 * f["threads_per_rank"]
    assert f["compiled"] == "nothing" and "weak scaling" in f["global_batch_rule"]
    assert [r["status"] for r in f["ranks"]] == ["ok", "ok"]
    assert result.throughput_img_s == pytest.approx(2 * 2 * 8 / result.window_time_s)
    assert read_process_results(run)[(CELL.cell_id, 1)].flags["world_size"] == 2
    assert load_run(run).cells.loc[0, "status"] == "ok"
    assert not _processes_naming(str(run))


class _KillRankOne(TorchrunLauncher):
    """Kills rank 1's process (SIGKILL) once it has run a while, as the OOM killer would: torchrun's
    rank (RANK=1; the agent's command names every spec) or TensorFlow's worker 1 (TF_CONFIG)."""

    def launch(self, job: Launch) -> LaunchOutcome:
        spec1 = job.rank_jobs[1].command[-1]

        def kill() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                # The agent's command names every spec; rank 1's process is the entry whose RANK is 1.
                for pid in _processes_naming(spec1):
                    try:
                        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                    except OSError:
                        continue
                    torchrun_rank = b"RANK=1" in env and any(e.startswith(b"LOCAL_RANK=") for e in env)
                    tf_config = b"".join(e for e in env if e.startswith(b"TF_CONFIG="))
                    if torchrun_rank or b'"index": 1' in tf_config:
                        time.sleep(3.0)  # into its import or its steps: either way a rank is lost
                        os.kill(pid, signal.SIGKILL)
                        return
                time.sleep(0.1)

        threading.Thread(target=kill, daemon=True).start()
        return super().launch(job)


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_a_killed_rank_fails_the_slot_names_the_rank_and_leaves_nothing_running(tmp_path: Path,
                                                                                  framework: str) -> None:
    pytest.importorskip(framework)
    cell = replace(CELL, framework=framework)
    run = create_run(tmp_path / "run", SETTINGS, ["test"], "full", [cell],
                     schedule=build_schedule([cell], 1, seed=0))
    result = run_cell(cell, SETTINGS, run, repeat=1, block=0, order=0,
                      launcher=_KillRankOne(kill_grace_s=2.0))
    assert result.status in ("failed", "oom"), (result.status, result.reason)
    assert (result.reason or "").startswith("rank 1: "), result.reason
    assert read_process_results(run)[(cell.cell_id, 1)].status == result.status
    time.sleep(0.5)
    assert not _processes_naming(str(run))


def test_two_rank_cells_are_in_full_only_never_in_quick() -> None:
    from bench.plan import matrix, profiles

    probes = {fw: {"installed": True, "cuda": False, "devices": [], "reason": None, "cuda_build": False}
              for fw in ("tensorflow", "torch")}
    quick = matrix.build_matrix(profiles.get_profile("quick"), probes, matrix.Filters())
    assert {p.cell.workers for p in quick} == {1}
    full = matrix.build_matrix(profiles.get_profile("full"), probes, matrix.Filters(devices=("cpu",)))
    two = [p for p in full if p.cell.workers == 2]
    assert two and all((p.cell.mode, p.cell.variant, p.cell.precision) == ("eager", "default", "fp32")
                       for p in two)
    assert all(p.runnable for p in two)  # torch under torchrun, tensorflow under its strategy
    named = matrix.build_matrix(profiles.get_profile("quick"), probes,
                                matrix.Filters(frameworks=("torch",), workers=(1, 2)))
    assert {p.cell.workers for p in named} == {1, 2}


def test_a_cpu_slots_threads_are_split_among_its_ranks() -> None:
    from bench.worker.flags import plan_flags

    two = RunSettings(intra_op_threads=2, inter_op_threads=2)
    plan = plan_flags(CELL, two)
    assert (plan["intra_op_threads"], plan["inter_op_threads"]) == (1, 1)
    assert plan["env"]["OMP_NUM_THREADS"] == "1"  # set, not left to the engine
    one_rank = plan_flags(Cell("dcgan-mnist", "torch", "eager", "cpu", "fp32", 8), two)
    assert one_rank["intra_op_threads"] == 2 and "OMP_NUM_THREADS" not in one_rank["env"]
    assert plan_flags(CELL, RunSettings(intra_op_threads=1))["intra_op_threads"] == 1


def test_the_scaling_section_gives_the_efficiency_of_each_multi_rank_cell() -> None:
    from bench.report.pages.scaling import scaling_section

    base = {"run_id": "r", "model": "dcgan-mnist", "framework": "torch", "mode": "eager", "device": "cpu",
            "precision": "fp32", "batch_size": 8, "variant": "default", "scenario": "train", "status": "ok"}
    one = {**base, "workers": 1, "throughput_img_s": 100.0, "process_throughputs": (99.0, 100.0, 101.0),
           "flags": {"intra_op_threads": 2}}
    two = {**base, "workers": 2, "throughput_img_s": 150.0, "process_throughputs": (149.0, 150.0, 151.0),
           "flags": {"threads_per_rank": 1}}
    assert scaling_section("dcgan-mnist", [one]) == ""  # one-rank pages stay as they were
    text = scaling_section("dcgan-mnist", [one, two])
    assert text.startswith("## Scaling") and "| 1 × 2 | 2 × 1 | 100 | 150 | 75.0 | 0.75 [" in text
    assert "| processes vs threads (same thread count) |" in text
    one["flags"] = {"intra_op_threads": 1}
    assert "| 2× the threads |" in scaling_section("dcgan-mnist", [one, two])
    alone = scaling_section("dcgan-mnist", [two])
    assert "no 1-rank cell" in alone


def test_the_scaling_plot_draws_images_per_second_and_efficiency_against_ranks(tmp_path: Path) -> None:
    """Each multi-rank cell with its one-rank cell is a series (global images/s and E(N) per N), drawn
    into one PNG byte-identically from the same data; a cell without its one-rank cell is no series."""
    from bench.report.pages.figures import scaling_drawing
    from bench.report.pages.scaling import scaling_series

    base = {"run_id": "r", "model": "vae-mnist", "mode": "eager", "device": "cpu", "precision": "fp32",
            "batch_size": 8, "variant": "default", "scenario": "train", "status": "ok"}
    rows = []
    for fw, two_rate in (("torch", 150.0), ("tensorflow", 120.0)):
        rows += [{**base, "framework": fw, "workers": 1, "throughput_img_s": 100.0,
                  "process_throughputs": (99.0, 100.0, 101.0)},
                 {**base, "framework": fw, "workers": 2, "throughput_img_s": two_rate,
                  "process_throughputs": (two_rate - 1, two_rate, two_rate + 1)}]
    series = {s.framework: s for s in scaling_series(rows)}
    assert series["torch"].ranks == (1, 2) and series["torch"].images_per_s == (100.0, 150.0)
    assert series["torch"].efficiency[0] is None and series["torch"].efficiency[1] == pytest.approx(0.75)
    assert series["tensorflow"].efficiency[1] == pytest.approx(0.60)
    assert scaling_series([r for r in rows if r["workers"] == 2]) == []
    draw = scaling_drawing("vae-mnist", list(series.values()))
    a, b = draw(tmp_path / "a.png"), draw(tmp_path / "b.png")
    assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and a.read_bytes() == b.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["vae-mnist", "dcgan-mnist"])
def test_ddp_averages_each_modules_gradients_across_two_ranks(model: str, tmp_path: Path) -> None:
    """float64, 2 gloo ranks under torchrun: each rank's gradients after a DDP step are the mean of the
    ranks' own; for the VAE (no BatchNorm) that is one process's gradient of the global batch, exact up
    to summation order. The GAN's discriminator runs twice per step (real, fake) under one DDP wrapper;
    its BatchNorm normalises each rank's shard with its own statistics, so its global-batch gradient
    differs (stated, not tested equal)."""
    import subprocess
    import sys

    pytest.importorskip("torch")
    out = tmp_path / "diff.json"
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    script = root / "tests" / "ddp_gradients_check.py"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node=2", str(script), model, str(out)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    diff = json.loads(out.read_text())
    assert diff["own_shard_vs_mean"] > 1e-6 * diff["scale"]  # the shards' gradients do differ
    assert diff["vs_mean_of_ranks"] <= 1e-12 * diff["scale"]
    if model == "vae-mnist":
        assert diff["vs_global_batch"] <= 1e-12 * diff["scale"]


def test_tensorflow_ranks_get_a_cluster_of_free_local_ports() -> None:
    from bench.frameworks.tensorflow import ranks as tf_ranks
    from bench.launchers.engine import free_ports

    tf = Cell("dcgan-mnist", "tensorflow", "eager", "cpu", "fp32", 8, workers=2)
    assert TorchrunLauncher.accepts(tf) is None and launcher_for(tf) == "engine"
    assert "CPU cells only" in (TorchrunLauncher.accepts(replace(tf, device="cuda")) or "")
    ports = free_ports(2)
    assert len(set(ports)) == 2
    config = json.loads(tf_ranks.rank_env(2, 1, ports)["TF_CONFIG"])
    assert config == {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                      "task": {"type": "worker", "index": 1}}


@pytest.mark.slow
def test_two_tensorflow_workers_run_under_multiworkermirroredstrategy(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    cell = replace(CELL, framework="tensorflow")
    run = create_run(tmp_path / "run", SETTINGS, ["test"], "full", [cell],
                     schedule=build_schedule([cell], 1, seed=0))
    result = run_cell(cell, SETTINGS, run, repeat=1, block=0, order=0)
    assert result.status == "ok", (result.reason, result.error_tail)
    f = result.flags
    assert f["engine"] == "MultiWorkerMirroredStrategy" and f["replicas"] == 2 and f["world_size"] == 2
    assert f["threads_total"] == 2 * f["threads_per_rank"] and "SUM" in f["gradient_reduction"]
    assert [r["status"] for r in f["ranks"]] == ["ok", "ok"]
    assert load_run(run).cells.loc[0, "status"] == "ok"
    assert not _processes_naming(str(run))
