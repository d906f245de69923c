"""Running an A/B comparison (``bench compare``): plan with the project's planner, store it as a run, run
the two sides' processes in ABBA order with the project's launcher, then more pairs for the cells the
verdict leaves undecided (bench.plan.ab_sequential). The analysis is bench.analysis.ab.

The run is a stored run like any other (run.json, cells/<cell>/r<k>.json, steps, logs), planned by
bench.plan.orchestrate.plan_new_run and launched by bench.launchers.slot.run_cell; what is A/B about it is in
run.json's ``ab`` (bench.plan.ab_plan). A side's processes start with that side's interpreter, its extra
environment, and for a git revision the code of that revision: ``git archive`` of its bench/ and
models/ into a fresh temporary directory OUTSIDE the run directory (refused otherwise), put first on
the workers' PYTHONPATH and removed afterwards. Every worker of an A/B run gets PYTHONSAFEPATH=1, so
its working directory (the cell's scratch inside the run) is never on its import path: no code is
ever imported from a stored run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.analysis.ab import DEFAULT_FAIL_ON, DEFAULT_MARGIN
from bench.errors import BenchError
from bench.host.detect import probe_frameworks
from bench.host.processes import PROJECT_ROOT
from bench.launchers.base import Interrupted
from bench.launchers.scratch import drop_shared_scratch
from bench.launchers.slot import run_cell
from bench.plan.ab_plan import AbSlot, Pair, Side, ab_meta, abba_schedule, pair_cells
from bench.plan.ab_sequential import DEFAULT_AB_CAP, run_sequential
from bench.plan.orchestrate import create_planned_run, plan_new_run, roofline_peaks
from bench.plan.request import RunRequest
from bench.results.paths import DEFAULT_RUNS_ROOT, new_run_id

CODE_PATHS = ("bench", "models")  # what a revision's workers need of the project


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BenchError(f"git {' '.join(args)}: {e}") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["failed"])[-1]
        raise BenchError(f"git {' '.join(args)}: {last}")
    return out.stdout


def resolve_revision(rev: str) -> str:
    """The commit a revision names in this project's repository (BenchError when none)."""
    if rev.startswith("-"):
        raise BenchError(f"not a git revision: {rev!r}")
    return _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()


@contextmanager
def revision_checkout(commit: str, run_dir: Path) -> Iterator[Path]:
    """The project's code (CODE_PATHS) at ``commit`` in a new temporary directory outside ``run_dir``;
    removed on exit."""
    root = Path(tempfile.mkdtemp(prefix=f"framebench-rev-{commit[:12]}-")).resolve()
    try:
        if root.is_relative_to(Path(run_dir).resolve()):
            raise BenchError(f"the checkout of {commit[:12]} would be inside the run directory {run_dir}; "
                             "set TMPDIR elsewhere")
        archive = root / "code.tar"
        with open(archive, "wb") as f:
            proc = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", commit,
                                   "--", *CODE_PATHS], stdout=f, stderr=subprocess.PIPE, timeout=120)
        if proc.returncode != 0:
            raise BenchError(f"git archive {commit[:12]}: {proc.stderr.decode(errors='replace').strip()}")
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
        archive.unlink()
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def side_environment(side: Side, code_root: Path | None) -> dict[str, str]:
    """The extra environment of a side's workers: its variables, PYTHONSAFEPATH, and for a revision
    its checkout first on PYTHONPATH in place of this project's tree."""
    env = dict(side.env)
    env["PYTHONSAFEPATH"] = "1"
    if code_root is not None:
        ours = PROJECT_ROOT.resolve()
        rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                if p and Path(p).resolve() != ours]
        env["PYTHONPATH"] = os.pathsep.join([str(code_root), *rest])
    return env


@dataclass(frozen=True)
class Sequential:
    """What the sequential phase may do (bench.plan.ab_sequential): pairs added per comparison at most,
    the run's wall-clock budget in seconds (None: none), and the verdict's zone and threshold."""

    cap: int = DEFAULT_AB_CAP
    budget_s: float | None = None
    margin: float = DEFAULT_MARGIN
    fail_on: float = DEFAULT_FAIL_ON


