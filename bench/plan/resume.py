"""Resuming a stored run: which of its processes to run again, checked before anything is touched.

``--resume`` continues a run of this schema only (an older one is refused in one line): it re-runs
the processes with no result, or with a failed, timed-out or out-of-memory one, in the run's
schedule order, with the run's stored settings. The stored run is untrusted input: every file is
validated first (``check_run``), the machine must be the same, and an interpreter path
stored in the run is never executed.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.clock import physical_cores
from bench.errors import BenchError
from bench.host.machine import check_same_machine
from bench.inputs import check_data_fits, check_output_dir
from bench.plan.request import RunRequest
from bench.results.find import latest_run
from bench.results.load import check_run, processes_to_rerun, read_environment, scheduled_slots
from bench.results.paths import DEFAULT_RUNS_ROOT, ENV_FILE, WORK_DIR, flat_layout
from bench.results.records import SCHEMA_VERSION, RunSettings
from bench.results.slots import Slot
from bench.same_settings import ABSENT_MEANS

__all__ = ["ResumePlan", "check_same_settings", "fresh_work_dir", "plan_resume", "resume_interpreters"]


@dataclass(frozen=True)
class ResumePlan:
    run_dir: Path
    meta: dict[str, Any]
    todo: list[Slot]  # in run order
    by_model: dict[str, RunSettings]
    pythons: dict[str, str]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resume_interpreters(meta: Mapping[str, Any], request: RunRequest, run_dir: Path) -> dict[str, str]:
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
    """The run to resume and its processes to re-run, all checked; None (said why) when nothing is left."""
    run_dir = request.out or latest_run(DEFAULT_RUNS_ROOT)
    if run_dir is None:
        raise BenchError(f"no run to resume under {DEFAULT_RUNS_ROOT} "
                         "(start one with `python -m bench all`)")
    meta = check_run(run_dir)  # every stored file validated before anything is touched
    schema = meta.get("schema", 1)
    if schema != SCHEMA_VERSION:  # its processes would be stored beside another schema's
        what = " (one process per cell)" if flat_layout(schema) else ""
        raise BenchError(f"{run_dir} is a schema-{schema} run{what}; --resume continues runs of schema "
                         f"{SCHEMA_VERSION} only (this framebench's): start a new run")
    if "ab" in meta:  # its sides' interpreters, code and environments are not the run's own
        raise BenchError(f"{run_dir} is an A/B run of `bench compare`: --resume would run every process "
                         "as side A; start a new comparison")
    check_same_settings(request, meta, run_dir)
    if (run_dir / ENV_FILE).exists():
        refusal = check_same_machine(read_environment(run_dir), what=str(run_dir))
        if refusal:
            raise BenchError(refusal)
    todo = [s for s in processes_to_rerun(run_dir) if request.filters.matches(s.cell)]
    if not todo:
        n = len(scheduled_slots(meta))
        _say(f"nothing to resume: all {n} planned process(es) of {run_dir} have results "
             f"(none missing, failed, timed out or out of memory)")
        return None
    check_output_dir(run_dir, "--out")
    pythons = resume_interpreters(meta, request, run_dir)
    by_model = {m: RunSettings.from_dict(d) for m, d in (meta.get("settings_by_model") or {}).items()}
    base = RunSettings.from_dict(meta["settings"])
    for s in todo:
        by_model.setdefault(s.cell.model, base)
    for model in dict.fromkeys(s.cell.model for s in todo):  # the stored --data may be gone or changed
        check_data_fits([model], by_model[model].data, by_model[model].seed)
    return ResumePlan(Path(run_dir), meta, todo, by_model, pythons)


def check_same_settings(request: RunRequest, meta: dict[str, Any], run_dir: Path) -> None:
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
            s = {**ABSENT_MEANS, **s}  # a setting added later: what the stored run measured with
            if key in s and s[key] != value:
                raise BenchError(f"settings differ from the run in {run_dir}: {key} {value!r} "
                                 f"(stored: {s[key]!r}); resume without it or start a new run")
    seed = meta.get("schedule_seed")
    if request.schedule_seed is not None and request.schedule_seed != seed:
        raise BenchError(f"settings differ from the run in {run_dir}: schedule seed {request.schedule_seed} "
                         f"(stored: {seed!r}); resume without it or start a new run")
    stored_shard = meta.get("shard") or {}
    if request.shard is not None and (stored_shard.get("k"), stored_shard.get("m")) != (request.shard.k,
                                                                                      request.shard.m):
        was = f"shard {stored_shard.get('k')}/{stored_shard.get('m')}" if stored_shard else "not a shard"
        raise BenchError(f"settings differ from the run in {run_dir}: --shard {request.shard} (stored: "
                         f"{was}); resume without it or start a new run")
    if request.filters.batch_size:
        raise BenchError("--batch-size cannot change on --resume (it is part of each stored cell)")


def fresh_work_dir(run_dir: Path) -> None:
    """Recreate the run's work/ empty before a resume starts processes in it.

    work/ is scratch (spec files, compile caches), and a stored run's is untrusted: a compile cache holds
    code a framework would load, and a planted file could pass for the worker's own. Nothing of it is
    read back, so it is removed whole (links are removed, never followed) rather than vetted.
    """
    work = Path(run_dir) / WORK_DIR
    try:
        if work.is_symlink() or (work.exists() and not work.is_dir()):
            work.unlink()
        elif work.exists():
            shutil.rmtree(work)
        work.mkdir()
    except OSError as e:
        raise BenchError(f"cannot recreate {work} empty for the resume: {e.strerror or e}") from None
