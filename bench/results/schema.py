"""Schemas of the stored files, checked on every load: a results directory is someone else's input.

Runs are committed and shared between machines, so every file read back (run.json, environment.json,
cells/<cell_id>/r<k>.json, steps/<cell_id>/r<k>.jsonl, roofline.json, baselines) is validated here,
after the migration of older schemas (bench.results.migrations), with pydantic v2 in strict mode: no value is
coerced ("3" is not a number, 1.5 or true is not an integer). The record types are those of the
dataclasses in bench.results.records (one source of truth); constraints are added by rule:

- every float is finite (a NaN or inf is stored as null) and non-negative, except ``SIGNED`` ones;
- every int is a count, 0 ≤ n ≤ 2**53 (exact in the float64 columns of the tables);
- names (cell id parts, run ids, fingerprints, loss names) match ``NAME_PATTERN``, so none is a path;
- cell axes are valid values by their one validator each (bench.axes), statuses, phases and profiles
  names of the vocabulary (bench.vocab and the registries, read when a file is validated, so plugins
  count);
- a process's ``repeat`` is at least 1; run.json's schedule names planned cells only, each process
  once, in order (bench.results.layout, which also checks the directory layout and the files' names).
Any problem is a BenchError of one line naming the file and the field:
``corrupt cell result <path>: batch_size: Input should be a valid integer (got 'big')``.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from bench import vocab
from bench.axes import cell_problem
from bench.cell import CELL_AXES, ID_PART, Cell, parse_cell_id
from bench.errors import BenchError
from bench.results.layout import run_meta_problem
from bench.results.records import SCHEMA_VERSION, STEP_PHASES, CellResult, RunSettings, StepRecord
from bench.results.schema_text import describe, one_line

__all__ = ["BASELINE_KIND", "BASELINE_SCHEMA", "MAX_BASELINE_RUNS", "MAX_COUNT", "NAME_PATTERN",
           "checked_cell_id", "describe", "one_line", "validate_baseline",
           "validate_cell_result", "validate_environment", "validate_roofline", "validate_run_meta",
           "validate_step_row"]

BASELINE_SCHEMA = 2  # 1: one run's cells; 2: "runs", the history
BASELINE_KIND = "framebench-baseline"
# Runs a baseline file may hold: it keeps 20 by default (bench.gate.baseline.MAX_RUNS); --max-runs goes up to
# this.
MAX_BASELINE_RUNS = 1000
ENVIRONMENT_SCHEMAS = (1,)
MAX_COUNT = 2**53
NAME_PATTERN = rf"^{ID_PART.pattern}$"
NAME_MAX = 200  # file names are at most 255 bytes; a cell id is a file name
# Numbers that may be negative: the losses (a family may define a signed one) and the drift of step times.
SIGNED = frozenset({"step_time_drift", "final_losses", "losses"})

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
# Which of a cell's processes (1-based): a process file is r<k>, k >= 1.
Repeat = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Number = Annotated[float, Field(allow_inf_nan=False)]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=NAME_MAX)]
# A run id: a directory name when a run is created, but only a label once stored (committed runs use
# "_scratch-..."): safe characters, not only dots.
Label = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$", max_length=NAME_MAX)]


def _problem(text: str) -> PydanticCustomError:
    # A check of ours, reported like pydantic's own errors (the template is only the text).
    return PydanticCustomError("framebench", "{problem}", {"problem": text})


# The stored type of each kind of file; its validator is built on first use (a command that reads
# only run.json does not pay for the others).
_TYPES: dict[str, Any] = {}


@functools.cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    return TypeAdapter(_TYPES[kind])


def _validate(kind: str, data: Any, what: str, path: Path | str, at: str = "") -> Any:
    try:
        return _adapter(kind).validate_python(data, strict=True)
    except ValidationError as e:
        raise BenchError(one_line(f"corrupt {what} {path}: {at}{describe(e)}")) from None
    except (RecursionError, OverflowError, ValueError) as e:  # absurdly nested or sized input
        raise BenchError(one_line(f"corrupt {what} {path}: {at}{type(e).__name__}: {e}")) from None


# --------------------------------------------------------------------------- the vocabulary


def _cell_of(d: Mapping[str, Any]) -> Cell:
    return Cell(**{a: d[a] for a in CELL_AXES if a in d})


def checked_cell_id(cell_id: Any) -> Cell:
    """The cell of a stored cell id: safe syntax (bench.cell.parse_cell_id) and every axis a name of
    the vocabulary; BenchError otherwise."""
    cell = parse_cell_id(cell_id)
    problem = cell_problem(cell.to_dict())
    if problem:
        raise BenchError(f"cell id {cell_id!r}: {problem}")
    return cell


def _cell_id(value: str) -> str:
    try:
        checked_cell_id(value)
    except BenchError as e:
        raise _problem(str(e)) from None
    return value


CellId = Annotated[str, AfterValidator(_cell_id)]


# --------------------------------------------------------------------------- records → stored types


def _stored_type(name: str, tp: Any) -> Any:
    """The stored form of a record field's type, constrained by the rules of the module docstring."""
    if tp is float:
        return Number if name in SIGNED else Amount
    if tp is int:
        return Count
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return Union[tuple(_stored_type(name, a) for a in args)]  # noqa: UP007 (built from a tuple)
    if origin is list:
        return list[_stored_type(name, args[0])]
    if origin is dict and args[1] is not Any:
        # Named values (losses): a NaN was stored as null.
        return dict[Name, _stored_type(name, args[1]) | None]
    return tp


