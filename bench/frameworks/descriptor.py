"""What the rest of framebench may know about a framework, without importing it.

A framework is one package ``bench/frameworks/<name>/``: ``descriptor.py`` builds a
``FrameworkDescriptor`` (plain data, importable anywhere), and the modules that import the framework
(``backend``, ``probe``, ``roofline``) are loaded lazily, in a cell's own process, by module path.
``flags`` (what a cell must set, decided without the framework) is the fourth module of the package.
Code outside the package asks the registry (``bench.frameworks.registry``), never tests a name.

The package's modules, each looked up by ``FrameworkDescriptor.module(part)``:

- ``backend``: ``BACKEND``, a ``bench.frameworks.base.Backend`` subclass (imports the framework).
- ``probe``: ``probe(out)`` fills the availability answer of ``python -m bench.worker.probe`` (``version``,
  ``cuda``, ``devices``, ``reason``, ``cuda_build``...; it imports the framework inside the function).
- ``roofline``: ``measure(device, size, copy_bytes, iters, repeats, tf32)`` for ``python -m
bench.host.roofline``.
- ``flags`` (optional): ``env(cell, settings, work_dir)`` and ``plan(cell, settings)``, and optionally
  ``prepare_compile_cache(cell, work_dir)`` and ``needs_priming(cell)`` (see ``bench.worker.flags``).
- ``runtimes`` (optional): ``RUNTIMES`` and ``build_runtime(...)``, the deployed runtimes its ``runtime``
  modes name (imports the framework; the interface is ``bench.frameworks.runtime``'s).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Mode:
    """An execution mode. The first mode of a framework is its eager baseline."""

    name: str
    compiles: bool = False  # traces or compiles the step (its first step includes that cost)
    needs_cuda: bool = False  # meaningless without a CUDA device (CUDA graphs, GPU autotuning)
    # Runs on the CPU whatever the cell's device (a runtime installed as its CPU build): never planned
    # on CUDA, where its numbers would read as the GPU's.
    cpu_only: bool = False
    # Seconds the first step of a process takes beyond a plain step, per device, for plans and ETAs
    # until a machine has stored runs (bench.plan.estimates then uses those): with an empty compile cache,
    # and with one a previous process filled (RunSettings.compile_cache "shared"; a framework without
    # a persistent cache gives the cold figure again).
    cold_compile_s: Mapping[str, float] = field(default_factory=dict)
    warm_compile_s: Mapping[str, float] = field(default_factory=dict)
    # The scenarios whose cells run in this mode (None: every scenario). A deployed runtime applies to
    # inference only: a train cell is never planned in it.
    scenarios: tuple[str, ...] | None = None
    # Built by the package's ``runtimes`` module (bench.frameworks.runtime): the framework's module
    # exported once per cell and run in another runtime, not the framework's own execution of it.
    runtime: bool = False
    note: str = ""  # what a reader must know about the mode (e.g. "legacy"), shown beside it

    def applies_to(self, scenario: str) -> bool:
        return self.scenarios is None or scenario in self.scenarios


@dataclass(frozen=True)
class Variant:
    """A named performance switch; ``default`` is the framework's shipped behaviour."""

    name: str
    env: Mapping[str, str] = field(default_factory=dict)  # exported before the framework import
    devices: tuple[str, ...] | None = None  # None: every device
    compiled_only: bool = False  # applies to compiling modes only
    precisions: tuple[str, ...] | None = None  # None: every precision
    description: str = ""
    # What the variant adds to (or changes in) the mode's compiled scope (``FrameworkDescriptor.
    # compiled_scopes``), e.g. "+ the optimizer step"; "" when it changes none.
    scope: str = ""
    # Seconds its cold compile takes beyond the mode's, per device (plans and ETAs, until stored runs).
    extra_compile_s: Mapping[str, float] = field(default_factory=dict)


# (profile name, mode, device, probe result) -> extra variants beyond "default" in that profile.
ExtraVariants = Callable[[str, str, str, Mapping[str, Any]], tuple[str, ...]]


