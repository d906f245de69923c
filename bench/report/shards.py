"""The shards of one plan (``bench all --shard K/M``, bench.plan.shard) merged into one run for a report.

``bench report --runs A B C``: the runs whose run.json holds ``shard`` must be the shards of one plan,
every one of them, each once; they become one run, at the place of the first, as if one machine had
run the whole schedule (each process keeps its repeat, block and order in the plan). Unsharded runs
beside them stay runs of their own, side by side. Refused in one line (BenchError), naming the runs:

- shards of another plan: another number of shards, profile, settings of a model, schedule seed or run
  key (the plan's hash: its cells, schedule and headline comparisons);
- shards recorded on different machines (their hardware: bench.host.machine) or with different software
  (framework versions, Python version, git commit and uncommitted diff);
- a shard given twice, or one missing (all are named), unless ``allow_partial``: then the shards given
  are merged, with a warning naming those missing;
- shards whose processes overlap or leave places of the plan unfilled.

The shards are only read: the merged run lives in memory, with the first shard's environment and
device peaks (the same machine's), run id the shards' common one, else ``shards-<run key>``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench.errors import BenchError
from bench.host.machine import machine_differences, machine_fields, machine_fingerprint
from bench.results.load import RunData

__all__ = ["merge_shards", "shard_of"]


def shard_of(run: RunData) -> Mapping[str, Any] | None:
    """run.json's ``shard`` (validated on load), or None for a whole run."""
    shard = run.meta.get("shard")
    return shard if isinstance(shard, Mapping) else None


def _name(run: RunData) -> str:
    shard = shard_of(run) or {}
    return f"{run.path} (shard {shard.get('k')}/{shard.get('m')})"


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two JSON values first differ ("steps: 20 vs 50"), or None when equal."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            found = _first_difference(a.get(key), b.get(key), f"{path}{key}" if not path else f"{path}.{key}")
            if found:
                return found
        return None
    return None if a == b else f"{path or 'value'}: {a!r} vs {b!r}"


def _plan_difference(a: RunData, b: RunData) -> str | None:
    sa, sb = shard_of(a) or {}, shard_of(b) or {}
    for key, what in (("m", "number of shards"),):
        if sa.get(key) != sb.get(key):
            return f"{what}: {sa.get(key)} vs {sb.get(key)}"
    for key in ("profile", "repeats", "schedule_seed"):
        if a.meta.get(key) != b.meta.get(key):
            return f"{key}: {a.meta.get(key)!r} vs {b.meta.get(key)!r}"
    settings = _first_difference(a.meta.get("settings_by_model") or a.meta.get("settings"),
                                 b.meta.get("settings_by_model") or b.meta.get("settings"))
    if settings:
        return f"settings {settings}"
    if sa.get("run_key") != sb.get("run_key"):
        return (f"run key {str(sa.get('run_key'))[:12]} vs {str(sb.get('run_key'))[:12]} (the matrix, its "
                "schedule or the frameworks seen differ)")
    return None


def _machine_difference(a: RunData, b: RunData) -> str | None:
    fa, fb = machine_fields(a.env), machine_fields(b.env)
    if fa is not None and fb is not None:
        diffs, _ = machine_differences(fa, fb)
        if diffs:
            ids = f"{machine_fingerprint(a.env)} vs {machine_fingerprint(b.env)}"
            return f"fingerprint {ids}: {'; '.join(diffs)}"
        return None
    ia, ib = machine_fingerprint(a.env), machine_fingerprint(b.env)
    return None if ia == ib else f"fingerprint {ia} vs {ib}"


def _software(env: Mapping[str, Any]) -> dict[str, Any]:
    git = env.get("git") if isinstance(env.get("git"), Mapping) else {}
    python = env.get("python") if isinstance(env.get("python"), Mapping) else {}
    return {"framework versions": env.get("framework_versions"), "python": python.get("version"),
            "git commit": git.get("commit"), "uncommitted diff": git.get("diff_sha256")}


def _check_together(first: RunData, other: RunData) -> None:
    pair = f"{_name(first)} and {_name(other)}"
    plan = _plan_difference(first, other)
    if plan:
        raise BenchError(f"{pair} are shards of different plans ({plan}); merge only the shards of one "
                         "`bench all --shard K/M` matrix")
    machine = _machine_difference(first, other)
    if machine:
        raise BenchError(f"{pair} were recorded on different machines ({machine}); shards merge only "
                         "from one kind of machine")
    software = _first_difference(_software(first.env), _software(other.env))
    if software:
        raise BenchError(f"{pair} ran different software ({software}); shards merge only from one "
                         "environment")