def _record_fields(dc: type, overrides: Mapping[str, Any], *, all_optional: bool = False,
                   skip: tuple[str, ...] = ()) -> dict[str, Any]:
    hints = get_type_hints(dc)
    out: dict[str, Any] = {}
    for f in fields(dc):
        if f.name in skip:
            continue
        tp = overrides.get(f.name) or _stored_type(f.name, hints[f.name])
        required = f.default is MISSING and f.default_factory is MISSING and not all_optional
        out[f.name] = Required[tp] if required else NotRequired[tp]
    return out


def _typed_dict(name: str, items: dict[str, Any], extra: str) -> Any:
    td = TypedDict(name, items)  # type: ignore[operator]  # the functional form, fields computed
    td.__pydantic_config__ = ConfigDict(strict=True, extra=extra)  # type: ignore[attr-defined]
    return td


def _open(title: str, /, **items: Any) -> Any:
    """A part of a file the harness reads only some keys of: each optional, other keys allowed."""
    return _typed_dict(title, {k: NotRequired[tp] for k, tp in items.items()}, "allow")


# RunSettings: every field optional (RunSettings.from_dict fills the defaults); unknown keys of older
# or newer versions are ignored, as from_dict does.
Settings = _typed_dict("Settings", _record_fields(
    RunSettings, {"profile": Literal[vocab.PROFILES], "compile_cache": Literal["cold", "shared"],
                "scaling": Literal["weak", "strong"]},
    all_optional=True), "allow")

# The cell's axes, flat in a cell file and a baseline's cell summary: names, or counts (batch size).
_AXIS_FIELDS = {
    f.name: (Required if f.default is MISSING else NotRequired)[Name if f.type in ("str", str) else Count]
    for f in fields(Cell)
}


def _check_cell_record(d: dict[str, Any]) -> dict[str, Any]:
    problem = cell_problem(d)
    if problem:
        raise _problem(problem)
    if "cell_id" in d and d["cell_id"] != _cell_of(d).cell_id:
        raise _problem(f"cell_id {d['cell_id']!r} does not match the cell's fields ({_cell_of(d).cell_id})")
    return d


# A cell result file: CellResult.to_dict() (cell_id, the axes flat, then the result's fields).
CellFile = _typed_dict("CellFile", {
    "cell_id": Required[Name], **_AXIS_FIELDS,
    **_record_fields(CellResult, {"status": Literal[vocab.CELL_STATUSES], "settings": Settings,
                                  "schema": Literal[SCHEMA_VERSION], "repeat": Repeat}, skip=("cell",)),
}, "forbid")
_TYPES["cell"] = Annotated[CellFile, AfterValidator(_check_cell_record)]

StepRow = _typed_dict("StepRow", _record_fields(StepRecord, {"phase": Literal[STEP_PHASES],
                                                             "repeat": Repeat}), "forbid")
_TYPES["step"] = StepRow


def _check_run_meta(d: dict[str, Any]) -> dict[str, Any]:
    problem = run_meta_problem(d)
    if problem:
        raise _problem(problem)
    return d


