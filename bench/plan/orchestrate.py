"""A run, start to finish: probe, plan, schedule, create the run directory, run the processes, report.

Takes a typed ``RunRequest`` (what ``all``/``run`` parsed and checked), never an argparse namespace.
The parent never imports a framework: frameworks are probed (bench.host.detect) and each cell is measured
in ``repeats`` fresh processes (bench.launchers), in the run's interleaved, seeded-random order
(bench.plan.schedule), each headline comparison's processes next to each other in ABBA pairs
(bench.analysis.comparisons); then the adaptive phase adds pairs to the comparisons still inconclusive, inside
the run's time budget (bench.plan.adaptive). Every choice is validated before anything is written.
Resuming a run is bench.plan.resume (no adaptive phase); the dry run is bench.plan.dryrun.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.analysis.comparisons import group_entries, headline_groups
from bench.analysis.summary import summary_table
from bench.clock import utc_now_iso
from bench.errors import BenchError
from bench.frameworks.registry import framework_names
from bench.host.detect import cuda_available, probe_frameworks
from bench.host.envinfo import collect_environment
from bench.host.pinned_peak import PeakPinning, default_machines_dir, pinned_roofline
from bench.inputs import check_data_fits, check_output_dir
from bench.launchers.base import Interrupted, Launcher
from bench.launchers.scratch import drop_shared_scratch
from bench.launchers.slot import run_cell, skipped_result
from bench.plan import scaleout
from bench.plan.adaptive import REPORT_RESERVE_S, run_adaptive
from bench.plan.estimates import load_past_timings, process_seconds, this_machine_identity
from bench.plan.matrix import PlannedCell, build_matrix, native_cpu_precisions
from bench.plan.plan_text import assume_cuda_probes
from bench.plan.profiles import default_profile_name, get_profile, make_settings
from bench.plan.progress import Progress, fmt_duration
from bench.plan.request import RunRequest
from bench.plan.resume import fresh_work_dir, plan_resume, resume_interpreters
from bench.plan.schedule import build_schedule
from bench.plan.shard import ShardPlan, shard_plan
from bench.results.load import RunData, load_run, read_process_results, read_roofline, run_set
from bench.results.paths import DEFAULT_RUNS_ROOT, log_path, new_run_id, roofline_path, run_file
from bench.results.records import Cell, RunSettings
from bench.results.slots import Slot
from bench.results.write import create_run, unused_run_dir, update_run_meta, write_cell_result, write_roofline
from bench.vocab import FAILED_STATUSES, PROFILES, check_choice
from models.registry import model_names

# Where the reports of a run given --out go, inside it.
REPORT_SUBDIR = "report"
# Devices whose cells are held to a measured peak (fraction of peak); one roofline per run each.
ROOFLINE_DEVICES = ("cuda", "cpu")


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(request: RunRequest) -> int:
    """Start (or resume) a run; the exit status: 0 all ran, 1 some process failed, 130 interrupted.

    Raises BenchError (or DataError) on bad input, before anything is written.
    """
    request.filters.validate()
    if request.profile is not None:
        check_choice("profile", request.profile, PROFILES)
    return resume_run(request) if request.resume else new_run(request)


# --------------------------------------------------------------------------- a new run


@dataclass(frozen=True)
class NewRunPlan:
    """A new run as planned, before anything is written (``all --dry-run`` prints it)."""

    profile: str
    probes: dict[str, dict[str, Any]]
    planned: list[PlannedCell]
    by_model: dict[str, RunSettings]
    schedule: list[Slot]  # every process of the runnable cells, in run order
    schedule_seed: int
    groups: list[tuple[Cell, ...]]  # the headline comparisons (bench.analysis.comparisons)
    shard: ShardPlan | None = None  # --shard K/M: planned, schedule and groups are this slice's

    @property
    def repeats(self) -> int:
        return next(iter(self.by_model.values())).repeats


def plan_new_run(request: RunRequest) -> NewRunPlan:
    """Check every input (settings, --data, the output directory), probe, plan, schedule; writes nothing."""
    overrides, options = scaleout.split_overrides(request.overrides)
    options = scaleout.check_nodes(options)
    make_settings(request.profile or "quick", None, overrides)  # fail on bad values before probing
    check_data_fits(request.filters.models or model_names(), overrides.get("data"),
                    int(overrides.get("seed") or 0))
    out = request.out
    check_output_dir(out or DEFAULT_RUNS_ROOT, "--out" if out else "the runs directory")
    if out and run_file(out).exists():
        raise BenchError(f"{out} already holds a run; use --resume to continue it or another --out")

    fws = request.filters.frameworks or framework_names()
    _say(f"probing {', '.join(fws)} ...")
    probes = probe_frameworks(fws, request.pythons)
    if request.assume_cuda:
        probes = assume_cuda_probes(probes, request.assume_cuda)
    profile_name = request.profile or default_profile_name(any(cuda_available(p) for p in probes.values()))
    planned: list[PlannedCell] = build_matrix(get_profile(profile_name), probes, request.filters,
                                              cpu_native=native_cpu_precisions())
    models = dict.fromkeys(p.cell.model for p in planned)
    by_model = {m: scaleout.with_options(make_settings(profile_name, m, overrides), options) for m in models}
    scaleout.check_batch_split((p.cell for p in planned if p.runnable), by_model)
    scaleout.check_cells_span((p.cell for p in planned if p.runnable), options)
    base = next(iter(by_model.values()))
    seed = base.seed if request.schedule_seed is None else request.schedule_seed
    runnable = [p.cell for p in planned if p.runnable]
    groups = headline_groups(runnable)
    schedule = build_schedule(runnable, base.repeats, seed, groups)
    plan = NewRunPlan(profile_name, probes, planned, by_model, schedule, seed, groups)
    if request.shard is None:
        return plan
    part = shard_plan(request.shard, profile_name, planned, by_model, schedule, seed, groups)
    return replace(plan, planned=part.planned, schedule=part.schedule, groups=part.groups, shard=part)


def adaptive_settings(request: RunRequest, plan: NewRunPlan) -> tuple[int, float | None]:
    """(pairs the adaptive phase may add per comparison, the run's time budget in seconds or None):
    the request's, else the profile's. No pairs where the planned processes give no interval (one
    per cell: --repeats 1 asks for one), nor in a shard (bench.plan.shard)."""
    prof = get_profile(plan.profile)
    cap = prof.adaptive_pairs if request.extra_pairs is None else request.extra_pairs
    if plan.shard is not None:
        cap = 0
    budget = prof.time_budget_s if request.time_budget_s is None else request.time_budget_s
    return (cap if plan.repeats >= 2 else 0), budget


def plan_seconds(plan: NewRunPlan) -> float:
    """The new run's estimated wall time (every process; this machine's stored runs where they tell)."""
    past = load_past_timings(DEFAULT_RUNS_ROOT, this_machine_identity(None, plan.probes),
                           {s.cell.device for s in plan.schedule})
    return sum(process_seconds(s.cell, plan.by_model[s.cell.model], s.repeat, past) for s in plan.schedule)


@dataclass(frozen=True)
class AdaptivePhase:
    """What the adaptive phase of a new run may do (bench.plan.adaptive)."""

    groups: list[tuple[Cell, ...]]
    cap: int
    budget_s: float | None
    started: float  # time.monotonic() at the run's start

    @property
    def deadline(self) -> float | None:
        return None if self.budget_s is None else self.started + self.budget_s - REPORT_RESERVE_S


def new_run(request: RunRequest) -> int:
    """Probe, plan, create the run directory, run the processes, summarise."""
    started = time.monotonic()
    plan = plan_new_run(request)
    profile_name, probes, planned, by_model = plan.profile, plan.probes, plan.planned, plan.by_model
    run_dir = request.out or unused_run_dir(DEFAULT_RUNS_ROOT, new_run_id())
    env = create_planned_run(run_dir, by_model, request.argv, profile_name, [p.cell for p in planned], probes,
                             plan.schedule, plan.schedule_seed, {
                                 "headline_groups": group_entries(plan.groups),
                                 "pythons": dict(request.pythons),
                                 "filters": request.filters.as_dict(),
                                 **({"shard": plan.shard.meta} if plan.shard else {}),
                             }, interpreters=request.filters.frameworks or framework_names())
    for p in planned:
        if not p.runnable:
            write_cell_result(run_dir, skipped_result(p.cell, by_model[p.cell.model],
                                                            p.skip_reason or "skipped"))
    n_cells = sum(p.runnable for p in planned)
    whole = " in the whole plan" if plan.shard else ""
    if plan.shard is not None:
        meta = plan.shard.meta
        _say(f"shard {request.shard}: {len(plan.schedule)} of the plan's {meta['processes']} process(es) "
             f"(run key {meta['run_key'][:12]}); adaptive extra pairs are off in a shard")
    _say(f"run {run_dir.name}: profile {profile_name}, {n_cells} cell(s) to run in {len(plan.schedule)} "
         f"process(es) ({plan.repeats} per cell{whole}, interleaved, schedule seed {plan.schedule_seed}), "
         f"{len(planned) - n_cells} skipped; estimated ~{fmt_duration(plan_seconds(plan))}; "
         f"results in {run_dir}")
    tf32 = any(st.tf32 for st in by_model.values())
    cap, budget = adaptive_settings(request, plan)
    return run_processes(run_dir, plan.schedule, by_model, request.pythons, tf32,
                         report=request.report, report_dir=report_dir_for(request, run_dir),
                         pinning=peak_pinning(request, env),
                         adaptive=AdaptivePhase(plan.groups, cap, budget, started) if cap else None)


def create_planned_run(run_dir: Path, by_model: Mapping[str, RunSettings], argv: Sequence[str], profile: str,
                       cells: Sequence[Cell], probes: dict[str, dict[str, Any]], schedule: Sequence[Slot],
                       schedule_seed: int, extra_meta: Mapping[str, Any],
                       interpreters: Sequence[str] = ()) -> dict[str, Any]:
    """Create a planned run's directory (run.json, environment.json); returns the environment.

    What a new run, an A/B run and a re-run (bench.plan.rerun) share. run.json's "settings" are those of the
    run's first model (all models' when they agree, as with explicit --steps/--warmup/--window-steps);
    "settings_by_model" has each model's, then ``extra_meta``. ``interpreters``: the frameworks whose
    probed interpreter the environment records.
    """
    env = collect_environment(probes)
    if interpreters:
        env["pythons"] = {fw: probes.get(fw, {}).get("python_executable", sys.executable)
                          for fw in interpreters}
    create_run(run_dir, next(iter(by_model.values())), list(argv), profile, cells,
                     run_id=Path(run_dir).name, environment=env, schedule=schedule,
                     schedule_seed=schedule_seed, extra_meta={
                         "settings_by_model": {m: s.to_dict() for m, s in by_model.items()}, **extra_meta})
    return env


def peak_pinning(request: RunRequest, env: Mapping[str, Any]) -> PeakPinning | None:
    """Where this run's device peaks are pinned (bench.host.pinned_peak): --peaks-dir, else reports/machines
    for a run in the default place; None (measured in the run only) for --out without --peaks-dir, so
    that nothing outside --out is written."""
    machines = request.peaks_dir or (None if request.out else default_machines_dir(DEFAULT_RUNS_ROOT))
    fp = env.get("fingerprint")
    fingerprint = fp.get("hash") if isinstance(fp, Mapping) else None
    if machines is None or not fingerprint:
        return None
    return PeakPinning(Path(machines), str(fingerprint), reprobe=request.reprobe_peak)


def report_dir_for(request: RunRequest, run_dir: Path) -> Path | None:
    """Where the reports of a run go: None (reports/, beside runs/) for a run in the default place;
    <run>/report/ when --out was given, so that nothing outside --out is written."""
    return None if request.out is None else Path(run_dir) / REPORT_SUBDIR


def run_processes(run_dir: Path, slots: list[Slot], by_model: dict[str, RunSettings],
                  pythons: Mapping[str, str], tf32: bool, *, report: bool,
                  report_dir: Path | None = None, pinning: PeakPinning | None = None,
                  adaptive: AdaptivePhase | None = None) -> int:
    """Measure (or read the pinned) peaks, run the processes in order, then the adaptive phase (a new
    run's), then summarise (and report)."""
    done_before = len(read_process_results(run_dir))
    cells = list(dict.fromkeys(s.cell for s in slots))
    try:
        peaks = {d: roofline_peaks(run_dir, d, cells, pythons, tf32, pinning) for d in ROOFLINE_DEVICES
                 if any(c.device == d for c in cells)}
        execute_processes(run_dir, slots, by_model, pythons, peaks)
        if adaptive is not None and adaptive.groups:
            run_adaptive(run_dir, adaptive.groups, by_model, cap=adaptive.cap, deadline=adaptive.deadline,
                         budget_s=adaptive.budget_s,
                         run_slots=lambda more: execute_processes(run_dir, more, by_model, pythons, peaks))
    except (Interrupted, KeyboardInterrupt):
        n = len(read_process_results(run_dir)) - done_before
        _say(f"\ninterrupted: {max(n, 0)} process result(s) written this time are kept in {run_dir}\n"
             f"continue with: python -m bench all --resume --out {run_dir}")
        return 130
    return finish_run(run_dir, report=report, report_dir=report_dir)


# --------------------------------------------------------------------------- resuming


def resume_run(request: RunRequest) -> int:
    """Re-run the missing and failed processes of a stored run, in its schedule's order."""
    plan = plan_resume(request)
    if plan is None:
        return 0
    update_run_meta(plan.run_dir, resumed_at=[*plan.meta.get("resumed_at", []), utc_now_iso("seconds")])
    fresh_work_dir(plan.run_dir)  # nothing a stored run left in work/ (a planted cache, a package) is used
    _say(f"resuming {plan.run_dir}: {len(plan.todo)} process(es) to run")
    base = RunSettings.from_dict(plan.meta["settings"])
    return run_processes(plan.run_dir, plan.todo, plan.by_model, plan.pythons, base.tf32,
                         report=request.report, report_dir=report_dir_for(request, plan.run_dir))


# --------------------------------------------------------------------------- running processes


def execute_processes(run_dir: Path, slots: Sequence[Slot], settings_by_model: Mapping[str, RunSettings],
                      pythons: Mapping[str, str], peaks: Mapping[str, float | dict[str, float] | None],
                      cell_launcher: Launcher | None = None) -> None:
    """Run processes one after another, in the given order (raises Interrupted on Ctrl-C; each finished
    process is on disk).

    ``peaks``: device -> its measured peak FLOP/s (per precision when measured), for fraction of peak.
    """
    progress = Progress(len(slots),
                        estimate=lambda s: process_seconds(s.cell, settings_by_model[s.cell.model], s.repeat))
    for i, slot in enumerate(slots):
        rest = list(slots[i + 1:])
        progress.start(slot, rest)
        cell = slot.cell
        result = run_cell(cell, settings_by_model[cell.model], run_dir, repeat=slot.repeat,
                          block=slot.block, order=slot.order, python=pythons.get(cell.framework),
                          peak_flops=peaks.get(cell.device), launcher=cell_launcher)
        progress.finish(slot, result, rest)


def _peaks(roof: dict[str, Any]) -> float | dict[str, float] | None:
    # Per precision when the probe measured it: a bf16 cell is held to the bf16 peak, not fp32's.
    return roof.get("peak_flops_by_precision") or roof.get("peak_flops")


def roofline_peaks(run_dir: Path, device: str, cells: Sequence[Cell], pythons: Mapping[str, str],
                   tf32: bool = False, pinning: PeakPinning | None = None) -> float | dict[str, float] | None:
    """``device``'s peak for this run (kept in roofline.json for CUDA, roofline-<device>.json
    otherwise; reused on --resume): with ``pinning``, the machine's pinned peak (bench.host.pinned_peak: read,
    or the best of several probes, stored), else measured once for this run.

    Per precision, the best of every source that can measure the device (bench.host.roofline.measure_peaks:
    each framework with cells on it, in its own interpreter, and numpy on CPU), one after the other.
    """
    from bench.host.roofline import measure_peaks

    if roofline_path(run_dir, device).exists():
        try:
            return _peaks(read_roofline(run_dir, device) or {})
        except (BenchError, AttributeError):
            pass
    sources = list(dict.fromkeys(c.framework for c in cells if c.device == device))
    if pinning is not None:
        roof = pinned_roofline(device, pinning, lambda: measure_peaks(device, sources, pythons, tf32=tf32),
                               tf32=tf32, say=_say)
    else:
        _say(f"measuring the {device.upper()} device's peak (roofline) ...")
        roof = measure_peaks(device, sources, pythons, tf32=tf32)
    write_roofline(run_dir, roof, device)
    if roof.get("peak_flops") is None:
        _say(f"warning: no device peak measured ({roof.get('error')}); fraction of peak left empty")
    return _peaks(roof)


def finish_run(run_dir: Path, *, report: bool, report_dir: Path | None = None) -> int:
    """Print the run's summary and failed processes, regenerate the reports; 1 when a process failed."""
    drop_shared_scratch(run_dir)
    data = load_run(run_dir)
    cells = data.cells
    print(f"results: {run_dir}")
    print(summary_table(cells, data.steps))
    counts = cells["status"].value_counts().to_dict() if not cells.empty else {}
    print("processes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    failed = cells[cells["status"].isin(FAILED_STATUSES)] if not cells.empty else cells
    for _, row in failed.iterrows():
        repeat = int(row["repeat"])
        print(f"{row['status']}: {row['cell_id']} r{repeat}: {row['reason']} "
              f"(log: {log_path(run_dir, row['cell_id'], repeat)})")
    if report:
        try:
            where = report_out_dir(run_dir, report_dir)
            written = report_after_run(run_dir, where, loaded=data)
            if written:
                print(f"reports: {len(written)} file(s); front page: {where / 'README.md'}")
        except Exception as e:  # the results are on disk; a report bug must not hide them
            first = str(e).splitlines()[0] if str(e) else ""
            _say(f"warning: report generation failed ({type(e).__name__}: {first}); "
                 f"results are in {run_dir}; retry with `python -m bench report`")
    return 1 if len(failed) else 0


def report_out_dir(run_dir: Path, out: Path | None = None) -> Path:
    """``out`` when given; else reports/ for a run in the default place (reports/runs/<id>), as the
    README promises, and <run>/report/ for any other run (never beside it: a run writes only
    inside its own directory)."""
    if out is not None:
        return Path(out)
    run_dir = Path(run_dir)
    in_default_place = run_dir.absolute().parent == DEFAULT_RUNS_ROOT.absolute()
    return run_dir.parent.parent if in_default_place else run_dir / REPORT_SUBDIR


def report_after_run(run_dir: Path, out: Path | None = None, *, loaded: RunData | None = None) -> list[Path]:
    """Regenerate the reports after a run, into ``report_out_dir(run_dir, out)``; returns the files.
    ``loaded``: the run as ``finish_run`` loaded it, so that a command checks its run once."""
    # Imported here: the pages pull in pandas and matplotlib, which a run without reports never needs.
    from bench.report.build import write_report
    from bench.report.pytest_benchmark import write_export

    run_dir = Path(run_dir)
    data = loaded if loaded is not None else load_run(run_dir)
    written = write_report([run_dir], report_out_dir(run_dir, out), loaded=run_set([data]))
    written.append(write_export(run_dir, loaded=data))
    return written


__all__ = ["REPORT_SUBDIR", "AdaptivePhase", "NewRunPlan", "RunRequest", "adaptive_settings",
           "create_planned_run", "execute_processes", "finish_run",
           "new_run", "plan_new_run", "plan_resume", "report_after_run", "report_dir_for", "report_out_dir",
           "resume_interpreters", "resume_run", "roofline_peaks", "run", "run_processes", "summary_table"]
