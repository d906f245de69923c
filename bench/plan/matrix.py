"""The matrix: which cells this machine runs, and which it records as skipped (with the reason).

A pure function of the profile, the probe results (bench.host.detect runs the probes) and the user's
filters: no process is started here, and no framework is named. What a framework offers (modes,
which of them compile or need CUDA, variants and where they apply, the optional variants of each
profile) comes from its descriptor in ``bench.frameworks.registry``; the models and their default
batch sizes from ``models.registry``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import product
from typing import Any

from bench import launchers, scenarios
from bench.axes import check, parse
from bench.cell import CELL_AXES, IMPLICIT_DEFAULTS, Cell
from bench.errors import BenchError
from bench.frameworks.registry import framework_names, get_framework
from bench.host.machine import cuda_available
from bench.plan.profiles import Profile
from bench.vocab import DEVICES
from models.registry import family_of, get_spec

__all__ = ["LIST_FILTERS", "Filters", "PlannedCell", "build_matrix", "filters_from", "native_cpu_precisions",
           "split_list"]


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """What the user asked for; None = the profile's default choice (for ``scenarios`` and ``workers``,
    the one every stored run measured: ``train``, 1)."""

    models: tuple[str, ...] | None = None
    frameworks: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    batch_size: int = 0
    scenarios: tuple[str, ...] | None = None
    workers: tuple[int, ...] | None = None

    def validate(self) -> Filters:
        """Check every value with its axis's validator (bench.axes); raises a BenchError of one line
        (UnknownChoice, listing the valid choices, for a name).

        An empty filter (``--models ,``) is refused rather than read as "everything".
        """
        for name in LIST_FILTERS.values():
            if getattr(self, name) is not None and not getattr(self, name):
                raise BenchError(f"--{name}: empty list; name at least one (or 'all')")
        for axis, name in LIST_FILTERS.items():
            for value in getattr(self, name) or ():
                check(axis, value, frameworks=self.frameworks)
        if self.batch_size < 0:  # 0: each model's own (the CLI refuses an explicit 0)
            raise BenchError(f"--batch-size must be at least 1 (got {self.batch_size})")
        return self

    def matches(self, cell: Cell) -> bool:
        return all(getattr(self, name) is None or getattr(cell, axis) in getattr(self, name)
                   for axis, name in LIST_FILTERS.items()) and (
            self.batch_size == 0 or cell.batch_size == self.batch_size)

    def as_dict(self) -> dict[str, Any]:
        """The filters that were given (stored in run.json)."""
        return {k: v for k, v in vars(self).items() if v}


def filter_name(axis: str) -> str:
    """The filter of an axis, a field of Filters and an option of ``bench all`` (``--models``)."""
    return axis if axis.endswith("s") else f"{axis}s"


# axis -> its filter, for each axis filtered by a list of values (the batch size is one value, a setting).
LIST_FILTERS: dict[str, str] = {a: filter_name(a) for a in CELL_AXES
                                if filter_name(a) in {f.name for f in fields(Filters)}}


def filters_from(values: Mapping[str, Sequence[str] | None], batch_size: int = 0) -> Filters:
    """Filters from the command line's values of each list filter (``{"models": ["a,b", "c"]}``;
    absent or None: the default), each split (``split_list``) and typed; not yet validated."""
    chosen: dict[str, Any] = {}
    for axis, name in LIST_FILTERS.items():
        items = split_list(values.get(name), f"--{name}")
        chosen[name] = None if items is None else tuple(parse(axis, v, f"--{name}") for v in items)
    return Filters(**chosen, batch_size=batch_size)


def split_list(values: Sequence[str] | None, option: str = "filter") -> tuple[str, ...] | None:
    """argparse values as given ("a,b c") → ("a", "b", "c"); None/["all"] → None (no filter).

    Given but empty (``--models ,`` or ``--models ""``) is a BenchError naming ``option``: a typo
    must not silently select the whole matrix.
    """
    if values is None:
        return None
    items = tuple(dict.fromkeys(v.strip() for chunk in values for v in chunk.split(",") if v.strip()))
    if not items:
        raise BenchError(f"{option}: empty list; name at least one (or 'all')")
    return None if items == ("all",) else items


# --------------------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class PlannedCell:
    cell: Cell
    skip_reason: str | None = None  # None: runnable

    @property
    def runnable(self) -> bool:
        return self.skip_reason is None


def _device_reason(framework: str, mode: str, device: str, probe: Mapping[str, Any],
                   any_cuda: bool) -> str | None:
    """Why this framework cannot run ``mode`` on ``device`` here (None: it can)."""
    if not probe.get("installed"):
        return probe.get("reason") or f"{framework} not installed"
    if device == "cuda" and not cuda_available(probe):
        if any_cuda:
            return f"{framework} sees no CUDA device"
        probe_reason = str(probe.get("reason") or "")
        return probe_reason if probe_reason.startswith("no CUDA") else "no CUDA device"
    if device == "cpu" and get_framework(framework).needs_cuda(mode):
        return "needs CUDA"
    if device == "cuda" and get_framework(framework).mode(mode).cpu_only:
        return "runs on the CPU only (its runtime's CPU build)"
    return None


def native_cpu_precisions() -> tuple[str, ...]:
    """The precisions this machine's CPU runs natively: fp32, and bf16 with AVX-512-BF16 or AMX-BF16
    (bench.host.cpuinfo reads /proc/cpuinfo: I/O, hence not inside ``build_matrix``)."""
    from bench.host.cpuinfo import cpu_supports_bf16

    return ("fp32", "bf16") if cpu_supports_bf16() else ("fp32",)


def _cheapest_model(models: Sequence[str]) -> str | None:
    """The model whose train step at its default batch takes the fewest FLOPs (a descriptor's
    ``one_model_modes`` run on it only); None when no model's FLOPs can be counted."""
    costs = {}
    for m in models:
        try:
            costs[m] = float(family_of(m).train_step_flops(get_spec(m), get_spec(m).batch_size))
        except Exception:  # a family that cannot count its FLOPs is never the cheapest
            continue
    return min(costs, key=lambda m: costs[m]) if costs else None


