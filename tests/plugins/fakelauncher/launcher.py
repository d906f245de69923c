"""Each rank a plain worker process (no collective: the ranks only share the slot's clock), merged by
the house rule; ``FAKELAUNCHER_CRASH_RANK=k`` replaces rank k's worker by one that dies of SIGSEGV."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from bench.launchers.base import Launch, Launcher, LaunchOutcome, RankJob
from bench.launchers.process import run_ranks
from bench.results.records import Cell, CellResult, StepRecord

CRASH = "import os, signal, sys; print('rank going down', flush=True); os.kill(os.getpid(), signal.SIGSEGV)"


class TwoRanks(Launcher):
    name = "two-ranks"

    @classmethod
    def accepts(cls, cell: Cell) -> str | None:
        if cell.framework == "numpy" and cell.workers == 2:
            return None
        return "two-ranks starts 2 ranks of numpy cells only"

    def device_index(self, cell: Cell, rank: int) -> int:
        return 0  # one CPU, shared

    def launch(self, job: Launch) -> LaunchOutcome:
        assert job.world_size == 2, job.world_size
        crash = os.environ.get("FAKELAUNCHER_CRASH_RANK")
        if crash is not None:
            ranks = tuple(RankJob(r.rank, [sys.executable, "-c", CRASH], r.log_path) if r.rank == int(crash)
                          else r for r in job.rank_jobs)
            job = replace(job, ranks=ranks)
        return run_ranks(job)

    def merge(self, cell: Cell, results: Sequence[CellResult],
              steps: Sequence[Sequence[StepRecord]]) -> tuple[CellResult, list[StepRecord]]:
        merged, rows = super().merge(cell, results, steps)
        merged.flags["merged_by"] = self.name
        return merged, rows


LAUNCHER = TwoRanks
