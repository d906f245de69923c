"""bench.plan.shard: the slices of ``bench all --shard K/M`` (pure, no process), and run.json's ``shard``."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from bench.analysis.comparisons import headline_groups
from bench.cell import Cell
from bench.errors import BenchError
from bench.plan.estimates import process_seconds
from bench.plan.matrix import PlannedCell
from bench.plan.schedule import build_schedule
from bench.plan.shard import ShardSpec, parse_shard, plan_units, shard_plan
from bench.results.load import read_run_meta
from bench.results.records import RunSettings
from bench.results.slots import Slot

MODELS = ("dcgan-mnist", "dcgan-64", "vae-mnist")
CELLS = [Cell(m, fw, mode, "cpu", "fp32", 8)
         for m in MODELS
         for fw, mode in (("tensorflow", "eager"), ("tensorflow", "function"), ("torch", "eager"),
                          ("torch", "compile"))]
SKIPPED = [PlannedCell(Cell("vae-mnist", "torch", "eager", "cuda", "fp32", 8), "no CUDA device")]
PLANNED = [PlannedCell(c) for c in CELLS] + SKIPPED
BY_MODEL = {m: RunSettings(repeats=3, steps=5) for m in MODELS}
GROUPS = headline_groups(CELLS)


def plan(seed: int = 0, repeats: int = 3) -> list[Slot]:
    return build_schedule(CELLS, repeats, seed, GROUPS)


def shards(m: int, seed: int = 0, repeats: int = 3, by_model: dict[str, RunSettings] = BY_MODEL):
    schedule = plan(seed, repeats)
    return schedule, [shard_plan(ShardSpec(k, m), "quick", PLANNED, by_model, schedule, seed, GROUPS)
                      for k in range(1, m + 1)]


@pytest.mark.parametrize("text", ["3/2", "0/2", "x", "1/0", "2", "1/2/3", "-1/2", "/2", ""])
def test_bad_shard_values_are_refused(text: str) -> None:
    with pytest.raises(BenchError, match="expected K/M with 1 <= K <= M"):
        parse_shard(text)


def test_good_shard_values() -> None:
    assert parse_shard("1/1") == ShardSpec(1, 1) and parse_shard(" 3/4 ") == ShardSpec(3, 4)
    assert str(parse_shard("2/5")) == "2/5"


@pytest.mark.parametrize(("m", "seed"), [(1, 0), (2, 0), (3, 7), (4, 1), (9, 2), (12, 0), (20, 3)])
def test_every_process_lands_in_exactly_one_shard(m: int, seed: int) -> None:
    schedule, parts = shards(m, seed)
    got = [s for p in parts for s in p.schedule]
    assert sorted(got, key=lambda s: s.order) == schedule  # each once, with its block and order kept
    for p in parts:
        assert p.schedule, "no shard is empty"
        assert [s.order for s in p.schedule] == sorted(s.order for s in p.schedule)
        assert p.meta["processes"] == len(schedule) and p.meta["m"] == m
        runnable = {c.cell for c in p.planned if c.runnable}
        assert runnable == {s.cell for s in p.schedule}
        # Skipped cells are recorded once, by shard 1.
        assert [c for c in p.planned if not c.runnable] == (SKIPPED if p.meta["k"] == 1 else [])
    assert len({p.meta["run_key"] for p in parts}) == 1


@pytest.mark.parametrize("m", [2, 3, 5, 9])
def test_blocks_stay_whole_and_headline_pairs_adjacent(m: int) -> None:
    schedule, parts = shards(m)
    assert all(p.meta["unit"] == "block" for p in parts)  # 9 blocks: enough for 9 shards
    owner = {s.order: p.meta["k"] for p in parts for s in p.schedule}
    for _, block in itertools.groupby(schedule, key=lambda s: s.block):
        assert len({owner[s.order] for s in block}) == 1
    for p in parts:
        assert p.groups and all(c in {s.cell for s in p.schedule} for g in p.groups for c in g)
        for g in p.groups:
            for _, block in itertools.groupby(p.schedule, key=lambda s: s.block):
                cells = [s.cell for s in block]
                if cells[0].model != g[0].model:
                    continue
                at = [cells.index(c) for c in g]
                assert max(at) - min(at) == len(g) - 1  # next to each other, as in the whole plan


def test_more_shards_than_blocks_cut_abba_pairs_never_apart() -> None:
    schedule, parts = shards(12)
    assert {p.meta["unit"] for p in parts} == {"pair"}
    units = plan_units(schedule, GROUPS, "pair")
    pairs = [u for u in units if len(u) > 1]
    assert pairs and all(len(u) == 2 and {s.cell for s in u} in [set(g) for g in GROUPS] for u in pairs)
    owner = {s.order: p.meta["k"] for p in parts for s in p.schedule}
    assert all(owner[u[0].order] == owner[u[1].order] for u in pairs)


@pytest.mark.parametrize("m", [2, 3, 4, 9])
def test_shards_are_balanced_by_the_estimates(m: int) -> None:
    schedule, parts = shards(m)
    units = plan_units(schedule, GROUPS, parts[0].meta["unit"])
    biggest = max(sum(process_seconds(s.cell, BY_MODEL[s.cell.model], s.repeat) for s in u) for u in units)
    loads = [p.seconds for p in parts]
    assert sum(loads) == pytest.approx(parts[0].total_seconds)
    assert max(loads) - min(loads) <= biggest + 1e-9  # largest-first dealing's bound


def test_the_slices_are_deterministic_and_the_run_key_follows_the_plan() -> None:
    _, a = shards(3)
    _, b = shards(3)
    assert [(p.schedule, p.meta) for p in a] == [(p.schedule, p.meta) for p in b]
    key = a[0].meta["run_key"]
    assert shards(3, seed=1)[1][0].meta["run_key"] != key
    other = {m: RunSettings(repeats=3, steps=6) for m in MODELS}
    assert shards(3, by_model=other)[1][0].meta["run_key"] != key
    assert shards(2)[1][0].meta["run_key"] == key  # the plan's, not the slicing's


def test_fewer_units_than_shards_is_refused() -> None:
    cells = CELLS[:1]
    schedule = build_schedule(cells, 2, 0)
    message = r"--shard 1/3: the plan's 2 process\(es\) in 2 block\(s\) make at most 2 shards"
    with pytest.raises(BenchError, match=message):
        shard_plan(ShardSpec(1, 3), "quick", [PlannedCell(c) for c in cells], BY_MODEL, schedule, 0, [])


# --------------------------------------------------------------------------- run.json's shard, validated


def write_meta(tmp_path: Path, **shard_over: object) -> Path:
    _, parts = shards(2)
    p = parts[1]
    meta = {"schema": 5, "run_id": "s2", "profile": "quick", "settings": RunSettings(repeats=3).to_dict(),
            "cells_planned": [c.cell.cell_id for c in p.planned], "repeats": 3, "schedule_seed": 0,
            "schedule": [s.to_dict() for s in p.schedule], "shard": {**p.meta, **shard_over}}
    run = tmp_path / "s2"
    run.mkdir(exist_ok=True)
    (run / "run.json").write_text(json.dumps(meta))
    return run


def test_a_shard_run_json_loads(tmp_path: Path) -> None:
    meta = read_run_meta(write_meta(tmp_path))
    orders = [e["order"] for e in meta["schedule"]]
    assert meta["shard"]["k"] == 2 and orders != list(range(len(orders)))  # places in the whole plan


@pytest.mark.parametrize(("over", "message"), [
    ({"k": 3}, "shard: k 3 is more than m 2"),
    ({"k": 0}, "shard.k"),
    ({"unit": "cell"}, "shard.unit"),
    ({"run_key": "abc"}, "shard.run_key"),
    ({"run_key": None}, "shard.run_key"),
    ({"processes": 3}, "is not after .* and within its plan's 3 process"),
    ({"extra": 1}, "shard.extra"),
    ({"k": "2"}, "shard.k"),
])
def test_a_bad_shard_field_is_one_line(tmp_path: Path, over: dict[str, object], message: str) -> None:
    with pytest.raises(BenchError, match=message) as e:
        read_run_meta(write_meta(tmp_path, **over))
    assert "\n" not in str(e.value) and "corrupt run file" in str(e.value)


def test_a_shard_schedule_out_of_order_is_refused(tmp_path: Path) -> None:
    run = write_meta(tmp_path)
    meta = json.loads((run / "run.json").read_text())
    meta["schedule"][0], meta["schedule"][1] = meta["schedule"][1], meta["schedule"][0]
    (run / "run.json").write_text(json.dumps(meta))
    with pytest.raises(BenchError, match=r"schedule\[1\]: order .* is not after"):
        read_run_meta(run)
