"""A framework's own multi-process launcher for a slot of several ranks on this machine (``engine``).

The framework package says how (its ``ranks`` module, imported without the framework): ``ENGINE`` (the
engine's name, stored in the flags), ``accepts(cell)``, ``command(python, world_size, entry)`` (the one
command that starts every rank of ``entry``), and ``root_cause(log_text)`` (the first failed rank and
its exit code from the engine's output, or None). The engine starts the same entry in every rank and
tells each its rank in the environment (RANK); the entry (bench.worker.rank) picks the rank's own spec
and log. The engine's agent runs in its own session like every worker, logging to rank 0's log; the
ranks die with it (the workers' parent-death signal), and each rank's log is created here first.
"""

from __future__ import annotations

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
        for r in ranks[1:]:  # rank 0's log is the agent's, created by run_ranks
            with create_fresh(r.log_path) as f:
                f.write(f"# rank {r.rank} of {engine.ENGINE} (its own output: {ranks[0].log_path.name})\n")
        command = engine.command(ranks[0].command[0], len(ranks), entry_args(job))
        agent = replace(job, command=command, ranks=())
        outcome = run_ranks(agent, self.kill_grace_s)
        if outcome.start_error or outcome.timed_out or outcome.returncode == 0:
            return outcome
        cause = engine.root_cause(_read(ranks[0].log_path))
        if cause is None or cause[0] >= len(ranks):
            return outcome
        codes = tuple(cause[1] if k == cause[0] else None for k in range(len(ranks)))
        return LaunchOutcome(returncode=codes[0], returncodes=codes, failed_rank=cause[0])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-200_000:]
    except OSError:
        return ""


LAUNCHER = EngineLauncher
