"""The matrix: which cells this machine runs, and which it records as skipped (with the reason).

A pure function of the profile, the probe results (bench.probing runs the probes) and the user's
filters: no process is started here, and no framework is named. What a framework offers (modes,
which of them compile or need CUDA, variants and where they apply, the optional variants of each
profile) comes from its descriptor in ``bench.frameworks.registry``; the models and their default
batch sizes from ``models.registry``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.registry import family_of, get_spec, model_names

from .cell import Cell
from .errors import BenchError, UnknownChoice
from .frameworks.registry import framework_names, get_framework
from .machine import cuda_available
from .profiles import Profile
from .vocab import DEVICES, check_choice, check_device, check_precision

__all__ = ["Filters", "PlannedCell", "build_matrix", "native_cpu_precisions", "split_list"]


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """What the user asked for; None = the profile's default choice."""

    models: tuple[str, ...] | None = None
    frameworks: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    batch_size: int = 0

    def validate(self) -> Filters:
        """Check every name; raises UnknownChoice (one line listing the valid choices).

        An empty filter (``--models ,``) is refused rather than read as "everything".
        """
        for name in ("models", "frameworks", "modes", "devices", "precisions", "variants"):
            if getattr(self, name) is not None and not getattr(self, name):
                raise BenchError(f"--{name}: empty list; name at least one (or 'all')")
        for m in self.models or ():
            check_choice("model", m, model_names())
        descriptors = [get_framework(f) for f in self.frameworks or framework_names()]
        all_modes = tuple(dict.fromkeys(m for d in descriptors for m in d.mode_names))
        for m in self.modes or ():
            if m not in all_modes:
                raise UnknownChoice("mode", m, all_modes)
        for d in self.devices or ():
            check_device(d)
        for p in self.precisions or ():
            check_precision(p)
        all_variants = tuple(dict.fromkeys(v for d in descriptors for v in d.variant_names))
        for v in self.variants or ():
            if v not in all_variants:
                raise UnknownChoice("variant", v, all_variants)
        if self.batch_size < 0:  # 0: each model's own (the CLI refuses an explicit 0)
            raise BenchError(f"--batch-size must be at least 1 (got {self.batch_size})")
        return self

    def matches(self, cell: Cell) -> bool:
        return all((
            self.models is None or cell.model in self.models,
            self.frameworks is None or cell.framework in self.frameworks,
            self.modes is None or cell.mode in self.modes,
            self.devices is None or cell.device in self.devices,
            self.precisions is None or cell.precision in self.precisions,
            self.variants is None or cell.variant in self.variants,
            self.batch_size == 0 or cell.batch_size == self.batch_size,
        ))

    def as_dict(self) -> dict[str, Any]:
        """The filters that were given (stored in run.json)."""
        return {k: v for k, v in vars(self).items() if v}


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
    return None


def native_cpu_precisions() -> tuple[str, ...]:
    """The precisions this machine's CPU runs natively: fp32, and bf16 with AVX-512-BF16 or AMX-BF16
    (bench.cpuinfo reads /proc/cpuinfo: I/O, hence not inside ``build_matrix``)."""
    from .cpuinfo import cpu_supports_bf16

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
    (``tf32``: fp32) is left out of the other precisions' default cells.
    """
    planned: dict[str, PlannedCell] = {}
    any_cuda = any(cuda_available(p) for p in probes.values())

    models = filters.models or profile.default_models()
    cheapest = _cheapest_model(models)
    for model in models:
        default_batch = get_spec(model).batch_size
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
                            cell = Cell(model=model, framework=fw, mode=mode, device=device,
                                        precision=precision, batch_size=batch, variant=variant)
                            planned.setdefault(cell.cell_id, PlannedCell(cell, why))
    cells = list(planned.values())
    if not cells:
        raise BenchError("no cell matches the filters (check --models/--frameworks/--modes/--variants)")
    return cells
