"""TensorFlow's workers across machines (``--nodes M --node-rank K --tf-workers HOST:PORT,...``): the list
checked up front (one line, exit 2), the cluster every node spells out alike, the TF_CONFIG each of this
node's ranks gets (its global task index), and two "nodes" on 127.0.0.1, one worker each."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from bench.errors import BenchError
from bench.frameworks.tensorflow.ranks import cluster, nodes_error, rank_env
from bench.launchers.base import Launch, LaunchOutcome, Nodes, RankJob
from bench.plan.scaleout import check_cells_span, check_nodes, tf_worker_addresses
from bench.results.records import Cell, CellResult, RunSettings

TF2 = Cell("dcgan-mnist", "tensorflow", "eager", "cpu", "fp32", 8, workers=2)
TF4 = Cell("dcgan-mnist", "tensorflow", "eager", "cpu", "fp32", 8, workers=4)
TORCH2 = Cell("dcgan-mnist", "torch", "eager", "cpu", "fp32", 8, workers=2)


def _nodes(count: int, entries: str, rank: int = 0, master: str = "") -> Nodes:
    return Nodes(count, rank, master, tuple(entries.split(",")) if entries else ())


def test_one_address_per_node_gives_its_workers_consecutive_ports() -> None:
    assert cluster(4, _nodes(2, "a:5000,b:6000")) == ["a:5000", "a:5001", "b:6000", "b:6001"]
    assert cluster(2, _nodes(2, "a:5000,b:6000")) == ["a:5000", "b:6000"]
    assert cluster(4, _nodes(2, "a:1,b:2,c:3,d:4")) == ["a:1", "b:2", "c:3", "d:4"]  # one per rank
    assert cluster(4, _nodes(2, "[::1]:7000,[::1]:7002")) == ["[::1]:7000", "[::1]:7001", "[::1]:7002",
                                                             "[::1]:7003"]


@pytest.mark.parametrize(("world", "entries", "why"), [
    (4, "a:1,b:2,c:3", "3 address(es) for a 4-rank cell on 2 nodes; give 2 (one HOST:PORT per node"),
    (4, "h:5000,h:5001", "ranks 1 and 2 of a 4-rank cell would both listen on h:5001"),
    (4, "h:65535,g:1", "node 0's 2 workers need ports 65535 to 65536, past 65535"),
    (2, "", "tensorflow cells need --tf-workers"),
    (2, "a:1,b:2,c:3", "3 address(es) for a 2-rank cell on 2 nodes; give 2 (one HOST:PORT per node, its "
                       "workers on consecutive ports)"),
])
def test_a_list_that_does_not_fit_the_cell_is_refused(world: int, entries: str, why: str) -> None:
    with pytest.raises(ValueError) as e:
        cluster(world, _nodes(2, entries))
    assert why in str(e.value)
    assert nodes_error(world, _nodes(2, entries)) == str(e.value)


def test_each_rank_gets_the_whole_cluster_and_its_global_index() -> None:
    config = json.loads(rank_env(4, 3, ["a:5000", "a:5001", "b:6000", "b:6001"])["TF_CONFIG"])
    assert config == {"cluster": {"worker": ["a:5000", "a:5001", "b:6000", "b:6001"]},
                      "task": {"type": "worker", "index": 3}}
    local = json.loads(rank_env(2, 0, [41000, 41001])["TF_CONFIG"])  # one machine: free local ports
    assert local["cluster"]["worker"] == ["localhost:41000", "localhost:41001"]


def test_this_nodes_workers_start_as_their_global_tasks(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """Node 1 of 2 runs ranks 2 and 3 of a 4-rank cell: each gets the 4 workers and its own index."""
    from bench.launchers import engine

    seen: dict[int, dict[str, str]] = {}

    def fake_run_ranks(job: Launch, grace: float, env_of_rank: dict[int, dict[str, str]]) -> LaunchOutcome:
        seen.update(env_of_rank)
        return LaunchOutcome(returncode=0, returncodes=(0, 0))

    monkeypatch.setattr(engine, "run_ranks", fake_run_ranks)
    ranks = tuple(RankJob(k, ["py", f"s{k}"], tmp_path / f"l{k}.log") for k in (0, 1))
    nodes = _nodes(2, "10.0.0.5:5000,10.0.0.6:5000", rank=1)
    job = Launch(TF4, ["py"], tmp_path, tmp_path / "l0.log", {"KEEP": "1"}, 10.0, ranks=ranks, nodes=nodes)
    assert engine.EngineLauncher().launch(job).start_error is None
    configs = {k: json.loads(env["TF_CONFIG"]) for k, env in seen.items()}
    workers = ["10.0.0.5:5000", "10.0.0.5:5001", "10.0.0.6:5000", "10.0.0.6:5001"]
    assert {k: (c["task"]["index"], c["cluster"]["worker"]) for k, c in configs.items()} == \
        {0: (2, workers), 1: (3, workers)}
    assert all(env["KEEP"] == "1" for env in seen.values())
    bad = Launch(TF4, ["py"], tmp_path, tmp_path / "l0.log", {}, 10.0, ranks=ranks,
                 nodes=_nodes(2, "h:1,h:2,h:3"))
    assert "3 address(es)" in (engine.EngineLauncher().launch(bad).start_error or "")


def test_the_list_is_checked_with_the_machine_options_and_the_cells() -> None:
    assert tf_worker_addresses(" a:5000 , [::1]:80,b.lan:7") == "a:5000,[::1]:80,b.lan:7"
    for bad, why in (("a:5000,,b:1", "an empty entry"), ("a", "expected HOST:PORT"), ("a:0", "port of 1"),
                     ("a:1,a:1", "a:1 is given twice")):
        with pytest.raises(BenchError, match=why):
            tf_worker_addresses(bad)
    options = check_nodes({"nodes": 2, "node_rank": 1, "tf_workers": "a:1, b:1"})
    assert options["tf_workers"] == "a:1,b:1" and "master" not in options
    with pytest.raises(BenchError, match="need --nodes 2 or more"):
        check_nodes({"tf_workers": "a:1,b:1"})
    with pytest.raises(BenchError, match="--tf-workers HOST:PORT"):
        check_nodes({"nodes": 2, "node_rank": 0})
    check_cells_span([TF2, TF4], options)  # 2 entries: one per node fits any multiple of 2
    with pytest.raises(BenchError, match=r"4 address\(es\) for a 2-rank cell"):
        check_cells_span([TF4, TF2], {**options, "tf_workers": "a:1,a:2,b:1,b:2"})
    with pytest.raises(BenchError, match="torch cells need node 0's --master"):
        check_cells_span([TF2, TORCH2], options)
    with pytest.raises(BenchError, match="tensorflow cells need --tf-workers"):
        check_cells_span([TORCH2, TF2], {"nodes": 2, "node_rank": 0, "master": "h:1"})
    check_cells_span([TORCH2, TF2], {**options, "master": "h:1"})


@pytest.mark.slow
def test_two_nodes_on_localhost_run_one_tensorflow_cell_of_two_workers(tmp_path: Path) -> None:
    """Two nodes on 127.0.0.1, one MultiWorkerMirroredStrategy worker each, from the same --tf-workers
    list, as two machines would run them: each node stores its own worker's record, counting both; the
    cell's second slot right after the first, on the same ports."""
    pytest.importorskip("tensorflow")
    from test_scale_out import _processes_naming

    from bench.frameworks.registry import frameworks
    from bench.launchers import launcher_for
    from bench.launchers.engine import free_ports
    from bench.launchers.slot import run_cell
    from bench.plan.schedule import build_schedule
    from bench.results.write import create_run
    from models.registry import families

    # The registries load once, lazily, and not thread-safely: load them before the two "nodes" share
    # this process (each real node is a process of its own).
    frameworks(), families()
    assert launcher_for(TF2) == "engine"
    workers = ",".join(f"127.0.0.1:{p}" for p in free_ports(2))
    results: dict[int, list[CellResult]] = {}

    def node(k: int) -> None:
        settings = RunSettings(steps=3, warmup=1, window_steps=2, time_limit_s=150.0, nodes=2, node_rank=k,
                               tf_workers=workers)
        run = create_run(tmp_path / f"node{k}", settings, ["test"], "full", [TF2],
                         schedule=build_schedule([TF2], 2, seed=0))
        results[k] = [run_cell(TF2, settings, run, repeat=r, block=r - 1, order=r - 1) for r in (1, 2)]

    threads = [threading.Thread(target=node, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=400)
    for k, r in [(n, r) for n in (0, 1) for r in results[n]]:
        assert r.status == "ok", (k, r.repeat, r.reason, r.error_tail)
        f: dict[str, Any] = r.flags
        assert (f["world_size"], f["rank"], f["replicas"]) == (2, k, 2)
        assert [x["rank"] for x in f["ranks"]] == [k]  # this node's worker only
        assert r.throughput_img_s == pytest.approx(2 * 2 * 8 / r.window_time_s)  # both workers' images
        assert r.settings["nodes"] == 2 and r.settings["tf_workers"] == workers
    assert not _processes_naming(str(tmp_path))
