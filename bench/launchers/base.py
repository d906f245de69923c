"""The launcher interface and its records: what a launcher is asked to start, and how it ended.

One *process slot* of a cell (its ``repeat``-th process in the run's schedule) is ``Cell.workers``
*ranks*: worker processes that each measure the same cell on their own device and write their own
result and step rows into the cell's scratch directory. ``bench.launchers.slot.run_cell`` writes one
spec per rank, hands the ``Launch`` to the cell's ``Launcher``, and then merges the ranks' results
into the one record the store keeps (``Launcher.merge``, by default ``bench.launchers.merge``).

A launcher only starts and stops processes: it never reads a result. It must not raise for a failing
rank (it says so in the ``LaunchOutcome``); on Ctrl-C it kills everything it started and raises
``Interrupted``.
"""

from __future__ import annotations

import abc
import signal
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.launchers.merge import merge_ranks
from bench.lines import ERROR_TAIL_LINES, last_meaningful_line
from bench.results.records import Cell
from bench.worker.watchdog import EXIT_DEADLINE, EXIT_PARENT_GONE

if TYPE_CHECKING:
    from bench.results.records import CellResult, StepRecord

MAX_TAIL_LINE_CHARS = 2000  # ERROR_TAIL_LINES such lines stay under bench.results.storedfile.MAX_STRING_CHARS
KILL_GRACE_S = 5.0  # between SIGTERM and SIGKILL of a timed-out worker


class Interrupted(Exception):
    """Ctrl-C while a cell ran: its process is gone; finished cells are on disk."""

    def __init__(self, cell: Cell) -> None:
        super().__init__(cell.cell_id)
        self.cell = cell


@dataclass(frozen=True)
class Place:
    """Which process of its cell a run_cell call runs, and where in the run's schedule."""

    repeat: int = 1
    block: int | None = None
    order: int | None = None


def rank_path(path: Path, rank: int) -> Path:
    """Rank ``rank``'s file beside rank 0's: rank 0 keeps the name (``r1.log``), rank k > 0 gets
    ``r1.rank<k>.log``, so a slot of one rank has the layout every stored run has."""
    return path if rank == 0 else path.with_name(f"{path.stem}.rank{rank}{path.suffix}")


@dataclass(frozen=True)
class RankJob:
    """One rank of a slot: its worker command (``[python, "-m", worker, spec]``) and its log."""

    rank: int
    command: list[str]
    log_path: Path


@dataclass(frozen=True)
class Nodes:
    """The machines a slot's ranks span (``--nodes M --node-rank K --master HOST:PORT --tf-workers
    LIST``): ``count`` of them, this one's index, node 0's rendezvous address (an engine whose agents
    meet there) and the workers' HOST:PORT addresses (an engine whose workers are told every peer's, as
    TF_CONFIG does: one per node or one per rank); the default, this machine alone."""

    count: int = 1
    rank: int = 0
    master: str = ""
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Launch:
    """What a launcher starts: the worker command of each rank of one process slot, where they run and
    log, and their common time limit. ``command``/``log_path`` are rank 0's (of a one-rank slot: the
    only ones)."""

    cell: Cell
    command: list[str]  # rank 0's: [python, "-m", worker module, spec-r<k>.json]
    work_dir: Path  # the cell's scratch directory, shared by its processes (not their cwd)
    log_path: Path  # rank 0's stdout and stderr (logs/<cell_id>/r<k>.log)
    env: dict[str, str]
    time_limit_s: float
    repeat: int = 1
    ranks: tuple[RankJob, ...] = ()  # every rank, rank 0 first; empty: rank 0 alone
    nodes: Nodes = Nodes()  # several: ``ranks`` are this node's (local rank order)

    @property
    def rank_jobs(self) -> tuple[RankJob, ...]:
        return self.ranks or (RankJob(0, self.command, self.log_path),)

    @property
    def world_size(self) -> int:
        return len(self.rank_jobs)


@dataclass(frozen=True)
class LaunchOutcome:
    """How the slot's rank(s) ended; the workers' result files are read afterwards."""

    returncode: int | None = None  # rank 0's; None: it did not run to its end
    timed_out: bool = False
    start_error: str | None = None  # a rank could not be started at all
    returncodes: tuple[int | None, ...] = ()  # every rank's, in rank order (empty: rank 0's alone)
    # The rank whose failed exit made the launcher stop the others (their exit is then its doing).
    failed_rank: int | None = None

    def rank_returncode(self, rank: int) -> int | None:
        if self.returncodes:
            return self.returncodes[rank] if rank < len(self.returncodes) else None
        return self.returncode if rank == 0 else None


class Launcher(abc.ABC):
    """Starts the ranks of one process slot, waits at most ``job.time_limit_s`` for all of them, and
    cleans up (``launch``); merges the ranks' results into the slot's one record (``merge``).

    A launcher module ``bench/launchers/<name>.py`` (or a plugin's) sets ``LAUNCHER`` to its class and
    is registered by name (``bench.launchers.register_launcher``); ``accepts`` says which cells it can
    start, so the matrix skips a cell no launcher accepts.
    """

    name = ""

    @classmethod
    def accepts(cls, cell: Cell) -> str | None:
        """None when this launcher can start ``cell``'s ranks, else why not (one line)."""
        workers = getattr(cell, "workers", 1)
        return None if workers == 1 else f"{cls.name or cls.__name__} starts one rank, not {workers}"

    def device_index(self, cell: Cell, rank: int) -> int:
        """The device (of the cell's kind) rank ``rank`` runs on: one device per rank on this machine."""
        return rank

    @abc.abstractmethod
    def launch(self, job: Launch) -> LaunchOutcome: ...

    def merge(self, cell: Cell, results: Sequence[CellResult],
              steps: Sequence[Sequence[StepRecord]]) -> tuple[CellResult, list[StepRecord]]:
        """The slot's record from its ranks' (all ok; rank order). See ``bench.launchers.merge``."""
        return merge_ranks(cell, results, steps)


def tail_lines(path: Path, n: int = ERROR_TAIL_LINES) -> list[str]:
    """The last ``n`` lines of a log, each cut to MAX_TAIL_LINE_CHARS (a stored string stays bounded)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n")[:MAX_TAIL_LINE_CHARS] for line in deque(f, maxlen=n)]
    except OSError:
        return []


def classify_exit(returncode: int, tail: list[str]) -> tuple[str, str]:
    """(status, reason) of a worker that exited without writing a result."""
    text = "\n".join(tail)
    last = last_meaningful_line(tail)
    if "MemoryError" in text or "out of memory" in text.lower() or "OutOfMemory" in text:
        return "oom", last or "out of memory"
    if returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return "oom", "worker killed by SIGKILL (most likely the out-of-memory killer)"
    if "Killed" in text:
        return "oom", "worker killed (most likely the out-of-memory killer)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return "failed", f"worker died from {name}" + (f": {last}" if last else "")
    if returncode == EXIT_DEADLINE:
        return "timeout", "worker stopped by its own watchdog past its time limit"
    if returncode == EXIT_PARENT_GONE:
        return "failed", "worker stopped by its watchdog: its parent process was gone"
    if returncode == 0:
        return "failed", "worker exited without writing a result" + (f": {last}" if last else "")
    return "failed", last or f"worker exited with code {returncode} and no output"