# One process of run.json's schedule (bench.results.slots.Slot.to_dict()).
ScheduleEntry = _typed_dict("ScheduleEntry", {"order": Required[Count], "block": Required[Count],
                                              "cell_id": Required[CellId], "repeat": Required[Repeat]},
                            "forbid")


# What the adaptive phase did (bench.plan.adaptive); its cap bounds the repeats of the schedule
# (bench.results.layout).
Adaptive = _open("Adaptive", cap_pairs=Count, comparisons=list[dict[str, Any]])


# Which slice of a plan a run ran (bench.plan.shard: ``bench all --shard K/M``); a run without it is whole.
# Added within schema 5: older runs lack it and load as before.
Shard = _typed_dict("Shard", {"k": Required[Repeat], "m": Required[Repeat],
                              "unit": Required[Literal["block", "pair"]], "processes": Required[Count],
                              "run_key": Required[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]]},
                    "forbid")


class RunMeta(TypedDict, total=False):
    """run.json (bench.results.write.create_run); keys added by callers (extra_meta) are allowed."""

    __pydantic_config__ = ConfigDict(strict=True, extra="allow")  # type: ignore[misc]
    schema: Literal[tuple(range(1, SCHEMA_VERSION + 1))]  # type: ignore[valid-type]
    run_id: Label
    created_at: str | None
    argv: list[str]
    profile: Literal[vocab.PROFILES]  # type: ignore[valid-type]
    settings: Required[Settings]  # type: ignore[valid-type]
    settings_by_model: dict[Name, Settings]  # type: ignore[valid-type]
    cells_planned: Required[list[CellId]]
    repeats: Repeat  # schema 3: processes per cell
    schedule_seed: Count
    schedule: list[ScheduleEntry]  # type: ignore[valid-type]
    headline_groups: list[list[CellId]]  # type: ignore[valid-type]  # schema 4: bench.analysis.comparisons
    adaptive: Adaptive  # type: ignore[valid-type]  # schema 4: bench.plan.adaptive
    pythons: dict[Name, str]
    filters: dict[str, Any]
    resumed_at: list[str]
    shard: Shard  # type: ignore[valid-type]


_TYPES["run"] = Annotated[RunMeta, AfterValidator(_check_run_meta)]


# --------------------------------------------------------------------------- environment, roofline


def _fingerprint_text(v: Any) -> Any:
    # An older form stored the fingerprint as its hash alone (bench.host.machine.machine_fingerprint reads
    # both).
    return {"hash": v} if isinstance(v, str) else v


_Fingerprint = _typed_dict("Fingerprint", {"hash": Required[Name], "fields": NotRequired[dict[str, Any]]},
                           "allow")
# environment.json (bench.host.envinfo.collect_environment): the parts the harness reads are typed.
_TYPES["environment"] = _open(
    "Environment",
    schema=Literal[ENVIRONMENT_SCHEMAS], date=str | None, python=dict[str, Any], platform=dict[str, Any],
    cpu=_open("Cpu", model=str | None, physical_cores=Count | None, logical_cores=Count | None,
              usable_cores=Count | None, max_mhz=Amount | None, machine=str | None),
    memory=_open("Memory", total_bytes=Count | None, total_gib=Amount | None),
    gpu=_open("Gpu", driver=str | None, cuda_driver_version=str | None, reason=str | None,
              gpus=list[_open("GpuEntry", index=Count | None, name=str, memory_total_bytes=Count | None,
                              compute_capability=str | None)]),
    frameworks=dict[str, dict[str, Any]], framework_versions=dict[str, str | None],
    cuda_versions=dict[str, Any], cudnn_versions=dict[str, Any],
    git=_open("Git", commit=str | None, dirty=bool | None, branch=str | None, diff_sha256=str | None),
    env_vars=dict[str, Any],
    fingerprint=Annotated[_Fingerprint, BeforeValidator(_fingerprint_text)], pythons=dict[str, str],
)
# roofline.json (bench.host.roofline): the device's measured peak.
_TYPES["roofline"] = _open("Roofline", device=str, peak_flops=Amount | None,
                           peak_flops_by_precision=dict[Name, Amount] | None, error=str | None)


