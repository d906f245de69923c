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

from models.registry import family_of, get_spec, model_names

from . import launcher, store
from .cell import Cell
from .clock import physical_cores, utc_now_iso
from .envinfo import collect_environment
from .errors import BenchError
from .frameworks.registry import framework_names
from .launcher import Interrupted
from .machine import check_same_machine
from .matrix import Filters, PlannedCell, build_matrix
from .probing import cuda_available, probe_frameworks, roofline_framework, run_roofline
from .profiles import default_profile_name, estimate_cell_seconds, get_profile, make_settings
from .progress import Progress
from .records import RunSettings
from .vocab import FAILED_STATUSES, PROFILES, check_choice

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


def _check_data(models: Sequence[str], data: str | None) -> None:
    """The models' families check a --data file once, before anything runs (DataError: one line)."""
    if data in (None, "synthetic"):
        return
    for model in models:
        check = family_of(model).check_data
        if check is not None:
            check(get_spec(model), data)


def new_run(request: RunRequest) -> int:
    """Probe, plan, create the run directory, run the cells, summarise."""
    overrides = dict(request.overrides)
    make_settings(request.profile or "quick", None, overrides)  # fail on bad values before probing
    _check_data(request.filters.models or model_names(), overrides.get("data"))
    out = request.out
    if out and store.run_file(out).exists():
        raise BenchError(f"{out} already holds a run; use --resume to continue it or another --out")

    fws = request.filters.frameworks or framework_names()
    _say(f"probing {', '.join(fws)} ...")
    probes = probe_frameworks(fws, request.pythons)
    profile_name = request.profile or default_profile_name(any(cuda_available(p) for p in probes.values()))
    planned: list[PlannedCell] = build_matrix(get_profile(profile_name), probes, request.filters)
    models = dict.fromkeys(p.cell.model for p in planned)
    by_model = {m: make_settings(profile_name, m, overrides) for m in models}
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
    return _run_cells(run_dir, runnable, by_model, request.pythons, tf32, n_skip, report=request.report)


def _run_cells(run_dir: Path, cells: list[Cell], by_model: dict[str, RunSettings], pythons: Mapping[str, str],
               tf32: bool, done_before: int, *, report: bool) -> int:
    try:
        peaks = {d: roofline_peaks(run_dir, d, cells, pythons, tf32) for d in ROOFLINE_DEVICES
                 if any(c.device == d for c in cells)}
        execute_cells(run_dir, cells, by_model, pythons, peaks)
    except (Interrupted, KeyboardInterrupt):
        n = len(store.read_cell_results(run_dir)) - done_before
        _say(f"\ninterrupted: {max(n, 0)} cell result(s) written this time are kept in {run_dir}\n"
             f"continue with: python -m bench all --resume --out {run_dir}")
        return 130
    return finish_run(run_dir, report=report)


# --------------------------------------------------------------------------- resuming


def resume_run(request: RunRequest) -> int:
    run_dir = request.out or store.latest_run(store.DEFAULT_RUNS_ROOT)
    if run_dir is None:
        raise BenchError(f"no run to resume under {store.DEFAULT_RUNS_ROOT} "
                         "(start one with `python -m bench all`)")
    meta = store.read_run_meta(run_dir)
    _check_same_settings(request, meta, run_dir)
    env_path = run_dir / store.ENV_FILE
    if env_path.exists():
        refusal = check_same_machine(store.read_json(env_path, "environment file"), what=str(run_dir))
        if refusal:
            raise BenchError(refusal)
    todo = [c for c in store.cells_to_rerun(run_dir) if request.filters.matches(c)]
    if not todo:
        n = len(meta["cells_planned"])
        _say(f"nothing to resume: all {n} planned cell(s) of {run_dir} have results "
             f"(none missing, failed, timed out or out of memory)")
        return 0
    pythons = {**(meta.get("pythons") or {}), **request.pythons}
    by_model = {m: RunSettings.from_dict(d) for m, d in (meta.get("settings_by_model") or {}).items()}
    base = RunSettings.from_dict(meta["settings"])
    for c in todo:
        by_model.setdefault(c.model, base)
    done_before = len(store.read_cell_results(run_dir))
    store.update_run_meta(run_dir, resumed_at=[*meta.get("resumed_at", []), utc_now_iso("seconds")])
    _say(f"resuming {run_dir}: {len(todo)} cell(s) to run")
    return _run_cells(run_dir, todo, by_model, pythons, base.tf32, done_before, report=request.report)


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
            return _peaks(store.read_json(path, "roofline file"))
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


# --------------------------------------------------------------------------- summary


def summary_table(cells: Any) -> str:
    """cell, status, median step, images/s, time to first step (and the reason when not ok)."""
    import pandas as pd

    if cells.empty:
        return "(no cells)"

    def ms(v: Any) -> str:
        return "" if pd.isna(v) else f"{v * 1000:.1f} ms"

    table = pd.DataFrame({
        "cell": cells["cell_id"],
        "status": cells["status"],
        "median step": cells["step_time_median_s"].map(ms),
        "images/s": cells["throughput_img_s"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
        "first step": cells["time_to_first_step_s"].map(lambda v: "" if pd.isna(v) else f"{v:.2f} s"),
        "reason": cells["reason"].fillna("").map(lambda r: r if len(r) <= 60 else r[:57] + "..."),
    })
    return table.to_string(index=False)


def finish_run(run_dir: Path, *, report: bool) -> int:
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
            written = report_after_run(run_dir)
            if written:
                print("reports: " + ", ".join(str(p) for p in written))
        except Exception as e:  # the results are on disk; a report bug must not hide them
            first = str(e).splitlines()[0] if str(e) else ""
            _say(f"warning: report generation failed ({type(e).__name__}: {first}); "
                 f"results are in {run_dir}; retry with `python -m bench report`")
    return 1 if len(failed) else 0


def report_after_run(run_dir: Path) -> list[Path]:
    """Regenerate the reports after a run, into the reports/ directory holding runs/; returns the files."""
    # Imported here: the pages pull in pandas and matplotlib, which a run without reports never needs.
    from .pytest_benchmark_export import write_export
    from .report import write_report

    run_dir = Path(run_dir)
    out = run_dir.parent.parent if run_dir.parent.name == "runs" else store.DEFAULT_RUNS_ROOT.parent
    written = write_report([run_dir], out)
    written.append(write_export(run_dir))
    return written


__all__ = ["RunRequest", "execute_cells", "finish_run", "new_run",
           "report_after_run", "resume_run", "roofline_peaks", "run", "summary_table"]
