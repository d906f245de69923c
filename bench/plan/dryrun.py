"""``bench all --dry-run``: every input checked as for a run, then the plan printed; nothing is written."""

from __future__ import annotations

from bench.cell import Cell
from bench.plan.estimates import estimate_cell_seconds, load_past_timings, this_machine_identity
from bench.plan.orchestrate import adaptive_settings, plan_new_run
from bench.plan.plan_text import coverage_lines, estimate_basis
from bench.plan.progress import fmt_duration
from bench.plan.request import RunRequest
from bench.plan.resume import plan_resume
from bench.results.paths import DEFAULT_RUNS_ROOT
from bench.vocab import PROFILES, check_choice

__all__ = ["dry_run"]


def dry_run(request: RunRequest) -> int:
    """``all --dry-run``: every input checked as for a run, then the plan printed; nothing written."""
    request.filters.validate()
    if request.profile is not None:
        check_choice("profile", request.profile, PROFILES)
    rows: list[tuple[str, Cell, int, str | None]] = []  # (label, cell, processes, skip reason)
    names = this_machine_identity(request.assume_cuda)
    adaptive = ""
    if request.resume:
        plan = plan_resume(request)
        if plan is None:
            return 0
        by_model = plan.by_model
        rows = [(s.label, s.cell, 1, None) for s in plan.todo]
        head = f"dry run: resuming {plan.run_dir} would re-run {len(plan.todo)} process(es)"
    else:
        new = plan_new_run(request)
        by_model, r = new.by_model, new.repeats
        rows = [(p.cell.cell_id, p.cell, r, p.skip_reason) for p in new.planned]
        n_run = sum(reason is None for *_, reason in rows)
        names = this_machine_identity(request.assume_cuda, new.probes)
        runnable = [p.cell for p in new.planned if p.runnable]
        whole = "" if new.shard is None else " in the whole plan"
        head = (f"dry run: profile {new.profile}, {n_run} cell(s) to run in {len(new.schedule)} "
                f"process(es) ({r} per cell{whole}, interleaved, schedule seed {new.schedule_seed}), "
                f"{len(rows) - n_run} skipped ({estimate_basis(names, runnable)})\ncovers:\n"
                + "\n".join(coverage_lines(runnable)))
        if new.shard is not None:
            # A shard's processes are listed one by one: its slice is of processes, not of cells.
            rows = [(f"{s.label} (block {s.block})", s.cell, 1, None) for s in new.schedule] + [
                (p.cell.cell_id, p.cell, r, p.skip_reason) for p in new.planned if not p.runnable]
            meta = new.shard.meta
            head += (f"\nshard {request.shard}: {len(new.schedule)} of the plan's {meta['processes']} "
                     f"process(es), in {meta['unit']}s ({fmt_duration(new.shard.seconds)} of "
                     f"{fmt_duration(new.shard.total_seconds)} by the descriptors' estimates; run key "
                     f"{meta['run_key'][:12]}); adaptive extra pairs are off in a shard")
        cap, budget = adaptive_settings(request, new)
        if new.groups and cap:
            within = f"while the run's {fmt_duration(budget)} budget allows" if budget else "(no time budget)"
            adaptive = (f"then up to {cap} more pair(s) for each of the {len(new.groups)} headline "
                        f"comparison(s) still inconclusive, {within}\n")
    past = load_past_timings(DEFAULT_RUNS_ROOT, names,
                             {c.device for _, c, _, why in rows if why is None})
    print(head)
    width = max(len(label) for label, *_ in rows)
    total, n_proc = 0.0, 0
    for label, cell, n, reason in rows:
        if reason is None:
            est = n * estimate_cell_seconds(cell, by_model[cell.model], past)
            total, n_proc = total + est, n_proc + n
            times = f" x{n}" if n > 1 else ""
            print(f"  {label:<{width}}  run{times}  ~{fmt_duration(est)}")
        else:
            print(f"  {label:<{width}}  skip  {reason}")
    print(f"estimated total: ~{fmt_duration(total)} for {n_proc} process(es) (nothing was run or written)\n"
          f"{adaptive}start-up and compile times {past.describe()}")
    return 0