def merge_shards(runs: Sequence[RunData], *, allow_partial: bool = False,
                 warn: Callable[[str], None] = lambda _: None) -> list[RunData]:
    """``runs`` with the shards among them merged into one run at the place of the first (module
    docstring); BenchError when they do not belong together."""
    shards = [r for r in runs if shard_of(r) is not None]
    if not shards:
        return list(runs)
    for other in shards[1:]:
        _check_together(shards[0], other)
    by_k: dict[int, RunData] = {}
    for r in shards:
        k = int((shard_of(r) or {})["k"])
        if k in by_k:
            raise BenchError(f"shard {k} is given twice: {by_k[k].path} and {r.path}")
        by_k[k] = r
    m = int((shard_of(shards[0]) or {})["m"])
    missing = [k for k in range(1, m + 1) if k not in by_k]
    key = str((shard_of(shards[0]) or {})["run_key"])[:12]
    if missing:
        text = f"shard(s) {', '.join(f'{k}/{m}' for k in missing)} of run key {key} are missing"
        if not allow_partial:
            raise BenchError(f"{text}: give every shard's run (or --allow-partial to report on "
                             f"{len(by_k)} of {m})")
        warn(f"warning: {text}; the report covers {len(by_k)} of {m} shard(s)")
    merged = _merged([by_k[k] for k in sorted(by_k)], complete=not missing)
    out: list[RunData] = []
    for r in runs:
        if shard_of(r) is None:
            out.append(r)
        elif r is shards[0]:
            out.append(merged)
    return out


def _merged(shards: Sequence[RunData], *, complete: bool) -> RunData:
    """One run of the shards (sorted by k), checked: no process twice, and, when ``complete``, every
    place of the plan filled."""
    import pandas as pd

    first = shards[0]
    shard = dict(shard_of(first) or {})
    schedule: list[dict[str, Any]] = []
    owner: dict[tuple[str, int], str] = {}
    for r in shards:
        for e in r.meta.get("schedule") or []:
            place = (e["cell_id"], e["repeat"])
            if place in owner:
                raise BenchError(f"{_name(r)} and {owner[place]} both ran {e['cell_id']} r{e['repeat']}: "
                                 "shards of one plan never share a process")
            owner[place] = _name(r)
            schedule.append(e)
    schedule.sort(key=lambda e: e["order"])
    orders = [e["order"] for e in schedule]
    if len(set(orders)) != len(orders) or (complete and orders != list(range(int(shard["processes"])))):
        raise BenchError(f"the shards of run key {str(shard['run_key'])[:12]} do not fill their plan's "
                         f"{shard['processes']} process(es) once each: a shard's run.json was changed")
    ids = {r.run_id for r in shards}
    run_id = ids.pop() if len(ids) == 1 else f"shards-{str(shard['run_key'])[:12]}"
    meta = copy.deepcopy(first.meta)
    meta.update(
        run_id=run_id, schedule=schedule,
        cells_planned=list(dict.fromkeys(c for r in shards for c in r.meta["cells_planned"])),
        headline_groups=list({tuple(g): list(g) for r in shards
                              for g in r.meta.get("headline_groups") or []}.values()),
        created_at=min((str(r.meta.get("created_at")) for r in shards if r.meta.get("created_at")),
                       default=None))
    meta.pop("shard", None)
    cells = pd.concat([r.cells for r in shards], ignore_index=True).assign(run_id=run_id)
    steps = pd.concat([r.steps for r in shards], ignore_index=True).assign(run_id=run_id)
    rank = {cid: i for i, cid in enumerate(meta["cells_planned"])}
    cells = cells.sort_values(["cell_id", "repeat"], key=lambda s: s.map(rank) if s.name == "cell_id" else s,
                              kind="stable").reset_index(drop=True)
    return RunData(run_id=run_id, path=first.path, meta=meta, env=first.env, cells=cells, steps=steps,
                   roofline=first.roofline, rooflines=first.rooflines,
                   shards={"m": shard["m"], "unit": shard["unit"], "run_key": shard["run_key"],
                           "processes": shard["processes"],
                           "runs": {int((shard_of(r) or {})["k"]): r.run_id for r in shards}})
