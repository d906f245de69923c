"""Run options of data-parallel cells (workers > 1) that are run settings but not a profile's
(``bench.plan.profiles.OVERRIDABLE``): ``--scaling weak|strong`` and ``--nodes M --node-rank K`` with
the rendezvous ``--master HOST:PORT`` and the TF_CONFIG workers' ``--tf-workers HOST:PORT,...``, set on
every model's settings after the profile's, and the checks that refuse a plan its ranks cannot run,
before anything starts (one line, exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from bench.errors import BenchError
from bench.launchers.base import Nodes
from bench.launchers.engine import engine_of
from bench.results.records import Cell, RunSettings, per_rank_batch

# RunSettings fields given on the command line outside the profiles' overridable ones.
RUN_OPTIONS = ("scaling", "nodes", "node_rank", "master", "tf_workers")


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


def host_port(text: str, option: str) -> tuple[str, int]:
    """(host, port) of a ``HOST:PORT`` (``[IPv6]:PORT`` too), checked (BenchError naming ``option``)."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or any(c.isspace() for c in host) or not port.isdigit() or \
            not 1 <= int(port) <= 65535:
        raise BenchError(f"{option}: expected HOST:PORT with a port of 1 to 65535 (got {text!r})")
    return host, int(port)


def master_address(text: str) -> str:
    """``HOST:PORT`` of node 0's rendezvous, checked (BenchError otherwise)."""
    host, port = host_port(text, "--master")
    return f"{host}:{port}"


def tf_worker_addresses(text: str) -> str:
    """``--tf-workers``: its HOST:PORT entries checked and without duplicates, comma-joined (an IPv6 host
    in brackets, as gRPC wants it); BenchError otherwise."""
    entries = [e.strip() for e in text.split(",")]
    out: list[str] = []
    for entry in entries:
        if not entry:
            raise BenchError(f"--tf-workers: an empty entry in {text!r}; give HOST:PORT,HOST:PORT,...")
        host, port = host_port(entry, "--tf-workers")
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if address in out:
            raise BenchError(f"--tf-workers: {address} is given twice; every worker needs its own HOST:PORT")
        out.append(address)
    return ",".join(out)


def check_nodes(options: Mapping[str, Any]) -> dict[str, Any]:
    """The machine options, consistent (BenchError otherwise), with --master and --tf-workers normalised.
    Which of --master and --tf-workers the plan needs (its engines') is checked with its cells
    (``check_cells_span``)."""
    nodes, rank = options.get("nodes", 1), options.get("node_rank")
    master, workers = options.get("master"), options.get("tf_workers")
    if nodes == 1:
        if rank or master or workers:
            raise BenchError("--node-rank, --master and --tf-workers need --nodes 2 or more")
        return dict(options)
    if rank is None or not (master or workers):
        raise BenchError(f"--nodes {nodes}: give this machine's --node-rank (0 to {nodes - 1}) and, the same "
                         "on every node, node 0's --master HOST:PORT and/or the --tf-workers "
                         "HOST:PORT,... list, as the planned cells' engines need")
    if rank >= nodes:
        raise BenchError(f"--node-rank {rank}: must be below --nodes {nodes}")
    out = dict(options)
    if master:
        out["master"] = master_address(master)
    if workers:
        out["tf_workers"] = tf_worker_addresses(workers)
    return out


def check_cells_span(cells: Iterable[Cell], options: Mapping[str, Any]) -> None:
    """Refuse a cell that cannot be shared equally by the machines, whose engine runs on one, or whose
    engine lacks its machine option (--master, --tf-workers) or cannot place its ranks with it."""
    nodes = Nodes(options.get("nodes", 1), options.get("node_rank") or 0, options.get("master") or "",
                  tuple(a for a in (options.get("tf_workers") or "").split(",") if a))
    if nodes.count < 2:
        return
    for cell in cells:
        if cell.workers < nodes.count or cell.workers % nodes.count:
            raise BenchError(f"--nodes {nodes.count}: {cell.cell_id} has {cell.workers} rank(s), not a "
                             f"multiple of {nodes.count}; ask --workers in multiples of {nodes.count}")
        engine = engine_of(cell.framework)
        if not getattr(engine, "MULTI_NODE", False):
            raise BenchError(f"--nodes {nodes.count}: {cell.framework} cells across machines are not built "
                             "(its engine runs on one machine here); leave it out with --frameworks")
        why = engine.nodes_error(cell.workers, nodes) if hasattr(engine, "nodes_error") else None
        if why:
            raise BenchError(f"{why} ({cell.cell_id})")
