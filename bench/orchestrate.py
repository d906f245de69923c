"""A run, start to finish: probe, plan, create the run directory, run the cells, summarise, report.

Takes a typed ``RunRequest`` (what ``all``/``run`` parsed and checked), never an argparse namespace.
The parent never imports a framework: frameworks are probed (bench.probing) and cells run
(bench.launcher) in subprocesses. Every choice is validated before anything is written.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.registry import model_names

from . import launcher, store
from .cell import Cell
from .clock import physical_cores, utc_now_iso
from .envinfo import collect_environment
from .errors import BenchError
from .frameworks.registry import framework_names
from .inputs import check_data_fits, check_output_dir
from .launcher import Interrupted
from .machine import check_same_machine
from .matrix import Filters, PlannedCell, build_matrix
from .probing import cuda_available, probe_frameworks, roofline_framework, run_roofline
from .profiles import default_profile_name, estimate_cell_seconds, get_profile, make_settings
from .progress import Progress, fmt_duration
from .records import RunSettings
from .summary import summary_table
from .vocab import FAILED_STATUSES, PROFILES, check_choice

# Where the reports of a run given --out go, inside it.
REPORT_SUBDIR = "report"
# Devices whose cells are held to a measured peak (fraction of peak); one roofline per run each.
ROOFLINE_DEVICES = ("cuda",)


@dataclass(frozen=True)
class RunRequest:
    """A run as asked for: every value already parsed (names are checked by ``run``)."""

    filters: Filters = field(default_factory=Filters)
    profile: str | None = None  # None: full with CUDA, quick without (a resumed run keeps its own)
    overrides: Mapping[str, Any] = field(default_factory=dict)  # RunSettings fields given explicitly
    pythons: Mapping[str, str] = field(default_factory=dict)  # framework -> interpreter
    out: Path | None = None  # run directory; None: a new one under reports/runs (or the latest)
    resume: bool = False
    report: bool = True  # regenerate the reports afterwards
    argv: Sequence[str] = ()  # the command line, stored in run.json


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(request: RunRequest) -> int:
    """Start (or resume) a run; the exit status: 0 all ran, 1 some cell failed, 130 interrupted.

    Raises BenchError (or DataError) on bad input, before anything is written.
    """
    request.filters.validate()
    if request.profile is not None:
        check_choice("profile", request.profile, PROFILES)
    return resume_run(request) if request.resume else new_run(request)


# --------------------------------------------------------------------------- a new run


def _unique_run_dir(root: Path, run_id: str) -> Path:
    d, i = root / run_id, 1
    while d.exists():
        d, i = root / f"{run_id}-{i}", i + 1
    return d


@dataclass(frozen=True)
class NewRunPlan:
    """A new run as planned, before anything is written (``all --dry-run`` prints it)."""

    profile: str
    probes: dict[str, dict[str, Any]]
    planned: list[PlannedCell]
    by_model: dict[str, RunSettings]


def plan_new_run(request: RunRequest) -> NewRunPlan:
    """Check every input (settings, --data, the output directory), probe, plan; writes nothing."""
    overrides = dict(request.overrides)
    make_settings(request.profile or "quick", None, overrides)  # fail on bad values before probing
    check_data_fits(request.filters.models or model_names(), overrides.get("data"),
                    int(overrides.get("seed") or 0))
    out = request.out
    check_output_dir(out or store.DEFAULT_RUNS_ROOT, "--out" if out else "the runs directory")
    if out and store.run_file(out).exists():
        raise BenchError(f"{out} already holds a run; use --resume to continue it or another --out")

    fws = request.filters.frameworks or framework_names()
    _say(f"probing {', '.join(fws)} ...")
    probes = probe_frameworks(fws, request.pythons)
    profile_name = request.profile or default_profile_name(any(cuda_available(p) for p in probes.values()))
    planned: list[PlannedCell] = build_matrix(get_profile(profile_name), probes, request.filters)
    models = dict.fromkeys(p.cell.model for p in planned)
    by_model = {m: make_settings(profile_name, m, overrides) for m in models}
    return NewRunPlan(profile_name, probes, planned, by_model)


def new_run(request: RunRequest) -> int:
    """Probe, plan, create the run directory, run the cells, summarise."""
    plan = plan_new_run(request)
    profile_name, probes, planned, by_model = plan.profile, plan.probes, plan.planned, plan.by_model
    out = request.out
    fws = request.filters.frameworks or framework_names()
    # run.json's "settings" are those of the run's first model (all models' when they agree, as
    # with explicit --steps/--warmup/--window-steps); "settings_by_model" has each model's.
    base = next(iter(by_model.values()))

    env = collect_environment(probes)
    env["pythons"] = {fw: probes.get(fw, {}).get("python_executable", sys.executable) for fw in fws}
    run_dir = out or _unique_run_dir(store.DEFAULT_RUNS_ROOT, store.new_run_id())
    store.create_run(run_dir, base, list(request.argv), profile_name, [p.cell for p in planned],
                     run_id=run_dir.name, environment=env, extra_meta={
                         "settings_by_model": {m: s.to_dict() for m, s in by_model.items()},
                         "pythons": dict(request.pythons),
                         "filters": request.filters.as_dict(),
                     })
    for p in planned:
        if not p.runnable:
            store.write_cell_result(run_dir, launcher.skipped_result(p.cell, by_model[p.cell.model],
                                                                     p.skip_reason or "skipped"))
    runnable = [p.cell for p in planned if p.runnable]
    n_skip = len(planned) - len(runnable)
    _say(f"run {run_dir.name}: profile {profile_name}, {len(runnable)} cell(s) to run, {n_skip} skipped; "
         f"results in {run_dir}")
    tf32 = any(st.tf32 for st in by_model.values())
    return _run_cells(run_dir, runnable, by_model, request.pythons, tf32, n_skip,
                      report=request.report, report_dir=report_dir_for(request, run_dir))


def report_dir_for(request: RunRequest, run_dir: Path) -> Path | None:
    """Where the reports of a run go: None (reports/, beside runs/) for a run in the default place;
    <run>/report/ when --out was given, so that nothing outside --out is written."""
    return None if request.out is None else Path(run_dir) / REPORT_SUBDIR


def _run_cells(run_dir: Path, cells: list[Cell], by_model: dict[str, RunSettings], pythons: Mapping[str, str],
               tf32: bool, done_before: int, *, report: bool, report_dir: Path | None = None) -> int:
    try:
        peaks = {d: roofline_peaks(run_dir, d, cells, pythons, tf32) for d in ROOFLINE_DEVICES
                 if any(c.device == d for c in cells)}
        execute_cells(run_dir, cells, by_model, pythons, peaks)
    except (Interrupted, KeyboardInterrupt):
        n = len(store.read_cell_results(run_dir)) - done_before
        _say(f"\ninterrupted: {max(n, 0)} cell result(s) written this time are kept in {run_dir}\n"
             f"continue with: python -m bench all --resume --out {run_dir}")
        return 130
    return finish_run(run_dir, report=report, report_dir=report_dir)


# --------------------------------------------------------------------------- resuming


def resume_run(request: RunRequest) -> int:
    plan = plan_resume(request)
    if plan is None:
        return 0
    run_dir, meta, todo, by_model, pythons = plan
    base = RunSettings.from_dict(meta["settings"])
    done_before = len(store.read_cell_results(run_dir))
    store.update_run_meta(run_dir, resumed_at=[*meta.get("resumed_at", []), utc_now_iso("seconds")])
    _say(f"resuming {run_dir}: {len(todo)} cell(s) to run")
    return _run_cells(run_dir, todo, by_model, pythons, base.tf32, done_before, report=request.report,
                      report_dir=report_dir_for(request, run_dir))


ResumePlan = tuple[Path, dict[str, Any], list[Cell], dict[str, RunSettings], dict[str, str]]


def _resume_interpreters(meta: Mapping[str, Any], request: RunRequest, run_dir: Path) -> dict[str, str]:
    """The interpreters a resume starts: only those given now. A stored run is untrusted input, so an
    interpreter path read from it is never executed; a run made with --python must be given it again."""
    stored = {fw: str(p) for fw, p in (meta.get("pythons") or {}).items()}
    missing = {fw: p for fw, p in stored.items() if fw not in request.pythons}
    if missing:
        again = " ".join(f"--python {fw}={p}" for fw, p in sorted(missing.items()))
        raise BenchError(f"{run_dir} was run with other interpreters; resume it with {again} "
                         "(interpreter paths stored in a run are never executed)")
    return dict(request.pythons)


def plan_resume(request: RunRequest) -> ResumePlan | None:
    """The run to resume and its cells to re-run, all checked; None (said why) when nothing is left."""
    run_dir = request.out or store.latest_run(store.DEFAULT_RUNS_ROOT)
    if run_dir is None:
        raise BenchError(f"no run to resume under {store.DEFAULT_RUNS_ROOT} "
                         "(start one with `python -m bench all`)")
    meta = store.check_run(run_dir)  # every stored file validated before anything is touched
    _check_same_settings(request, meta, run_dir)
    env_path = run_dir / store.ENV_FILE
    if env_path.exists():
        refusal = check_same_machine(store.read_environment(run_dir), what=str(run_dir))
        if refusal:
            raise BenchError(refusal)
    todo = [c for c in store.cells_to_rerun(run_dir) if request.filters.matches(c)]
    if not todo:
        n = len(meta["cells_planned"])
        _say(f"nothing to resume: all {n} planned cell(s) of {run_dir} have results "
             f"(none missing, failed, timed out or out of memory)")
        return None
    check_output_dir(run_dir, "--out")
    pythons = _resume_interpreters(meta, request, run_dir)
    by_model = {m: RunSettings.from_dict(d) for m, d in (meta.get("settings_by_model") or {}).items()}
    base = RunSettings.from_dict(meta["settings"])
    for c in todo:
        by_model.setdefault(c.model, base)
    for model in dict.fromkeys(c.model for c in todo):  # the stored --data may be gone or changed
        check_data_fits([model], by_model[model].data, by_model[model].seed)
    return run_dir, meta, todo, by_model, pythons


# --------------------------------------------------------------------------- dry run


def dry_run(request: RunRequest) -> int:
    """``all --dry-run``: every input checked as for a run, then the plan printed; nothing written."""
    request.filters.validate()
    if request.profile is not None:
        check_choice("profile", request.profile, PROFILES)
    if request.resume:
        plan = plan_resume(request)
        if plan is None:
            return 0
        run_dir, _meta, todo, by_model, _ = plan
        rows = [(c, None) for c in todo]
        head = f"dry run: resuming {run_dir} would re-run {len(todo)} cell(s)"
    else:
        new = plan_new_run(request)
        by_model = new.by_model
        rows = [(p.cell, p.skip_reason) for p in new.planned]
        n_run = sum(reason is None for _, reason in rows)
        head = (f"dry run: profile {new.profile}, {n_run} cell(s) to run, {len(rows) - n_run} skipped "
                f"(estimates are for a 2-core reference CPU)")
    print(head)
    width = max(len(c.cell_id) for c, _ in rows)
    total = 0.0
    for cell, reason in rows:
        if reason is None:
            est = estimate_cell_seconds(cell, by_model[cell.model])
            total += est
            print(f"  {cell.cell_id:<{width}}  run   ~{fmt_duration(est)}")
        else:
            print(f"  {cell.cell_id:<{width}}  skip  {reason}")
    print(f"estimated total: ~{fmt_duration(total)} (nothing was run or written)")
    return 0


def _check_same_settings(request: RunRequest, meta: dict[str, Any], run_dir: Path) -> None:
    """Resume only with the stored run's settings: asked-for values must equal the stored ones."""
    if request.profile is not None and request.profile != meta.get("profile"):
        raise BenchError(f"settings differ from the run in {run_dir}: profile {request.profile!r} "
                         f"(stored: {meta.get('profile')!r}); resume without it or start a new run")
    stored = list((meta.get("settings_by_model") or {}).values()) or [meta["settings"]]
    given = dict(request.overrides)
    if given.get("intra_op_threads") == 0:
        given["intra_op_threads"] = physical_cores()
    for key, value in given.items():
        for s in stored:
            if key in s and s[key] != value:
                raise BenchError(f"settings differ from the run in {run_dir}: {key} {value!r} "
                                 f"(stored: {s[key]!r}); resume without it or start a new run")
    if request.filters.batch_size:
        raise BenchError("--batch-size cannot change on --resume (it is part of each stored cell)")


