"""PyTorch's own engine for a slot of several ranks: ``python -m torch.distributed.run --standalone
--nproc-per-node N -m bench.worker.rank ...`` (torchrun), one rank per process on this machine.

torchrun's agent starts N copies of ``bench.worker.rank`` with RANK/WORLD_SIZE/LOCAL_RANK/MASTER_* in
their environment; each picks its own spec (the slot wrote one per rank) and log, and the torch backend
joins the process group and wraps the family's modules in DistributedDataParallel
(bench.frameworks.torch.ddp). ``--max-restarts 0``: a rank that fails makes the agent stop the others
and exit non-zero; its error summary names the first failed rank and its exit code, read here from
rank 0's log (where the agent writes) so the slot's record names the rank that failed. The agent runs
in its own session like every worker; the ranks die with it (the workers' parent-death signal).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from bench.launchers.base import KILL_GRACE_S, Launch, Launcher, LaunchOutcome
from bench.launchers.process import run_ranks
from bench.results.records import Cell
from bench.results.write import create_fresh

MONITOR_INTERVAL_S = 0.2  # how often the agent looks at its ranks (a dead rank stops the others)
# torchrun's error summary ("Root Cause (first observed failure)": rank, then exitcode).
_ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.DOTALL)


def torchrun_command(python: str, job: Launch) -> list[str]:
    """The agent's command for ``job``'s ranks: each rank's spec and log in rank order."""
    args: list[str] = []
    for r in job.rank_jobs:
        args += [r.command[-1], str(r.log_path)]
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={job.world_size}",
            "--max-restarts=0", f"--monitor-interval={MONITOR_INTERVAL_S}", "-m", "bench.worker.rank", *args]


def root_cause(log_text: str) -> tuple[int, int] | None:
    """(rank, exit code) of the first failed rank in torchrun's error summary, or None."""
    m = _ROOT_CAUSE.search(log_text)
    return (int(m.group(1)), int(m.group(2))) if m else None


class TorchrunLauncher(Launcher):
    """N >= 2 ranks of a torch cell under torchrun on this machine (gloo on CPU, NCCL on CUDA)."""

    name = "torchrun"

    def __init__(self, kill_grace_s: float = KILL_GRACE_S) -> None:
        self.kill_grace_s = kill_grace_s

    @classmethod
    def accepts(cls, cell: Cell) -> str | None:
        if cell.framework != "torch":
            return "torchrun starts torch cells only"
        if cell.workers < 2:
            return "torchrun starts 2 or more ranks (one rank: the process launcher)"
        return None

    def device_index(self, cell: Cell, rank: int) -> int:
        return rank if cell.device == "cuda" else 0  # one GPU per rank; the CPU is shared

    def launch(self, job: Launch) -> LaunchOutcome:
        ranks = job.rank_jobs
        for r in ranks[1:]:  # rank 0's is the agent's log, created by run_ranks
            with create_fresh(r.log_path) as f:
                f.write(f"# rank {r.rank} of torchrun (the agent's output: {ranks[0].log_path.name})\n")
        command = torchrun_command(ranks[0].command[0], job)
        agent = replace(job, command=command, ranks=())
        outcome = run_ranks(agent, self.kill_grace_s)
        if outcome.start_error or outcome.timed_out or outcome.returncode == 0:
            return outcome
        cause = root_cause(_read(ranks[0].log_path))
        if cause is None or cause[0] >= len(ranks):
            return outcome
        codes = tuple(cause[1] if k == cause[0] else None for k in range(len(ranks)))
        return LaunchOutcome(returncode=codes[0], returncodes=codes, failed_rank=cause[0])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-200_000:]
    except OSError:
        return ""


LAUNCHER = TorchrunLauncher