def _crossed(filters: Filters, profile: Profile) -> list[dict[str, Any]]:
    """The values of the implicit axes (bench.cell: scenario, workers) asked for, crossed; an axis not
    filtered takes its default, except the scenarios: the profile's (``Profile.scenarios``)."""
    defaults = {**IMPLICIT_DEFAULTS, "scenario": profile.scenarios}
    values = [getattr(filters, LIST_FILTERS[a]) or (d if isinstance(d, tuple) else (d,))
              for a, d in defaults.items()]
    return [dict(zip(IMPLICIT_DEFAULTS, combo, strict=True)) for combo in product(*values)]


def _left_to_other_profiles(profile: Profile, filters: Filters, desc: Any, model: str, mode: str,
                            variant: str, scenario: str, has_extras: bool) -> bool:
    """Whether the profile's default matrix leaves this cell out: a limited scenario's cell of a model
    its family does not name (``Profile.limited_scenarios``, unfiltered models only), a mode outside the
    descriptor's ``profile_modes``, or a default variant of one of its ``extras_only_modes`` where the
    mode runs extra variants. Naming scenarios (``--scenarios``) or modes lifts the mode trimming, and
    naming variants that of the default variant: ``--scenarios generate`` plans every mode."""
    # A scenario limited to some models joins the default models only: `--models` without
    # `--scenarios` runs the profile's first scenario (train) as before.
    if filters.scenarios is None and scenario in profile.limited_scenarios and (
            filters.models is not None
            or model not in getattr(family_of(model), "default_run_scenarios", {}).get(scenario, ())):
        return True
    if filters.modes is not None or filters.scenarios is not None:
        return False
    modes = desc.profile_modes.get(profile.name, {}).get(scenario)
    if modes is not None and mode not in modes:
        return True
    return (filters.variants is None and has_extras and scenario == "train" and variant == "default"
            and mode in desc.extras_only_modes.get(profile.name, ()))