# --------------------------------------------------------------------------- running cells


def execute_cells(run_dir: Path, cells: list[Cell], settings_by_model: Mapping[str, RunSettings],
                  pythons: Mapping[str, str], peaks: Mapping[str, float | dict[str, float] | None],
                  cell_launcher: launcher.Launcher | None = None) -> None:
    """Run cells one after another (raises Interrupted on Ctrl-C; each finished cell is on disk).

    ``peaks``: device -> its measured peak FLOP/s (per precision when measured), for fraction of peak.
    """
    progress = Progress(len(cells), estimate=lambda c: estimate_cell_seconds(c, settings_by_model[c.model]))
    for i, cell in enumerate(cells):
        rest = cells[i + 1:]
        progress.start(cell, rest)
        result = launcher.run_cell(cell, settings_by_model[cell.model], run_dir,
                                   python=pythons.get(cell.framework), peak_flops=peaks.get(cell.device),
                                   launcher=cell_launcher)
        progress.finish(cell, result, rest)


def _peaks(roof: dict[str, Any]) -> float | dict[str, float] | None:
    # Per precision when the probe measured it: a bf16 cell is held to the bf16 peak, not fp32's.
    return roof.get("peak_flops_by_precision") or roof.get("peak_flops")


def roofline_peaks(run_dir: Path, device: str, cells: Sequence[Cell], pythons: Mapping[str, str],
                   tf32: bool = False) -> float | dict[str, float] | None:
    """Measure ``device``'s peak once per run (kept in roofline.json; reused on --resume).

    It is measured by the framework the registry prefers among those with cells on the device (their
    probes saw it), in that framework's interpreter.
    """
    path = run_dir / store.ROOFLINE_FILE
    if path.exists():
        try:
            return _peaks(store.read_roofline(run_dir) or {})
        except (BenchError, AttributeError):
            pass
    fw = roofline_framework(c.framework for c in cells if c.device == device)
    if fw is None:
        roof: dict[str, Any] = {"device": device, "peak_flops": None,
                                "error": f"no framework here can measure the {device} roofline"}
    else:
        _say(f"measuring the {device.upper()} device's peak (roofline) ...")
        roof = run_roofline(device, fw, python=pythons.get(fw), tf32=tf32)
    store.write_roofline(run_dir, roof)
    if roof.get("peak_flops") is None:
        _say(f"warning: no device peak measured ({roof.get('error')}); fraction of peak left empty")
    return _peaks(roof)


