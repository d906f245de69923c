"""Run options of data-parallel cells (workers > 1) that are run settings but not a profile's
(``bench.plan.profiles.OVERRIDABLE``): ``--scaling weak|strong`` and ``--nodes M --node-rank K --master
HOST:PORT``, set on every model's settings after the profile's, and the checks that refuse a plan its
ranks cannot run, before anything starts (one line, exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from bench.errors import BenchError
from bench.launchers.engine import engine_of
from bench.results.records import Cell, RunSettings, per_rank_batch

# RunSettings fields given on the command line outside the profiles' overridable ones.
RUN_OPTIONS = ("scaling", "nodes", "node_rank", "master")


def split_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the profile's overrides, the run options) of a request's explicit settings."""
    profile = {k: v for k, v in overrides.items() if k not in RUN_OPTIONS}
    return profile, {k: v for k, v in overrides.items() if k in RUN_OPTIONS}


def with_options(settings: RunSettings, options: Mapping[str, Any]) -> RunSettings:
    return replace(settings, **options) if options else settings


def check_batch_split(cells: Iterable[Cell], by_model: Mapping[str, RunSettings]) -> None:
    """Refuse (one line) a strong-scaling cell whose global batch its ranks cannot share equally."""
    for cell in cells:
        settings = by_model.get(cell.model)
        if settings is None or cell.workers < 2:
            continue
        try:
            per_rank_batch(cell.batch_size, cell.workers, settings.scaling)
        except ValueError:
            n = cell.workers
            raise BenchError(f"--scaling strong: {cell.model}'s batch {cell.batch_size} does not split "
                             f"across {n} ranks; give a --batch-size that {n} divides") from None


def master_address(text: str) -> str:
    """``HOST:PORT`` of node 0's rendezvous, checked (BenchError otherwise)."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or any(c.isspace() for c in host) or not port.isdigit() or \
            not 1 <= int(port) <= 65535:
        raise BenchError(f"--master: expected HOST:PORT with a port of 1 to 65535 (got {text!r})")
    return f"{host}:{int(port)}"


def check_nodes(options: Mapping[str, Any]) -> dict[str, Any]:
    """The machine options, consistent (BenchError otherwise), with --master normalised."""
    nodes, rank, master = options.get("nodes", 1), options.get("node_rank"), options.get("master")
    if nodes == 1:
        if rank or master:
            raise BenchError("--node-rank and --master need --nodes 2 or more")
        return dict(options)
    if rank is None or not master:
        raise BenchError(f"--nodes {nodes}: give this machine's --node-rank (0 to {nodes - 1}) and node 0's "
                         "--master HOST:PORT, the same on every node")
    if rank >= nodes:
        raise BenchError(f"--node-rank {rank}: must be below --nodes {nodes}")
    return {**options, "master": master_address(master)}


def check_cells_span(cells: Iterable[Cell], nodes: int) -> None:
    """Refuse a cell that cannot be shared equally by ``nodes`` machines, or whose engine runs on one."""
    if nodes < 2:
        return
    for cell in cells:
        if cell.workers < nodes or cell.workers % nodes:
            raise BenchError(f"--nodes {nodes}: {cell.cell_id} has {cell.workers} rank(s), not a multiple of "
                             f"{nodes}; ask --workers in multiples of {nodes}")
        engine = engine_of(cell.framework)
        if not getattr(engine, "MULTI_NODE", False):
            raise BenchError(f"--nodes {nodes}: {cell.framework} cells across machines are not built "
                             "(its engine runs on one machine here); leave it out with --frameworks")