def build_matrix(profile: Profile, probes: Mapping[str, Mapping[str, Any]], filters: Filters, *,
                 cpu_native: Collection[str] = ("fp32",)) -> list[PlannedCell]:
    """Every cell of the (filtered) matrix, runnable or skipped with a reason. Pure: no I/O.

    Default choices (where a filter is None): every model; every framework; every mode; cpu, and
    cuda (skipped "no CUDA device" when no probe saw one); the profile's CUDA precisions on cuda; on
    cpu fp32, and the profile's other CPU precisions that the CPU runs natively (``cpu_native``, see
    ``native_cpu_precisions``) for the default variant of the modes the framework's descriptor names
    (``cpu_reduced_precision_modes[profile]``), runnable cells only; the "default" variant plus the
    extras each framework's descriptor adds in this profile (``extra_variants(profile, mode, device,
    probe)``), for runnable cells only. A profile may name its default devices (``gpu``: cuda only); a
    descriptor may run a mode's reduced CUDA precisions in some modes only
    (``cuda_reduced_precision_modes[profile]``) and a mode on one model only, the cheapest, in fp32
    (``one_model_modes[profile]``, the default matrix only); a variant limited to some precisions
    (``tf32``: fp32) is left out of the other precisions' default cells. Each cell is crossed with the
    scenarios and workers asked for (default: train, 1; the profile's ``scale_out_workers`` too for
    each framework's first mode, default variant, fp32, when no workers are asked); one whose scenario
    its model family does not declare (``ModelFamily.scenarios``), or whose ranks no launcher starts,
    is skipped with the reason.
    """
    planned: dict[str, PlannedCell] = {}
    any_cuda = any(cuda_available(p) for p in probes.values())

    models = filters.models or profile.default_models()
    cheapest = _cheapest_model(models)
    crossed = _crossed(filters, profile)
    for model in models:
        default_batch = get_spec(model).batch_size
        supported = tuple(getattr(family_of(model), "scenarios", ("train",)))
        for fw in filters.frameworks or framework_names():
            desc = get_framework(fw)
            probe = probes.get(fw) or {"installed": False, "reason": f"{fw} was not probed"}
            one_model = desc.one_model_modes.get(profile.name, ()) if filters.modes is None else ()
            for mode in desc.mode_names:
                if filters.modes is not None and mode not in filters.modes:
                    continue
                if mode in one_model and model != cheapest:
                    continue
                for device in filters.devices or profile.default_devices or DEVICES:
                    batch = filters.batch_size or profile.batch_size(model, device, default_batch)
                    reason = _device_reason(fw, mode, device, probe, any_cuda)
                    if filters.precisions is not None:
                        precisions: tuple[str, ...] = filters.precisions
                    elif device == "cuda":
                        reduced_modes = desc.cuda_reduced_precision_modes.get(profile.name)
                        precisions = tuple(p for p in profile.cuda_precisions if p == "fp32" or (
                            mode not in one_model and (reduced_modes is None or mode in reduced_modes)))
                    else:
                        fast_modes = desc.cpu_reduced_precision_modes.get(profile.name, ())
                        reduced = reason is None and mode in fast_modes
                        precisions = tuple(p for p in profile.cpu_precisions
                                           if p == "fp32" or (reduced and p in cpu_native))
                    if filters.variants is not None:
                        variants = tuple(v for v in filters.variants if v in desc.variant_names)
                    elif reason is not None:
                        variants = ("default",)  # one skipped cell says it; no need to multiply it
                    else:
                        variants = ("default", *desc.extra_variants(profile.name, mode, device, probe))
                    for precision in precisions:
                        # A reduced CPU precision of the default matrix: the shipped default variant only.
                        only_default = filters.precisions is None and device == "cpu" and precision != "fp32"
                        for variant in (tuple(v for v in variants if v == "default") if only_default
                                        else variants):
                            why = reason or desc.variant_skip_reason(mode, device, variant)
                            by_precision = desc.variant_skip_reason(mode, device, variant, precision)
                            if why is None and by_precision and filters.variants is None:
                                continue  # an extra variant at a precision it does not apply to
                            why = why or by_precision
                            scale_out = (filters.workers is None and variant == "default"
                                         and precision == "fp32" and mode == desc.mode_names[0])
                            more = [{**c, "workers": n} for c in crossed if c["scenario"] == "train"
                                    for n in profile.scale_out_workers if scale_out]
                            for extra in [*crossed, *more]:
                                if not desc.mode(mode).applies_to(extra["scenario"]):
                                    continue  # e.g. a deployed runtime: inference scenarios only
                                if _left_to_other_profiles(profile, filters, desc, model, mode, variant,
                                                           extra["scenario"], len(variants) > 1):
                                    continue
                                # Another scenario's cells: fp32 unless asked for (the scenario may skip
                                # the others), and the default variant unless variants are named.
                                if extra["scenario"] != "train" and (
                                        (filters.scenarios is None and precision != "fp32")
                                        or (filters.variants is None and variant != "default")):
                                    continue
                                cell = Cell(model=model, framework=fw, mode=mode, device=device,
                                            precision=precision, batch_size=batch, variant=variant, **extra)
                                # What no machine runs first: the scenario, then the ranks.
                                skip = (scenarios.skip_reason(cell, supported) or launchers.skip_reason(cell)
                                        or why)
                                planned.setdefault(cell.cell_id, PlannedCell(cell, skip))
    cells = list(planned.values())
    if not cells:
        raise BenchError("no cell matches the filters (check --models/--frameworks/--modes/--variants)")
    return cells