def _no_extras(profile: str, mode: str, device: str, probe: Mapping[str, Any]) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class FrameworkDescriptor:
    name: str  # the vocabulary's name: CLI, stored columns, report keys
    label: str  # human name in reports
    colour: str  # plot colour
    package: str  # holds its backend/probe/roofline/flags modules ("bench.frameworks.<name>" built in)
    modes: tuple[Mode, ...]  # eager baseline first
    variants: tuple[Variant, ...]  # "default" first
    # Top-level modules the framework is imported as, the first being the framework itself: missing
    # ones mean "not installed" (a skip) rather than a failure.
    import_names: tuple[str, ...] = ()
    speed_env_vars: tuple[str, ...] = ()  # environment variables that change this framework's speed
    speed_env_prefixes: tuple[str, ...] = ()
    extra_variants: ExtraVariants = _no_extras  # the optional variants each profile adds
    # Profile name -> the modes whose default-variant CPU cells also run the profile's reduced CPU
    # precisions (bf16, on a CPU that runs it natively): the framework's recommended fast path for
    # mixed precision on CPU (bench.plan.matrix). Absent profile: fp32 only on CPU.
    cpu_reduced_precision_modes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # How the framework says "out of memory" (exception class names, message fragments): the worker
    # classifies a failed cell as "oom" from these without importing any framework.
    oom_exception_names: tuple[str, ...] = ()
    oom_messages: tuple[str, ...] = ()
    # Profile name -> the modes whose CUDA cells also run the profile's reduced CUDA precisions (bf16,
    # fp16); absent profile: every mode runs every CUDA precision of the profile (bench.plan.matrix).
    cuda_reduced_precision_modes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Profile name -> modes that run on one model only in that profile (the default model with the
    # cheapest train step), in fp32: a mode too slow to compile for every model of a short profile.
    one_model_modes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # What a short profile leaves to `full` (the default matrix only: a named mode or variant always runs).
    # Profile name -> scenario -> the modes of that scenario's cells (a scenario not named: every mode);
    # and profile name -> the modes whose default-variant train cell is left out, their tuned variants
    # run (the default cell being neither the shipped default nor a like-scope tuned candidate).
    profile_modes: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    extras_only_modes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Seconds a process takes before its first step (interpreter, framework import, device context,
    # model build), per device: plans and ETAs until the machine has stored runs.
    process_start_s: Mapping[str, float] = field(default_factory=dict)
    # Preference for measuring the device's roofline with this framework (lower first: more precise
    # timing); None: the package has no roofline module.
    roofline_priority: int | None = None
    # What a reader must know about the framework's shipped defaults on a device (device -> text, with
    # the evidence and the command that shows it): the report's notes print it once per device.
    report_notes: Mapping[str, str] = field(default_factory=dict)
    # Why a compiled mode can be slower than eager on a device (device -> text with evidence): printed
    # beside every compiled cell whose speed-up interval over eager lies below 1.
    slower_compiled_notes: Mapping[str, str] = field(default_factory=dict)
    # What the device allocator peak column holds for this framework (the report's legend says it).
    allocator_peak: str = ""
    # The mode a user of the framework trains in without asking for anything (device -> mode; a device
    # not named: the eager baseline): the shipped-default headline compares each framework's, declared
    # before any data (bench.analysis.headline).
    default_mode: Mapping[str, str] = field(default_factory=dict)
    # Mode -> what it compiles (modules, the whole step, the optimizer update), stated by the report:
    # a compiled step against compiled modules and an eager optimizer is not a like-for-like comparison.
    compiled_scopes: Mapping[str, str] = field(default_factory=dict)
    # Launchers (bench.launchers registry names) asked first to start this framework's cells, e.g. an
    # engine's own for cells of several workers; any registered launcher that accepts a cell also may.
    launchers: tuple[str, ...] = ()

    # ------------------------------------------------------------------ derived views
    @property
    def mode_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modes)

    def runtime_modes(self) -> tuple[str, ...]:
        """The modes its ``runtimes`` module builds (deployed runtimes), in the descriptor's order."""
        return tuple(m.name for m in self.modes if m.runtime)

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @property
    def eager_mode(self) -> str:
        return self.modes[0].name

    def shipped_mode(self, device: str) -> str:
        """The mode this framework trains in by default on ``device`` (``default_mode``)."""
        return self.default_mode.get(device, self.eager_mode)

    def scope(self, mode: str, variant: str = "default") -> str:
        """What a cell of this mode and variant compiles, in words ("" when the descriptor says nothing)."""
        text = self.compiled_scopes.get(mode, "")
        extra = self.variant(variant).scope if variant in self.variant_names else ""
        return f"{text}; {extra}" if text and extra else text or extra

    def mode(self, name: str) -> Mode:
        for m in self.modes:
            if m.name == name:
                return m
        raise KeyError(f"{self.name} has no mode {name!r}")

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(f"{self.name} has no variant {name!r}")

    def compiles(self, mode: str) -> bool:
        return self.mode(mode).compiles

    def needs_cuda(self, mode: str) -> bool:
        return self.mode(mode).needs_cuda

    def variant_skip_reason(self, mode: str, device: str, variant: str,
                            precision: str | None = None) -> str | None:
        """Why ``variant`` cannot apply to this mode, device and precision (None: it applies)."""
        v = self.variant(variant)
        if v.devices is not None and device not in v.devices:
            return f"{variant} applies to {'/'.join(v.devices)} only"
        if v.precisions is not None and precision is not None and precision not in v.precisions:
            return f"{variant} applies to {'/'.join(v.precisions)} only"
        if v.compiled_only and not self.compiles(mode):
            return f"{variant} applies to compiled modes only"
        return None

    def module(self, part: str) -> ModuleType:
        """Import ``<package>.<part>`` (``backend``, ``probe``, ``roofline``, ``flags``)."""
        return importlib.import_module(f"{self.package}.{part}")

    def module_name(self, part: str) -> str:
        return f"{self.package}.{part}"

    def optional_module(self, part: str) -> ModuleType | None:
        """``module(part)``, or None where the package has no such module (e.g. no ``flags``)."""
        try:
            return self.module(part)
        except ModuleNotFoundError as e:
            if e.name == self.module_name(part):
                return None
            raise
