"""One process slot of a cell: write its ranks' specs, launch them, and always come back with one stored
CellResult.

A cell is measured in ``repeats`` process slots (bench.plan.schedule orders them); ``run_cell`` runs one of
them, its ``repeat``, and stores its result as cells/<cell_id>/r<repeat>.json. The slot's launcher (the
cell's, from the registry: ``bench.launchers.launcher_for``) starts its ``Cell.workers`` ranks; each
rank's worker writes its own result and step rows into the cell's scratch directory, and the launcher's
``merge`` turns them into the one record stored (bench.launchers.merge). When a rank writes nothing (a
crash, the OOM killer, a hang past the time limit), the slot is recorded from what the launcher saw: the
exit status and the tail of that rank's log (logs/<cell_id>/r<k>.log for rank 0, r<k>.rank<j>.log
beside it for rank j).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.clock import utc_now_iso
from bench.errors import BenchError
from bench.host.processes import child_env, module_for
from bench.launchers import make_launcher, skip_reason
from bench.launchers.base import (
    Launch,
    Launcher,
    LaunchOutcome,
    Nodes,
    Place,
    RankJob,
    classify_exit,
    rank_path,
    tail_lines,
)
from bench.launchers.merge import RankMismatch
from bench.launchers.scratch import _tidy_work_dir
from bench.results import paths
from bench.results.load import read_cell_result, read_steps
from bench.results.records import Cell, CellResult, RunSettings, StepRecord
from bench.results.write import atomic_write_text, dumps, write_cell_result, write_steps


@dataclass(frozen=True)
class _RankFiles:
    rank: int
    spec: Path
    result: Path
    steps: Path
    log: Path


def run_cell(
    cell: Cell,
    settings: RunSettings,
    run_dir: Path,
    *,
    repeat: int = 1,
    block: int | None = None,
    order: int | None = None,
    python: str | None = None,
    peak_flops: float | dict[str, float] | None = None,
    env_extra: dict[str, str] | None = None,
    launcher: Launcher | None = None,
) -> CellResult:
    """Run process slot ``repeat`` of a cell (block and order: its place in the run's schedule) and store
    its CellResult (and steps) in ``run_dir``. ``launcher``: instead of the cell's registered one.

    Raises Interrupted on Ctrl-C after killing the workers; never raises for a worker's failure.
    """
    run_dir = Path(run_dir).resolve()  # the workers run in their own directory: absolute paths only
    cid = cell.cell_id
    place = Place(repeat, block, order)
    work = paths.work_dir(run_dir, cid)
    log = paths.log_path(run_dir, cid, repeat)  # checks the cell id and the repeat before any write
    work.mkdir(parents=True, exist_ok=True)
    started_at = utc_now_iso("seconds")
    chosen = launcher or make_launcher(cell)
    if chosen is None:
        return _Failure(run_dir, cell, settings, place, started_at, 0.0).store(
            "skipped", skip_reason(cell) or "no launcher", [])
    # The workers write into the cell's scratch dir; only a checked result is moved into cells/ and
    # steps/, so a stale result of an earlier (failed) attempt can never pass for a new one.
    name = f"r{repeat}"
    world = max(1, int(getattr(cell, "workers", 1)))
    # Ranks that span machines: this one runs its share, global ranks first.. (files by local index).
    nodes = Nodes(settings.nodes, settings.node_rank, settings.master,
                  tuple(a for a in settings.tf_workers.split(",") if a))
    local = world // nodes.count if world > 1 and nodes.count > 1 else world
    first = nodes.rank * local if local != world else 0
    files = (work / f"spec-{name}.json", work / f"result-{name}.json", work / f"steps-{name}.jsonl", log)
    ranks = [_RankFiles(k, *(rank_path(p, k) for p in files)) for k in range(local)]
    command = [python or sys.executable, "-m", module_for("worker")]
    for r in ranks:
        for p in (r.result, r.steps):
            p.unlink(missing_ok=True)
        spec = {"cell": cell.to_dict(), "settings": settings.to_dict(), "result_path": str(r.result),
                "steps_path": str(r.steps), "work_dir": str(work), "peak_flops": peak_flops, "repeat": repeat,
                "block": block, "order": order, "rank": first + r.rank, "world_size": world,
                "device_index": chosen.device_index(cell, r.rank)}
        atomic_write_text(r.spec, dumps(spec), within=run_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    jobs = tuple(RankJob(r.rank, [*command, str(r.spec)], r.log) for r in ranks)
    job = Launch(cell=cell, command=jobs[0].command, work_dir=work, log_path=log, env=child_env(env_extra),
                 time_limit_s=settings.time_limit_s, repeat=repeat, ranks=jobs if world > 1 else (),
                 nodes=nodes)
    t0 = time.monotonic()
    outcome = chosen.launch(job)
    wall = time.monotonic() - t0
    fail = _Failure(run_dir, cell, settings, place, started_at, wall, local)
    if outcome.start_error:
        return fail.store("failed", outcome.start_error, [])

    results = [None if outcome.timed_out else _read_worker_result(r.result, cell, place) for r in ranks]
    _tidy_work_dir(work)
    if outcome.timed_out:
        reason = f"exceeded the time limit of {settings.time_limit_s:g} s"
        return fail.store("timeout", reason, _tail(ranks[0]))
    failure = _failed_rank(outcome, results, ranks, first, world)
    if failure is not None:
        return fail.store(*failure)
    done = [r for r in results if isinstance(r, CellResult)]
    steps: list[list[StepRecord]] = []
    if world > 1:
        try:
            steps = [_read_rank_steps(r.steps, cid, repeat) for r in ranks]
            result, rows = chosen.merge(cell, done, steps)
        except (RankMismatch, BenchError) as e:
            return fail.store("failed", f"the ranks' results do not merge: {e}", _tail(ranks[0]))
        steps = [rows]
    else:
        result = done[0]
    bad = next((k for k, r in enumerate(done) if r.status != "ok"), 0)
    tail = _tail(ranks[bad])

    # Fill what the worker may have left out; never overwrite what it measured.
    result = replace(
        result,
        settings=result.settings or settings.to_dict(),
        wall_s=result.wall_s if result.wall_s is not None else wall,
        started_at=result.started_at or started_at,
        finished_at=result.finished_at or utc_now_iso("seconds"),
        error_tail=(result.error_tail if (result.error_tail or result.status == "ok")
                    else "\n".join(tail) or None),
    )
    dest = paths.steps_path(run_dir, cid, repeat)
    if steps:
        dest.parent.mkdir(parents=True, exist_ok=True)
        write_steps(dest, steps[0])
        for r in ranks:
            r.steps.unlink(missing_ok=True)
    elif ranks[0].steps.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(ranks[0].steps, dest)
    write_cell_result(run_dir, result)
    return result


def _tail(rank: _RankFiles) -> list[str]:
    return [line for line in tail_lines(rank.log) if not line.startswith("# ")]


def _failed_rank(outcome: LaunchOutcome, results: list[CellResult | str | None], ranks: list[_RankFiles],
                 first: int = 0, world: int = 1) -> tuple[str, str, list[str]] | None:
    """(status, reason, log tail) of the first rank without a result of its own (the one whose failure
    stopped the others first), or None when every rank wrote one."""
    order = list(range(len(ranks)))
    if outcome.failed_rank is not None and outcome.failed_rank in order:
        order.remove(outcome.failed_rank)
        order.insert(0, outcome.failed_rank)
    prefix = max(world, len(ranks)) > 1
    for k in order:
        result = results[k]
        if isinstance(result, CellResult):
            continue
        tail = _tail(ranks[k])
        if isinstance(result, str):  # an unreadable or mismatched result file
            status, reason = "failed", result
        else:
            status, reason = classify_exit(outcome.rank_returncode(k) or 0, tail)
        return status, (f"rank {first + k}: {reason}" if prefix else reason), tail  # the global rank
    return None


def _read_rank_steps(path: Path, cell_id: str, repeat: int) -> list[StepRecord]:
    if not path.exists():
        return []
    fields = ("cell_id", "step", "phase", "step_time_s", "losses", "repeat")
    return [StepRecord(**{f: row[f] for f in fields}) for row in read_steps(path, cell_id, repeat)]


def _read_worker_result(path: Path, cell: Cell, place: Place) -> CellResult | str | None:
    if not path.exists():
        return None
    try:
        result = read_cell_result(path)
    except Exception as e:  # BenchError or anything a half-baked worker could cause
        return f"worker wrote an unreadable result: {e}"
    if result.cell.cell_id != cell.cell_id:
        return f"worker wrote a result for another cell ({result.cell.cell_id})"
    got = Place(result.repeat, result.block, result.order)
    if got != place:
        return f"worker wrote a result for another process ({got}, expected {place})"
    return result


@dataclass(frozen=True)
class _Failure:
    """Records a slot that produced no result of its own (a crash, a kill, a timeout)."""

    run_dir: Path
    cell: Cell
    settings: RunSettings
    place: Place
    started_at: str
    wall: float
    world: int = 1

    def store(self, status: str, reason: str, tail: list[str]) -> CellResult:
        cid, repeat = self.cell.cell_id, self.place.repeat
        paths.steps_path(self.run_dir, cid, repeat).unlink(missing_ok=True)  # no half series of an old try
        for k in range(self.world):
            rank_path(paths.work_dir(self.run_dir, cid) / f"steps-r{repeat}.jsonl", k).unlink(missing_ok=True)
        result = CellResult(cell=self.cell, status=status, repeat=repeat, block=self.place.block,
                            order=self.place.order, reason=reason, error_tail="\n".join(tail) or None,
                            settings=self.settings.to_dict(), wall_s=self.wall, started_at=self.started_at,
                            finished_at=utc_now_iso("seconds"))
        write_cell_result(self.run_dir, result)
        return result


def skipped_result(cell: Cell, settings: RunSettings, reason: str) -> CellResult:
    now = utc_now_iso("seconds")
    return CellResult(cell=cell, status="skipped", reason=reason, settings=settings.to_dict(),
                      wall_s=0.0, started_at=now, finished_at=now)
