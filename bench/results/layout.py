"""The run directory's layout, checked as it is read: which file holds which process, and does run.json's
schedule agree with itself and with the results.

``bench.results.paths`` names the paths; this module finds the stored process files of a run and refuses what
does not belong (a ``cells/<id>/r0.json``, a file beside the cell directories of a schema-3 run, a
schedule entry naming a cell that was not planned). Every refusal is a one-line BenchError naming the
path. Reading never changes the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results.paths import flat_layout, repeat_of

__all__ = ["ProcessFile", "check_no_links_out", "process_files", "result_problem", "run_meta_problem",
           "schedule_index"]

# (cell id, repeat, path) of one stored process file.
ProcessFile = tuple[str, int, Path]


MAX_AB_CAP = 1000  # pairs an A/B run's sequential phase may add per cell, at most


def _refuse(text: str) -> BenchError:
    from bench.results.schema_text import one_line

    return BenchError(one_line(text))


def max_repeat(meta: Mapping[str, Any]) -> int | None:
    """The highest repeat a process of the run may have: its ``repeats``, plus the pairs its adaptive
    phase may add (bench.plan.adaptive: one process per pair and cell; an A/B run's sequential phase,
    bench.plan.ab_sequential: two); None when the run does not say."""
    repeats, adaptive = meta.get("repeats"), meta.get("adaptive")
    if repeats is None:
        return None
    extra = int(adaptive.get("cap_pairs") or 0) if isinstance(adaptive, Mapping) else 0
    ab = meta.get("ab")
    ab_adaptive = ab.get("adaptive") if isinstance(ab, Mapping) else None
    ab_cap = ab_adaptive.get("cap_pairs") if isinstance(ab_adaptive, Mapping) else None
    # ``ab`` is not typed by the schema: only a plausible count widens the bound.
    if isinstance(ab_cap, int) and not isinstance(ab_cap, bool) and 0 <= ab_cap <= MAX_AB_CAP:
        extra += 2 * ab_cap
    return int(repeats) + extra


def run_meta_problem(d: Mapping[str, Any]) -> str | None:
    """What is wrong with run.json's planned cells or schedule (its fields already typed), or None."""
    planned = d.get("cells_planned", [])
    seen_ids: set[str] = set()
    for c in planned:  # one pass: a run.json of 200,000 planned cells is checked in linear time
        if c in seen_ids:
            return f"cells_planned: {c!r} is planned twice"
        seen_ids.add(c)
    known, repeats = set(planned), max_repeat(d)
    for i, group in enumerate(d.get("headline_groups", [])):
        strangers = [c for c in group if c not in known]
        if strangers:
            return f"headline_groups[{i}]: cell {strangers[0]!r} is not planned (cells_planned)"
    shard = d.get("shard")
    if shard is not None and shard["k"] > shard["m"]:
        return f"shard: k {shard['k']} is more than m {shard['m']}"
    seen: set[tuple[str, int]] = set()
    last_block, last_order = -1, -1
    for i, e in enumerate(d.get("schedule", [])):
        where, key = f"schedule[{i}]", (e["cell_id"], e["repeat"])
        if e["cell_id"] not in known:
            return f"{where}: cell {e['cell_id']!r} is not planned (cells_planned)"
        if repeats is not None and e["repeat"] > repeats:
            return f"{where}: repeat {e['repeat']} in a run of {repeats} repeat(s)"
        if key in seen:
            return f"{where}: {e['cell_id']} r{e['repeat']} is scheduled twice"
        if shard is None and e["order"] != i:
            return f"{where}: order {e['order']} is not its place in the schedule ({i})"
        # A shard keeps its processes' places in the whole plan: increasing, within it.
        if shard is not None and not last_order < e["order"] < shard["processes"]:
            return (f"{where}: order {e['order']} in shard {shard['k']}/{shard['m']} is not after "
                    f"{last_order} and within its plan's {shard['processes']} process(es)")
        if e["block"] < last_block:
            return f"{where}: block {e['block']} after block {last_block} (blocks run in order)"
        seen.add(key)
        last_block, last_order = e["block"], e["order"]
    if "schedule" in d and flat_layout(d.get("schema", 1)):
        return f"schedule: a schema-{d.get('schema', 1)} run has no schedule (schema 3 and later)"
    return None


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        return sorted((e for e in os.scandir(directory) if not e.name.startswith(".")), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise _refuse(f"corrupt run directory: {directory} is a file, not a directory") from None
    except OSError as e:
        raise _refuse(f"cannot read run directory {directory}: {e.strerror or e}") from None


def process_files(run_dir: Path, sub: str, suffix: str, schema: object, what: str,
                  check_id: Callable[[str], object]) -> list[ProcessFile]:
    """Every stored process file under ``run_dir/sub`` (temporary dot-files ignored), sorted.

    Schema 3 and later: ``<sub>/<cell_id>/r<k><suffix>``, nothing else. Schema 1-2:
    ``<sub>/<cell_id><suffix>`` as repeat 1 (other names ignored, as those versions did; a directory
    is refused). ``check_id`` raises BenchError for a name that is not a known cell id
    (bench.results.schema.checked_cell_id).
    """
    root = Path(run_dir) / sub
    found: list[ProcessFile] = []
    if flat_layout(schema):
        for entry in _entries(root):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False) and not entry.name.endswith(suffix):
                raise _refuse(f"corrupt {what} {path}: a schema-{schema} run keeps one file per cell "
                              f"({sub}/<cell_id>{suffix})")
            if entry.name.endswith(suffix):
                found.append((_checked_id(check_id, entry.name[: -len(suffix)], path, what), 1, path))
        return found
    for entry in _entries(root):
        cell_dir = Path(entry.path)
        if not entry.is_dir():
            raise _refuse(f"corrupt {what} {cell_dir}: a schema-{schema} run keeps "
                          f"{sub}/<cell_id>/r<k>{suffix} (one file per process)")
        cid = _checked_id(check_id, entry.name, cell_dir, what)
        for f in _entries(cell_dir):
            repeat = repeat_of(f.name, suffix)
            if repeat is None:
                raise _refuse(f"corrupt {what} {f.path}: not a process file (r<k>{suffix}, k = 1, 2, ...)")
            found.append((cid, repeat, Path(f.path)))
    return found


