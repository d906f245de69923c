"""One validator per axis of the cell, declared once, keyed by the fields of ``bench.cell.Cell``.

Every place that takes an axis value from outside checks it here: the command line (``bench all``'s
filters, ``bench run``'s cell), ``bench.plan.matrix.Filters.validate``, the schema of the stored files
(``bench.results.schema``) and the worker. A value is refused with one line (a BenchError, exit 2), naming the
valid choices. An axis whose values depend on the framework (its modes, its variants) is checked against
one framework's (a cell: "unknown <framework> mode") or any of several (a filter: "unknown mode").

``bench.plan.matrix`` records as skipped, with the reason, a valid value that this machine or model cannot
run (a scenario the model family does not declare, more workers than a launcher starts): valid here
means "a name of the vocabulary", not "runnable".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.cell import CELL_AXES, INT_AXES
from bench.errors import BenchError, UnknownChoice
from bench.frameworks import framework_names, frameworks, get_framework
from bench.scenarios import scenario_names
from bench.vocab import DEVICES, PRECISIONS
from models.registry import model_names

__all__ = ["VALIDATORS", "cell_problem", "check", "check_cell", "describe", "parse"]

@dataclass(frozen=True)
class _OneOf:
    """A name of a list read on each use (a registry: plugins extend it)."""

    kind: str
    valid: Callable[[], Sequence[str]]

    def __call__(self, value: Any, frameworks: Sequence[str] | None, one: bool) -> None:
        choices = tuple(self.valid())
        if value not in choices:
            raise UnknownChoice(self.kind, str(value), choices)

    def describe(self) -> str:
        return "; ".join(self.valid())


@dataclass(frozen=True)
class _OfFramework:
    """A name one of the frameworks offers (its modes, its variants)."""

    kind: str
    attribute: str

    def __call__(self, value: Any, frameworks: Sequence[str] | None, one: bool) -> None:
        names = framework_names() if frameworks is None else frameworks
        choices = tuple(dict.fromkeys(v for f in names for v in getattr(get_framework(f), self.attribute)))
        if value not in choices:
            raise UnknownChoice(f"{names[0]} {self.kind}" if one else self.kind, str(value), choices)

    def describe(self) -> str:
        return "; ".join(f"{d.name}: {'/'.join(getattr(d, self.attribute))}" for d in frameworks())


@dataclass(frozen=True)
class _AtLeast:
    least: int

    def __call__(self, value: Any, frameworks: Sequence[str] | None, one: bool) -> None:
        if value < self.least:
            raise BenchError(f"must be at least {self.least} (got {value})")

    def describe(self) -> str:
        return f"integers >= {self.least}"


# axis -> its validator, called with (value, the frameworks in question or None for every registered
# one, whether the value belongs to one given framework); ``describe()`` lists its values for --help.
VALIDATORS: dict[str, _OneOf | _OfFramework | _AtLeast] = {
    "model": _OneOf("model", model_names),
    "framework": _OneOf("framework", framework_names),
    "mode": _OfFramework("mode", "mode_names"),
    "device": _OneOf("device", lambda: DEVICES),
    "precision": _OneOf("precision", lambda: PRECISIONS),
    "batch_size": _AtLeast(0),  # 0: the model's own (resolved by the matrix)
    "variant": _OfFramework("variant", "variant_names"),
    "scenario": _OneOf("scenario", scenario_names),
    "workers": _AtLeast(1),
}
if set(VALIDATORS) != set(CELL_AXES):  # a new field of Cell needs its validator here
    raise RuntimeError(f"bench.axes: the validators {sorted(VALIDATORS)} are not the cell's axes {CELL_AXES}")


def check(axis: str, value: Any, *, framework: str | None = None,
          frameworks: Sequence[str] | None = None) -> Any:
    """``value`` when it is a valid value of ``axis``; BenchError (one line) otherwise.

    ``framework``: the cell's own (its modes and variants); ``frameworks``: any of these (a filter);
    neither: any registered framework. An integer axis takes integers only (never a bool)."""
    if axis in INT_AXES:
        if not isinstance(value, int) or isinstance(value, bool):
            raise BenchError(f"{axis}: expected an integer, got {value!r}")
        try:
            VALIDATORS[axis](value, None, False)
        except BenchError as e:
            raise BenchError(f"{axis} {e}") from None
        return value
    if not isinstance(value, str):
        raise BenchError(f"{axis}: expected a name, got {value!r}")
    if framework is not None:
        VALIDATORS[axis](value, (framework,), True)
    else:
        VALIDATORS[axis](value, None if frameworks is None else tuple(frameworks), False)
    return value


def describe(axis: str) -> str:
    """The valid values of an axis, for --help."""
    return VALIDATORS[axis].describe()


def parse(axis: str, text: str, option: str | None = None) -> Any:
    """A value of ``axis`` as typed on the command line (an integer axis converted), not yet checked."""
    if axis not in INT_AXES:
        return text
    try:
        return int(text.strip())
    except ValueError:
        raise BenchError(f"{option or axis}: expected an integer, got {text!r}") from None


def cell_problem(d: Mapping[str, Any]) -> str | None:
    """``"axis: why"`` for the first axis of a cell (its fields, as stored or typed) that is not a valid
    value, or None. Axes absent from ``d`` take the Cell's defaults, which are always valid; a mode or
    variant is checked against the cell's framework."""
    for axis in CELL_AXES:
        try:
            _check_in(d, axis)
        except BenchError as e:
            text = str(e)
            return text if text.startswith(axis) else f"{axis}: {text}"
    return None


def _check_in(d: Mapping[str, Any], axis: str) -> None:
    if axis in d:
        framework = d.get("framework")
        check(axis, d[axis], framework=str(framework) if framework is not None else None)


def check_cell(d: Mapping[str, Any]) -> None:
    """Every axis of a cell (absent: its default) valid, a mode or variant of the cell's framework; the
    first problem raised as it is (UnknownChoice for a name: "unknown <framework> mode 'warp'; valid ...")."""
    for axis in CELL_AXES:
        _check_in(d, axis)