# --------------------------------------------------------------------------- baselines


CellSummary = _typed_dict("CellSummary", {
    **_AXIS_FIELDS,
    "status": Required[Literal[vocab.CELL_STATUSES]],
    "reason": NotRequired[str | None],
    "n_steps": NotRequired[Count | None],
    "window_steps": NotRequired[Count | None],
    # Read back from the tables, where a column with a gap is float: bytes may be stored as 1.5e9.
    **{k: NotRequired[Amount | None] for k in (
        "step_time_median_s", "step_time_ci_low_s", "step_time_ci_high_s", "step_time_ci_coverage",
        "step_time_ci95_low_s", "step_time_ci95_high_s", "step_time_cv",  # ci95: before run schema 4
        "throughput_img_s", "time_to_first_step_s", "peak_rss_bytes", "device_alloc_peak_bytes",
        "nvml_peak_bytes")},
    "samples_s": NotRequired[list[Amount]],
}, "allow")


def _check_cells(where: str, cells: dict[str, Any]) -> None:
    for key, summary in cells.items():
        cid = _cell_of(summary).cell_id
        problem = cell_problem(summary) or (
            None if cid == key else f"the key does not match the cell's fields ({cid})")
        if problem:
            raise _problem(f"{where}{key}: {problem}")


def _check_baseline_cells(d: dict[str, Any]) -> dict[str, Any]:
    if d.get("schema") == 1:
        if "cells" not in d:
            raise _problem("cells: a schema-1 baseline needs its cells")
    elif not d.get("runs"):
        raise _problem("runs: a schema-2 baseline needs at least one run")
    _check_cells("cells.", d.get("cells", {}))
    for i, r in enumerate(d.get("runs") or []):
        _check_cells(f"runs.{i}.cells.", r["cells"])
    return d


class BaselineRun(TypedDict, total=False):
    """One stored run of a baseline's history."""

    __pydantic_config__ = ConfigDict(strict=True, extra="allow")  # type: ignore[misc]
    run_id: Label | None
    created_at: str | None
    fingerprint: Name
    machine: dict[str, Any]
    settings: dict[str, Any]
    settings_by_model: dict[str, dict[str, Any]]
    versions: dict[str, Any]
    cells: Required[dict[CellId, CellSummary]]  # type: ignore[valid-type]


class Baseline(TypedDict, total=False):
    """A baseline file (bench.gate.baseline): schema 2 holds "runs" (the history), schema 1 one run's
    "cells"."""

    __pydantic_config__ = ConfigDict(strict=True, extra="allow")  # type: ignore[misc]
    kind: Required[Literal[BASELINE_KIND]]
    schema: Required[Literal[1, 2]]
    name: Name
    run_id: Label | None
    created_at: str | None
    fingerprint: Name
    machine: dict[str, Any]
    machine_description: str
    settings: dict[str, Any]
    versions: dict[str, Any]
    cells: dict[CellId, CellSummary]  # type: ignore[valid-type]
    runs: Annotated[list[BaselineRun], Field(max_length=MAX_BASELINE_RUNS)]


_TYPES["baseline"] = Annotated[Baseline, AfterValidator(_check_baseline_cells)]


# --------------------------------------------------------------------------- the checks


def validate_cell_result(data: Any, path: Path | str) -> CellResult:
    """A stored cell result (already migrated) as a CellResult; BenchError naming file and field."""
    d = _validate("cell", data, "cell result", path)
    return CellResult.from_dict(d)


def validate_step_row(data: Any, path: Path | str, line: int) -> dict[str, Any]:
    """One row of a steps file (already migrated), its numbers as stored types."""
    return _validate("step", data, "steps file", path, f"line {line}: ")


def validate_run_meta(data: Any, path: Path | str) -> dict[str, Any]:
    """run.json: returns it unchanged once valid (its extra keys are the caller's)."""
    _validate("run", data, "run file", path)
    return data


def _returning(kind: str, what: str) -> Callable[[Any, Path | str], dict[str, Any]]:
    def check(data: Any, path: Path | str) -> dict[str, Any]:
        _validate(kind, data, what, path)
        return data
    return check


validate_environment = _returning("environment", "environment file")
validate_roofline = _returning("roofline", "roofline file")
validate_baseline = _returning("baseline", "baseline")