def _checked_id(check: Any, name: str, path: Path, what: str) -> str:
    try:
        check(name)
    except BenchError as e:
        raise _refuse(f"corrupt {what} {path}: the name is not a cell id ({e})") from None
    return name


def result_problem(meta: Mapping[str, Any], index: Mapping[tuple[str, int], Mapping[str, Any]], cell_id: str,
                   repeat: int, block: int | None, order: int | None) -> str | None:
    """What is wrong with a process's stored place in the run (its repeat, block and order), or None.
    ``index`` is ``schedule_index(meta)``."""
    repeats = max_repeat(meta)
    if repeats is not None and repeat > repeats:
        return f"repeat {repeat} in a run of {repeats} repeat(s)"
    entry = index.get((cell_id, repeat))
    if entry is None:
        if order is not None and "schedule" in meta:
            return f"order {order}, but {cell_id} r{repeat} is not in the run's schedule"
        return None
    if (block, order) != (entry["block"], entry["order"]):
        return (f"block {block}, order {order} disagree with the run's schedule "
                f"(block {entry['block']}, order {entry['order']})")
    return None


def schedule_index(meta: Mapping[str, Any]) -> dict[tuple[str, int], Mapping[str, Any]]:
    """run.json's schedule entries by (cell id, repeat)."""
    return {(e["cell_id"], e["repeat"]): e for e in meta.get("schedule", [])}


def check_no_links_out(run_dir: Path) -> None:
    """No symbolic link in the run's tree leads out of it; BenchError naming the first that does.

    A link out of the run (cells/ → elsewhere, a log or a cell's work directory → a victim) would take
    reads and, on --resume, writes and deletions outside the directory the user gave.
    """
    root = run_dir.resolve()
    todo = [run_dir]
    while todo:
        d = todo.pop()
        try:
            entries = list(os.scandir(d))
        except OSError as e:
            raise _refuse(f"cannot read run directory {d}: {e.strerror or e}") from None
        for entry in entries:
            if entry.is_symlink():
                try:
                    target = Path(entry.path).resolve()
                except (OSError, RuntimeError):  # a loop of links
                    raise _refuse(f"unsafe run directory {run_dir}: {entry.path} is a loop of links") \
                        from None
                if target != root and not target.is_relative_to(root):
                    raise _refuse(f"unsafe run directory {run_dir}: {entry.path} is a link out of it "
                                   f"(to {target})")
            elif entry.is_dir(follow_symlinks=False):
                todo.append(Path(entry.path))