def finish_run(run_dir: Path, *, report: bool, report_dir: Path | None = None) -> int:
    """Print the run's summary and failures, regenerate the reports; 1 when a cell failed."""
    data = store.load_run(run_dir)
    cells = data.cells
    print(f"results: {run_dir}")
    print(summary_table(cells))
    counts = cells["status"].value_counts().to_dict() if not cells.empty else {}
    print("status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    failed = cells[cells["status"].isin(FAILED_STATUSES)] if not cells.empty else cells
    for _, row in failed.iterrows():
        print(f"{row['status']}: {row['cell_id']}: {row['reason']} "
              f"(log: {store.log_path(run_dir, row['cell_id'])})")
    if report:
        try:
            where = report_out_dir(run_dir, report_dir)
            written = report_after_run(run_dir, where)
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
    in_default_place = run_dir.absolute().parent == store.DEFAULT_RUNS_ROOT.absolute()
    return run_dir.parent.parent if in_default_place else run_dir / REPORT_SUBDIR


def report_after_run(run_dir: Path, out: Path | None = None) -> list[Path]:
    """Regenerate the reports after a run, into ``report_out_dir(run_dir, out)``; returns the files."""
    # Imported here: the pages pull in pandas and matplotlib, which a run without reports never needs.
    from .pytest_benchmark_export import write_export
    from .report import write_report

    run_dir = Path(run_dir)
    written = write_report([run_dir], report_out_dir(run_dir, out))
    written.append(write_export(run_dir))
    return written


__all__ = ["REPORT_SUBDIR", "NewRunPlan", "RunRequest", "dry_run", "execute_cells", "finish_run",
           "new_run", "plan_new_run", "plan_resume", "report_after_run", "report_dir_for", "report_out_dir",
           "resume_run", "roofline_peaks", "run", "summary_table"]