def run_compare(request: RunRequest, side_a: Side, side_b: Side,
                sequential: Sequential = Sequential()) -> Path:
    """Plan, store and run an A/B comparison; returns the run directory (raises Interrupted on Ctrl-C,
    BenchError on bad input before anything is written)."""
    started = time.monotonic()
    commits = {s.name: resolve_revision(s.revision) for s in (side_a, side_b) if s.revision}
    variants = [v for v in (side_a.variant, side_b.variant) if v]
    filters = request.filters
    if variants:
        filters = replace(filters, variants=tuple(dict.fromkeys(
            [side_a.variant or "default", side_b.variant or "default"])))
    plan = plan_new_run(replace(request, filters=filters, pythons=dict(side_a.pythons)))
    pairs = pair_cells([p.cell for p in plan.planned if p.runnable], side_a, side_b)
    if not pairs:
        raise BenchError("nothing to compare: no cell of the chosen matrix can run on this machine")
    fws = sorted({c.framework for p in pairs for c in (p.a, p.b)})
    probes_b = plan.probes if dict(side_b.pythons) == dict(side_a.pythons) else probe_frameworks(
        fws, side_b.pythons)
    details: dict[str, dict[str, Any]] = {}
    for side, probes in ((side_a, plan.probes), (side_b, probes_b)):
        details[side.name] = {
            "versions": {fw: (probes.get(fw) or {}).get("version") for fw in fws},
            "python_executables": {fw: (probes.get(fw) or {}).get("python_executable") for fw in fws},
            "commit": commits.get(side.name),
        }
    slots = abba_schedule(pairs, plan.repeats, plan.schedule_seed)
    # Stored as what ran: 2R processes per cell (R pairs), so the run reads as any other.
    by_model = {m: replace(st, repeats=2 * st.repeats) for m, st in plan.by_model.items()}
    run_dir = Path(request.out or DEFAULT_RUNS_ROOT / new_run_id())
    create_planned_run(run_dir, by_model, request.argv, plan.profile,
                       list(dict.fromkeys(c for p in pairs for c in (p.a, p.b))), plan.probes,
                       [s.slot for s in slots], plan.schedule_seed,
                       {"pythons": dict(side_a.pythons), "filters": filters.as_dict(),
                        "ab": ab_meta(side_a, side_b, pairs, details)}, interpreters=fws)
    more = (f", then up to {sequential.cap} more pair(s) for each cell not settled" if sequential.cap > 0
            else ", no more pairs (--extra-pairs 0)")
    _say(f"A/B run {run_dir.name}: {len(pairs)} comparison(s), {plan.repeats} pair(s) of processes each "
         f"({len(slots)} processes, ABBA order, schedule seed {plan.schedule_seed}){more}; results in "
         f"{run_dir}")
    _say(f"  A: {side_a.label()}\n  B: {side_b.label()}")
    deadline = None if sequential.budget_s is None else started + sequential.budget_s
    execute(run_dir, slots, pairs, by_model, side_a, side_b, commits, sequential, deadline)
    drop_shared_scratch(run_dir)
    return run_dir


def execute(run_dir: Path, slots: list[AbSlot], pairs: list[Pair], by_model: Mapping[str, Any],
            side_a: Side, side_b: Side, commits: Mapping[str, str],
            sequential: Sequential = Sequential(), deadline: float | None = None) -> None:
    """Run the processes in order, each with its side's interpreter, environment and code; then the
    sequential phase's pairs (none when its cap is 0)."""
    sides = {"a": side_a, "b": side_b}
    cells = list(dict.fromkeys(c for p in pairs for c in (p.a, p.b)))
    tf32 = any(st.tf32 for st in by_model.values())
    with _checkouts(commits, run_dir) as roots:
        envs = {n: side_environment(s, roots.get(n)) for n, s in sides.items()}
        peaks = {d: roofline_peaks(run_dir, d, cells, side_a.pythons, tf32) for d in ("cuda", "cpu")
                 if any(c.device == d for c in cells)}

        def run_slots(todo: list[AbSlot]) -> None:
            for i, x in enumerate(todo):
                cell, side = x.slot.cell, sides[x.side]
                _say(f"[{i + 1}/{len(todo)}] {x.side.upper()} {x.slot.label}")
                run_cell(cell, by_model[cell.model], run_dir, repeat=x.slot.repeat, block=x.slot.block,
                         order=x.slot.order, python=side.pythons.get(cell.framework),
                         peak_flops=peaks.get(cell.device), env_extra=envs[x.side])

        run_slots(slots)
        if sequential.cap:
            run_sequential(run_dir, pairs, by_model, cap=sequential.cap, deadline=deadline,
                           margin=sequential.margin, fail_on=sequential.fail_on, run_slots=run_slots)


@contextmanager
def _checkouts(commits: Mapping[str, str], run_dir: Path) -> Iterator[dict[str, Path]]:
    """Each side's revision checked out (side name -> its code root), removed on exit."""
    with ExitStack() as stack:
        yield {name: stack.enter_context(revision_checkout(commit, run_dir))
               for name, commit in commits.items()}


__all__ = ["CODE_PATHS", "Interrupted", "Sequential", "resolve_revision", "revision_checkout", "run_compare",
           "side_environment"]
