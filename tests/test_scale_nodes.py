"""Ranks across machines (``--nodes M --node-rank K --master HOST:PORT``): torchrun's agents with
``--nnodes``/``--node-rank``/``--master-addr``/``--master-port`` instead of ``--standalone``, each
machine running its share of a cell's ranks and storing its own run; the inputs checked up front (one
line, exit 2); and two "nodes" on 127.0.0.1, one rank each, merged into each node's record."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from test_launcher_ranks import _bench, plugins  # noqa: F401 (fixture)

from bench.errors import BenchError
from bench.frameworks.torch.ranks import command as torchrun_command
from bench.launchers.base import Nodes
from bench.plan.scaleout import check_nodes, master_address
from bench.results.records import CellResult, RunSettings


def test_the_agent_command_names_the_nodes_instead_of_standalone() -> None:
    cmd = torchrun_command("py", 1, ["bench.worker.rank", "s.json", "l.log"], Nodes(2, 1, "10.0.0.5:29400"))
    assert "--standalone" not in cmd
    assert cmd[3:7] == ["--nnodes=2", "--node-rank=1", "--master-addr=10.0.0.5", "--master-port=29400"]
    assert "--nproc-per-node=1" in cmd and cmd[-3:] == ["bench.worker.rank", "s.json", "l.log"]
    assert torchrun_command("py", 2, ["e"], Nodes())[3] == "--standalone"


def test_the_machine_options_are_checked_together() -> None:
    assert master_address(" box.lan:29400 ") == "box.lan:29400" and master_address("[::1]:80") == "::1:80"
    for bad in ("box", ":29400", "box:0", "box:65536", "box:http", "a b:1"):
        with pytest.raises(BenchError, match="--master: expected HOST:PORT"):
            master_address(bad)
    assert check_nodes({"nodes": 2, "node_rank": 1, "master": "h:1"})["master"] == "h:1"
    assert check_nodes({}) == {} and check_nodes({"scaling": "strong"}) == {"scaling": "strong"}
    for options, why in (({"nodes": 2, "master": "h:1"}, "give this machine's --node-rank"),
                         ({"nodes": 2, "node_rank": 0}, "give this machine's --node-rank"),
                         ({"nodes": 2, "node_rank": 2, "master": "h:1"}, "must be below --nodes 2"),
                         ({"node_rank": 1}, "need --nodes 2 or more"),
                         ({"nodes": 1, "master": "h:1"}, "need --nodes 2 or more")):
        with pytest.raises(BenchError, match=why):
            check_nodes(options)


@pytest.mark.parametrize(("args", "why"), [
    (["--nodes", "2", "--node-rank", "0"], "give this machine's --node-rank"),
    (["--nodes", "2", "--node-rank", "0", "--master", "h:99999"], "--master: expected HOST:PORT"),
    (["--nodes", "2", "--node-rank", "0", "--master", "h:1", "--workers", "1"], "not a multiple of 2"),
    (["--nodes", "2", "--node-rank", "0", "--master", "h:1", "--workers", "2"],
     "across machines are not built"),
    # TensorFlow's list of workers (bench/frameworks/tensorflow/ranks.py)
    (["--tf-workers", "a:1,b:1"], "need --nodes 2 or more"),
    (["--nodes", "2", "--node-rank", "0", "--tf-workers", "a:1,a:1"], "a:1 is given twice"),
    (["--nodes", "2", "--node-rank", "0", "--tf-workers", "a:1,b"], "--tf-workers: expected HOST:PORT"),
])
def test_bad_machine_options_are_one_line_and_exit_2(plugins: Path, args: list[str], why: str) -> None:  # noqa: F811
    out = plugins / "runs" / "nodes"
    proc = _bench("all", "--models", "toy-ridge", "--frameworks", "numpy", "--devices", "cpu", *args,
                  "--out", str(out), "--no-report", cwd=plugins)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and why in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


@pytest.mark.slow
def test_two_nodes_on_localhost_run_one_cell_of_two_ranks(tmp_path: Path) -> None:
    """Two torchrun agents (--nnodes 2, 127.0.0.1), one rank each, as two machines would run them: each
    node stores its own rank's record, whose throughput counts both ranks."""
    pytest.importorskip("torch")
    from test_scale_out import CELL, _processes_naming

    from bench.launchers.engine import free_ports
    from bench.launchers.slot import run_cell
    from bench.plan.schedule import build_schedule
    from bench.results.write import create_run

    master = f"127.0.0.1:{free_ports(1)[0]}"
    results: dict[int, CellResult] = {}

    def node(k: int) -> None:
        settings = RunSettings(steps=3, warmup=1, window_steps=2, time_limit_s=120.0, nodes=2, node_rank=k,
                               master=master)
        run = create_run(tmp_path / f"node{k}", settings, ["test"], "full", [CELL],
                         schedule=build_schedule([CELL], 1, seed=0))
        results[k] = run_cell(CELL, settings, run, repeat=1, block=0, order=0)

    threads = [threading.Thread(target=node, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=200)
    for k in (0, 1):
        r = results[k]
        assert r.status == "ok", (k, r.reason, r.error_tail)
        f = r.flags
        assert (f["world_size"], f["rank"], f["dist_backend"]) == (2, k, "gloo")
        assert [x["rank"] for x in f["ranks"]] == [k]  # this node's rank only
        assert r.throughput_img_s == pytest.approx(2 * 2 * 8 / r.window_time_s)  # both ranks' images
        assert r.settings["nodes"] == 2 and r.settings["node_rank"] == k
    assert not _processes_naming(str(tmp_path))

