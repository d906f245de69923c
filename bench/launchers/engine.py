"""A framework's own multi-process launcher for a slot of several ranks (``engine``): this machine's, or its
share of them where the ranks span machines.

The framework package says how (its ``ranks`` module, imported without the framework): ``ENGINE`` (the
engine's name) and ``accepts(cell)``, then one of two ways:

- ``command(python, world_size, entry, nodes)``: the engine's own agent starts every rank of ``entry``
  on this machine (``world_size`` of them; ``nodes``: the machines the slot spans, bench.launchers.base.
  Nodes, where the engine sets ``MULTI_NODE``), telling each its rank in the environment (LOCAL_RANK,
  RANK); the entry (bench.worker.rank) picks the rank's own spec and log; ``root_cause(log_text)``
  reads the first failed rank and its exit code from the agent's output (or None). The agent runs in
  its own session like every worker, logging to rank 0's log; the ranks die with it (the workers'
  parent-death signal); each rank's log is created here first.
- ``rank_env(world_size, rank, addresses)``: each rank is an ordinary worker process (as the process
  launcher starts it) with these variables added (e.g. a cluster description), ``addresses`` being
  every rank's: free localhost ports chosen here on one machine, or, across machines (``MULTI_NODE``),
  the HOST:PORT list the engine's ``cluster(world_size, nodes)`` makes of ``nodes.addresses``, this
  machine's ranks getting their global rank; a rank that fails stops the others (bench.launchers.
  process.run_ranks).

An engine that spans machines (``MULTI_NODE``) also says what it needs of the machine options:
``nodes_error(world_size, nodes)``, one line or None (checked when the run is planned).
"""

from __future__ import annotations

import socket
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from types import ModuleType

from bench.frameworks import framework_names, get_framework
from bench.launchers.base import KILL_GRACE_S, Launch, Launcher, LaunchOutcome
from bench.launchers.process import run_ranks
from bench.results.records import Cell
from bench.results.write import create_fresh

ENTRY = "bench.worker.rank"


def engine_of(framework: str) -> ModuleType | None:
    """The framework's ``ranks`` module, None where it has no engine of its own."""
    if framework not in framework_names():
        return None
    return get_framework(framework).optional_module("ranks")


def entry_args(job: Launch) -> list[str]:
    """The entry and each rank's spec and log, in rank order (bench.worker.rank)."""
    args = [ENTRY]
    for r in job.rank_jobs:
        args += [r.command[-1], str(r.log_path)]
    return args


class EngineLauncher(Launcher):
    """N >= 2 ranks of a cell under its framework's own launcher."""

    name = "engine"

    def __init__(self, kill_grace_s: float = KILL_GRACE_S) -> None:
        self.kill_grace_s = kill_grace_s

    @classmethod
    def accepts(cls, cell: Cell) -> str | None:
        if cell.scenario != "train":  # data parallelism splits a training batch; nothing else here has one
            return f"data-parallel ranks train; a {cell.scenario} cell runs in one process"
        engine = engine_of(cell.framework)
        if engine is None:
            return f"{cell.framework} has no multi-process launcher of its own here"
        return engine.accepts(cell)  # type: ignore[no-any-return]

    def device_index(self, cell: Cell, rank: int) -> int:
        return rank if cell.device == "cuda" else 0  # one GPU per rank; the CPU is shared

    def launch(self, job: Launch) -> LaunchOutcome:
        engine = engine_of(job.cell.framework)
        assert engine is not None, job.cell.framework  # accepts() said so
        ranks = job.rank_jobs
        if job.nodes.count > 1 and not getattr(engine, "MULTI_NODE", False):  # refused when planned too
            return LaunchOutcome(start_error=f"{engine.ENGINE} ranks across machines are not built")
        if hasattr(engine, "rank_env"):
            world, first = len(ranks), 0
            addresses: list[int | str] = []
            if job.nodes.count > 1:  # this machine's ranks of the whole cluster, named alike on every node
                world, first = len(ranks) * job.nodes.count, job.nodes.rank * len(ranks)
                try:
                    addresses = list(engine.cluster(world, job.nodes))
                except ValueError as e:  # refused when planned too
                    return LaunchOutcome(start_error=str(e))
            else:
                addresses = list(free_ports(world))
            envs = {r.rank: {**job.env, **engine.rank_env(world, first + r.rank, addresses)} for r in ranks}
            return run_ranks(job, self.kill_grace_s, env_of_rank=envs)
        for r in ranks[1:]:  # rank 0's log is the agent's, created by run_ranks
            with create_fresh(r.log_path) as f:
                f.write(f"# rank {r.rank} of {engine.ENGINE} (its own output: {ranks[0].log_path.name})\n")
        command = engine.command(ranks[0].command[0], len(ranks), entry_args(job), job.nodes)
        agent = replace(job, command=command, ranks=())
        outcome = run_ranks(agent, self.kill_grace_s)
        if outcome.start_error or outcome.timed_out or outcome.returncode == 0:
            return outcome
        cause = engine.root_cause(_read(ranks[0].log_path))
        if cause is None or cause[0] >= len(ranks):
            return outcome
        codes = tuple(cause[1] if k == cause[0] else None for k in range(len(ranks)))
        return LaunchOutcome(returncode=codes[0], returncodes=codes, failed_rank=cause[0])


def free_ports(n: int) -> list[int]:
    """``n`` distinct localhost ports free now (bound together, then released for the ranks to bind:
    another process could take one in between, which fails the slot, never hangs it)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-200_000:]
    except OSError:
        return ""


LAUNCHER = EngineLauncher
