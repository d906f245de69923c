"""bench.results.schema: every stored file validated on load (after migration), one-line errors naming the
file
and the field. In-process and fast; tests/test_hostile_runs.py feeds corrupted runs to the commands."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import standard_cells, write_run

from bench.errors import BenchError
from bench.gate.baseline import load_baseline, save_baseline
from bench.results import schema
from bench.results.load import check_run, load_run
from bench.results.migrations import migrate_cell
from bench.results.records import SCHEMA_VERSION, Cell

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", standard_cells())


def first_cell(run: Path) -> Path:
    return sorted((run / "cells").glob("*/r*.json"))[0]


def edit(path: Path, change: Callable[[Any], object]) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    change(d)
    path.write_text(json.dumps(d), encoding="utf-8")


def refused(run: Path) -> str:
    with pytest.raises(BenchError) as e:
        load_run(run)
    text = str(e.value)
    assert "\n" not in text and "\r" not in text
    return text


def test_every_committed_run_is_valid() -> None:
    runs = sorted(p.parent for p in (PROJECT / "reports").rglob("run.json"))
    assert runs
    for r in runs:
        assert not load_run(r).cells.empty, r


def test_message_names_file_field_and_value(run: Path) -> None:
    path = first_cell(run)
    edit(path, lambda d: d.update(batch_size="big"))
    expected = f"corrupt cell result {path}: batch_size: Input should be a valid integer (got 'big')"
    assert refused(run) == expected


CELL_EDITS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("float as a count", lambda d: d.update(batch_size=1.5), "batch_size: Input should be a valid integer"),
    ("true as a count", lambda d: d.update(n_steps=True), "n_steps: Input should be a valid integer"),
    ("count too big", lambda d: d.update(n_steps=10**30), "n_steps: Input should be less than or equal to"),
    ("negative batch", lambda d: d.update(batch_size=-1), "batch_size: Input should be greater than"),
    ("string as a number", lambda d: d.update(throughput_img_s="1e3"), "throughput_img_s: Input should be"),
    ("negative bytes", lambda d: d.update(peak_rss_bytes=-1), "peak_rss_bytes: Input should be greater"),
    ("unknown field", lambda d: d.update(stepp_time_median_s=1.0), "stepp_time_median_s: Extra inputs"),
    ("list a string", lambda d: d.update(warmup_step_times_s="abc"), "warmup_step_times_s: Input should be"),
    ("negative list item", lambda d: d.update(warmup_step_times_s=[0.1, -2]), "warmup_step_times_s[1]:"),
    ("settings steps", lambda d: d["settings"].update(steps="ten"), "settings.steps: Input should be"),
    ("settings profile", lambda d: d["settings"].update(profile="turbo"), "settings.profile: Input"),
    ("loss name a path", lambda d: d.update(final_losses={"../g": 1.0}), "final_losses.../g (key): String"),
    ("unknown mode", lambda d: d.update(mode="warp"), "mode: unknown tensorflow mode 'warp'"),
    ("unknown variant", lambda d: d.update(variant="turbo"), "variant: unknown tensorflow variant 'turbo'"),
    ("unknown device", lambda d: d.update(device="tpu"), "device: unknown device 'tpu'"),
    ("model missing", lambda d: d.pop("model"), "model: Field required"),
    ("cell id a path", lambda d: d.update(cell_id="../x"), "cell_id: String should match pattern"),
    ("reason a number", lambda d: d.update(reason=3), "reason: Input should be a valid string"),
    ("a newline in a key", lambda d: d.update({"a\nb": 1}), "a\\nb: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("name", "change", "message"), CELL_EDITS, ids=[c[0] for c in CELL_EDITS])
def test_bad_cell_fields(run: Path, name: str, change: Callable[[dict[str, Any]], object],
                         message: str) -> None:
    path = first_cell(run)
    edit(path, change)
    text = refused(run)
    assert text.startswith(f"corrupt cell result {path}: ") and message in text, text


def test_infinity_and_nan_are_refused(run: Path) -> None:
    path = first_cell(run)
    text = re.sub(r'"wall_s": [^,}]*,?', "", path.read_text(encoding="utf-8"))  # one wall_s key only
    for literal in ("1e999", "NaN", "-Infinity"):
        schema_key = f'"schema": {SCHEMA_VERSION}'
        path.write_text(text.replace(schema_key, f'"wall_s": {literal}, {schema_key}'), encoding="utf-8")
        assert "wall_s: Input should be a finite number" in refused(run)


def test_cell_result_that_is_a_directory(run: Path) -> None:
    path = first_cell(run)
    path.unlink()
    path.mkdir()
    assert refused(run) == f"corrupt cell result {path}: a directory, not a file"


FILE_EDITS: list[tuple[str, str, Callable[[Any], object] | str, str]] = [
    ("run.json", "settings missing", lambda d: d.pop("settings"), "settings: Field required"),
    ("run.json", "truncated", '{"schema": 2, "cells_pl', "corrupt run file"),
    ("run.json", "profile", lambda d: d.update(profile="turbo"), "profile: Input should be 'quick'"),
    ("run.json", "run id a path", lambda d: d.update(run_id="../../x"), "run_id: String should match"),
    ("run.json", "pythons not strings", lambda d: d.update(pythons={"torch": 1}), "pythons.torch: Input"),
    ("run.json", "planned id of 5 parts", lambda d: d["cells_planned"].append("a__b__c__d__e"),
     "malformed cell id 'a__b__c__d__e': expected 7 parts"),
    ("run.json", "deep nesting", '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}", "RecursionError"),
    ("environment.json", "not an object", "[]", "corrupt environment file"),
    ("environment.json", "negative memory", lambda d: d["memory"].update(total_bytes=-5),
     "memory.total_bytes: Input should be greater than or equal to 0"),
    ("environment.json", "schema 7", lambda d: d.update(schema=7), "schema: Input should be 1"),
    ("environment.json", "cpu a string", lambda d: d.update(cpu="fast"), "cpu: Input should be a valid dict"),
    ("environment.json", "truncated", '{"cpu": {', "corrupt environment file"),
    ("roofline.json", "negative peak", '{"device": "cuda", "peak_flops_by_precision": {"fp32": -1}}',
     "peak_flops_by_precision.fp32: Input should be greater"),
]


@pytest.mark.parametrize(("name", "what", "change", "message"), FILE_EDITS,
                         ids=[f"{c[0]} {c[1]}" for c in FILE_EDITS])
def test_bad_run_files(run: Path, name: str, what: str, change: Callable[[Any], object] | str,
                       message: str) -> None:
    path = run / name
    if isinstance(change, str):
        path.write_text(change, encoding="utf-8")
    else:
        edit(path, change)
    text = refused(run)
    assert str(path) in text and message in text, text


STEP_EDITS: list[tuple[str, dict[str, Any], str]] = [
    ("negative step", {"step": -1}, "step: Input should be greater than or equal to 0"),
    ("time 'fast'", {"step_time_s": "fast"}, "step_time_s: Input should be a valid number"),
    ("loss 'NaN'", {"losses": {"g": "NaN"}}, "losses.g: Input should be a valid number"),
    ("extra column", {"lr": 0.1}, "lr: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("name", "values", "message"), STEP_EDITS, ids=[c[0] for c in STEP_EDITS])
def test_bad_step_rows(run: Path, name: str, values: dict[str, Any], message: str) -> None:
    path = sorted((run / "steps").glob("*/r*.jsonl"))[0]
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[1])
    row.update(values)
    path.write_text("\n".join([lines[0], json.dumps(row), *lines[2:]]) + "\n", encoding="utf-8")
    assert refused(run).startswith(f"corrupt steps file {path}: line 2: {message}")


def test_check_run_validates_every_file_without_tables(run: Path) -> None:
    # What --resume calls before it touches anything.
    assert check_run(run)["cells_planned"]
    path = sorted((run / "steps").glob("*/r*.jsonl"))[0]
    path.write_text(path.read_text(encoding="utf-8")[:-30], encoding="utf-8")
    with pytest.raises(BenchError, match="corrupt steps file"):
        check_run(run)


def test_checked_cell_id() -> None:
    good = "dcgan-mnist__torch__eager__cpu__fp32__b8__default"
    assert schema.checked_cell_id(good) == Cell("dcgan-mnist", "torch", "eager", "cpu", batch_size=8)
    for bad, why in [
        ("dcgan-mnist__torch__eager__cpu__fp32__b1__x/../../../victim", "bad variant part"),
        ("dcgan-mnist__jax__eager__cpu__fp32__b8__default", "framework: unknown framework 'jax'"),
        ("nope__torch__eager__cpu__fp32__b8__default", "model: unknown model 'nope'"),
        ("dcgan-mnist__torch__eager__cpu__fp32__b-1__default", "bad batch_size part"),
        (3, "malformed cell id 3"),
    ]:
        with pytest.raises(BenchError, match=why.replace("(", r"\(")):
            schema.checked_cell_id(bad)


def test_migrated_schema_1_cell_is_validated(tmp_path: Path) -> None:
    committed = next((PROJECT / "reports" / "runs" / "20261123T160704Z" / "cells").glob("*.json"))
    d = json.loads(committed.read_text(encoding="utf-8"))
    assert d["schema"] == 1
    d["final_g_loss"] = "low"  # a schema-1 field, moved by the migration, then checked
    with pytest.raises(BenchError, match=r"final_losses.g: Input should be a valid number \(got 'low'\)"):
        schema.validate_cell_result(migrate_cell(d), committed)


def test_baseline_schema(tmp_path: Path, run: Path) -> None:
    good = save_baseline(run, out_dir=tmp_path / "bl")
    assert load_baseline(good)["cells"]
    d = json.loads(good.read_text(encoding="utf-8"))
    newest = d["runs"][-1]
    cell = next(iter(newest["cells"].values()))
    newest["cells"] = {"dcgan-64__torch__eager__cpu__fp32__b8__default": cell}
    good.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(BenchError, match="the key does not match the cell's fields"):
        load_baseline(good)


@pytest.mark.parametrize("name", ["../evil", "/tmp/evil", ".hidden", "a/b", "x\ny"])
def test_baseline_name_must_be_a_safe_name(tmp_path: Path, run: Path, name: str) -> None:
    with pytest.raises(BenchError, match="invalid baseline name"):
        save_baseline(run, name=name, out_dir=tmp_path / "bl")
    assert not (tmp_path / "bl").exists()


def test_one_line_escapes_every_line_break() -> None:
    text = schema.one_line("a\nb\rc\x0bd\x1ce\u2028f\x85g")
    assert len(text.splitlines()) == 1 and text.startswith("a\\nb\\rc")
