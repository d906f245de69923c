"""An A/B run (``bench compare``) as planned: its two sides, the pairs of cells, the ABBA schedule. Pure.

A side is an environment (an interpreter per framework), a git revision of this project's code (run
from a checkout outside any run directory, bench.plan.ab_run), a variant, extra environment variables
(e.g. FRAMEBENCH_INJECT_SLOWDOWN on one side, to calibrate), or any mix. Each cell is measured in R
pairs of processes; pair p is A's process 2p−1 and B's process 2p, run next to each other, A first
in odd pairs and B first in even ones (A B, B A, A B …: ABBA), with the pairs in the run's interleaved,
seeded blocks (bench.plan.schedule). So every B process has an A neighbour and a slow spell of the machine
falls on both sides alike; the ratio of each pair is paired (bench.analysis.ab).

run.json keeps it under ``ab`` (additive: other readers ignore it): the sides, the pairs of cell ids and
the rule that a process's side is the parity of its repeat (odd: A, even: B).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bench.errors import BenchError
from bench.plan.schedule import build_schedule
from bench.results.records import Cell
from bench.results.slots import Slot

SIDES = ("a", "b")
SIDE_RULE = "odd repeat: side a, even repeat: side b"


@dataclass(frozen=True)
class Side:
    """One side of an A/B comparison, as asked for."""

    name: str  # "a" or "b"
    pythons: Mapping[str, str] = field(default_factory=dict)  # framework -> interpreter
    revision: str | None = None  # a git revision of this project (None: this working tree)
    variant: str | None = None  # None: the cells' own (default) variant
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment of its workers

    def describe(self) -> dict[str, Any]:
        return {"pythons": dict(self.pythons), "revision": self.revision, "variant": self.variant,
                "env": dict(self.env)}

    def label(self) -> str:
        parts = [f"{fw}={p}" for fw, p in self.pythons.items()]
        parts += [f"revision {self.revision}"] if self.revision else []
        parts += [f"variant {self.variant}"] if self.variant else []
        parts += [f"{k}={v}" for k, v in self.env.items()]
        return ", ".join(parts) or "this environment and working tree"


def parse_env(values: Sequence[str], option: str) -> dict[str, str]:
    """KEY=VALUE values of --env-a/--env-b; BenchError when malformed."""
    out: dict[str, str] = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key or not key.replace("_", "").isalnum() or key[0].isdigit():
            raise BenchError(f"{option} expects NAME=VALUE with a variable name (got {v!r})")
        if key in ("PYTHONPATH", "PYTHONSAFEPATH", "PYTHONHOME"):
            raise BenchError(f"{option}: {key} is set by the harness; use --rev-a/--rev-b or --python-a/-b")
        out[key] = value
    return out


@dataclass(frozen=True)
class Pair:
    """The two cells one comparison measures (the same cell unless the sides differ in variant)."""

    a: Cell
    b: Cell

    @property
    def key(self) -> str:
        return self.a.cell_id if self.a == self.b else f"{self.a.cell_id} vs {self.b.variant}"


def pair_cells(cells: Sequence[Cell], side_a: Side, side_b: Side) -> list[Pair]:
    """The comparisons among the planned runnable cells: each cell with itself, or, when the sides
    name variants, the cell of A's variant with the same cell in B's variant (both must be planned)."""
    va, vb = side_a.variant, side_b.variant
    if va is None and vb is None:
        return [Pair(c, c) for c in dict.fromkeys(cells)]
    planned = set(cells)
    pairs = []
    for c in dict.fromkeys(cells):
        if c.variant != (va or "default"):
            continue
        other = replace(c, variant=vb or "default")
        if other in planned:
            pairs.append(Pair(c, other))
    if not pairs:
        raise BenchError(f"no cell runs in both variants {va or 'default'} and {vb or 'default'} "
                         "(is each variant defined for the chosen frameworks and modes?)")
    return pairs


@dataclass(frozen=True)
class AbSlot:
    slot: Slot
    side: str


def pair_slots(pair: Pair, number: int, block: int | None, order: int = 0) -> list[AbSlot]:
    """Pair ``number`` of a comparison: A's process 2p − 1 and B's 2p, adjacent, A first when p is odd
    and B first when it is even (ABBA), at places ``order`` and ``order`` + 1 of the run."""
    sides = [("a", pair.a, 2 * number - 1), ("b", pair.b, 2 * number)]
    if number % 2 == 0:
        sides.reverse()
    return [AbSlot(Slot(cell, repeat, block, order + i), side)
            for i, (side, cell, repeat) in enumerate(sides)]


def abba_schedule(pairs: Sequence[Pair], repeats: int, seed: int) -> list[AbSlot]:
    """Every process of the comparison in run order (module doc): R pairs per comparison, in the
    interleaved blocks of bench.plan.schedule, A then B in odd pairs and B then A in even ones."""
    by_a = {p.a: p for p in pairs}
    out: list[AbSlot] = []
    for s in build_schedule([p.a for p in pairs], repeats, seed):
        out += pair_slots(by_a[s.cell], s.repeat, s.block, len(out))
    return out


def side_of_repeat(repeat: int) -> str:
    return "a" if repeat % 2 else "b"


def ab_meta(side_a: Side, side_b: Side, pairs: Sequence[Pair],
            details: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """run.json's ``ab``; ``details``: per side, what was found when it ran (versions, commit)."""
    return {"sides": {s.name: {**s.describe(), **details.get(s.name, {})} for s in (side_a, side_b)},
            "pairs": [[p.a.cell_id, p.b.cell_id] for p in pairs], "side_of_repeat": SIDE_RULE}
