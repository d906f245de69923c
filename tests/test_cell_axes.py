"""The cell's axes declared once: ids with implicit parts, one validator per axis, the scenario and
workers filters, their skips in the matrix, and stored runs of older schemas read as train / 1 worker."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from orch_helpers import fakes, results_by_cell, started  # noqa: F401 (fixture)

from bench import axes, launchers, scenarios
from bench.cell import CELL_AXES, IMPLICIT_DEFAULTS, Cell, parse_cell_id
from bench.cli import main
from bench.errors import BenchError, UnknownChoice
from bench.labels import cell_label, group_label, shown_axes
from bench.plan import matrix, profiles
from bench.results import schema
from bench.results.load import load_run
from bench.results.migrations import migrate_cell
from bench.results.records import SCHEMA_VERSION, CellResult
from models import registry

ROOT = Path(__file__).resolve().parent.parent
# Committed runs, one of each older schema.
OLD_RUNS = {1: "20261123T160704Z", 2: "20261125T022816Z", 3: "20261125T043336Z", 4: "20261207T140856Z"}
BASE = dict(model="dcgan-mnist", framework="torch", mode="eager", device="cpu", precision="fp32",
            batch_size=8, variant="default")
BASE_ID = "dcgan-mnist__torch__eager__cpu__fp32__b8__default"
CPU_ONLY = {fw: {"framework": fw, "installed": True, "version": "1", "cuda": False, "devices": [],
                 "reason": "no CUDA device", "cuda_build": False} for fw in ("tensorflow", "torch")}


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(("extra", "cell_id"), [
    ({}, BASE_ID),
    ({"scenario": "train", "workers": 1}, BASE_ID),  # implicit at their defaults: the id stays as stored
    ({"scenario": "generate"}, f"{BASE_ID}__generate"),
    ({"workers": 2}, f"{BASE_ID}__w2"),
    ({"scenario": "generate", "workers": 4}, f"{BASE_ID}__generate__w4"),
])
def test_cell_id_round_trip_with_implicit_parts(extra: dict[str, Any], cell_id: str) -> None:
    cell = Cell(**BASE, **extra)
    assert cell.cell_id == cell_id
    assert parse_cell_id(cell_id) == cell


@pytest.mark.parametrize("bad", [
    f"{BASE_ID}__train",  # an implicit part at its default is never written
    f"{BASE_ID}__w1",
    f"{BASE_ID}__w2__generate",  # the implicit parts in field order only
    f"{BASE_ID}__generate__generate",
    f"{BASE_ID}__generate__w2__x",  # one part too many
    "dcgan-mnist__torch__eager__cpu__fp32__b8",  # a positional part missing
    f"{BASE_ID}__../x",
    "",
])
def test_malformed_cell_ids_are_refused(bad: str) -> None:
    with pytest.raises(BenchError, match="malformed cell id"):
        parse_cell_id(bad)


def test_a_stored_id_is_checked_by_the_axes_validators() -> None:
    assert schema.checked_cell_id(f"{BASE_ID}__w2") == Cell(**BASE, workers=2)
    with pytest.raises(BenchError, match="workers must be at least 1"):
        schema.checked_cell_id(f"{BASE_ID}__w0")
    for scenario in ("nosuch", "w-2"):  # a part that is no count of workers reads as a scenario
        with pytest.raises(BenchError, match=f"scenario: unknown scenario '{scenario}'"):
            schema.checked_cell_id(f"{BASE_ID}__{scenario}")


# --------------------------------------------------------------------------- one validator per axis


def test_one_validator_per_axis_and_one_filter_per_listed_axis() -> None:
    assert set(axes.VALIDATORS) == set(CELL_AXES)
    # every axis but the batch size (one value, a measurement setting) has a list filter
    assert set(CELL_AXES) - set(matrix.LIST_FILTERS) == {"batch_size"}
    assert {f"--{name}" for name in matrix.LIST_FILTERS.values()} >= {"--scenarios", "--workers"}


@pytest.mark.parametrize(("axis", "value", "message"), [
    ("model", "nope", "unknown model 'nope'"),
    ("scenario", "nosuch", "unknown scenario 'nosuch'"),
    ("workers", 0, r"workers must be at least 1 \(got 0\)"),
    ("workers", True, "workers: expected an integer"),
    ("batch_size", -1, "batch_size must be at least 0"),
    ("device", 3, "device: expected a name"),
])
def test_the_validator_refuses_in_one_line(axis: str, value: Any, message: str) -> None:
    with pytest.raises(BenchError, match=message) as e:
        axes.check(axis, value)
    assert "\n" not in str(e.value)


def test_mode_is_checked_against_the_cells_framework_or_any_of_the_filters() -> None:
    with pytest.raises(UnknownChoice, match="unknown torch mode 'xla'"):
        axes.check("mode", "xla", framework="torch")
    assert axes.check("mode", "xla") == "xla"  # a mode of some registered framework
    with pytest.raises(UnknownChoice, match="unknown mode 'xla'"):
        matrix.Filters(frameworks=("torch",), modes=("xla",)).validate()


def test_no_tuple_of_axis_names_outside_the_cell() -> None:
    """The axes are the fields of Cell: no other module lists them (a tuple, list or set of two or more
    axis names), so a new axis is one field there."""
    found = []
    for pkg in ("bench", "models"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path == ROOT / "bench" / "cell.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) >= 2 and all(
                        isinstance(e, ast.Constant) and e.value in CELL_AXES for e in node.elts):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("argv", [
    ["all", "--workers", "0"],
    ["all", "--workers", "two"],
    ["all", "--scenarios", "nosuch"],
    ["all", "--scenarios", ","],
    ["run", "--model", "dcgan-mnist", "--framework", "torch", "--mode", "eager", "--workers", "0"],
    ["run", "--model", "dcgan-mnist", "--framework", "torch", "--mode", "eager", "--scenario", "nosuch"],
])
def test_bad_scenario_or_workers_is_one_line_exit_2(argv: list[str], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert ("scenario" in err or "workers" in err) and not out.exists()


# --------------------------------------------------------------------------- the matrix


class _Family:
    """A model family as the matrix sees it, declaring the scenarios given."""

    def __init__(self, family: Any, scenarios: tuple[str, ...]) -> None:
        self._family, self.scenarios = family, scenarios

    def __getattr__(self, name: str) -> Any:
        return getattr(self._family, name)


def _plan(**filters: Any) -> dict[str, matrix.PlannedCell]:
    f = matrix.Filters(models=("dcgan-mnist",), frameworks=("torch",), modes=("eager",), devices=("cpu",),
                       variants=("default",), **filters).validate()
    planned = matrix.build_matrix(profiles.get_profile("quick"), CPU_ONLY, f)
    return {p.cell.cell_id: p for p in planned}


def test_default_matrix_is_train_with_one_worker() -> None:
    (only,) = _plan().values()
    assert (only.cell.scenario, only.cell.workers) == tuple(IMPLICIT_DEFAULTS.values()) and only.runnable


def test_matrix_skips_a_scenario_the_family_does_not_declare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(scenarios._REGISTRY.modules, "predict", "tests.no_such_module")  # never imported here
    plan = _plan(scenarios=("train", "predict"))
    train, predict = plan[f"{BASE_ID.replace('b8', 'b64')}"], plan[f"{BASE_ID.replace('b8', 'b64')}__predict"]
    assert train.runnable
    assert predict.skip_reason == scenarios.skip_reason(predict.cell, ("train",)) and predict.skip_reason
    # a family that declares it runs it
    family = registry.family_of("dcgan-mnist")
    monkeypatch.setattr(matrix, "family_of", lambda m: _Family(family, ("train", "predict")))
    assert all(p.runnable for p in _plan(scenarios=("train", "predict")).values())


def _only_the_process_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry without the engine launcher: no launcher starts two ranks."""
    monkeypatch.setattr(launchers._REGISTRY, "modules", {"process": launchers._REGISTRY.modules["process"]})


def test_matrix_skips_workers_no_launcher_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    _only_the_process_launcher(monkeypatch)
    plan = _plan(workers=(1, 2))
    assert len(plan) == 2
    for p in plan.values():
        assert p.skip_reason == launchers.skip_reason(p.cell)
    assert any(p.runnable for p in plan.values()) and not all(p.runnable for p in plan.values())


def test_filters_store_only_what_was_given() -> None:
    assert matrix.Filters().as_dict() == {}  # a default run's run.json says nothing of the new axes
    f = matrix.filters_from({"workers": ["1,2"], "scenarios": ["train"]})
    assert (f.workers, f.scenarios) == ((1, 2), ("train",))
    assert f.matches(Cell(**BASE, workers=2)) and not f.matches(Cell(**BASE, workers=3))


def test_all_with_two_worker_counts_runs_one_and_stores_the_other_skipped(
        fakes: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Through the real CLI (the fake worker): `--workers 1,2` runs the one-rank cell, stores the two-rank
    cell as skipped with the launcher's reason, and the report labels it (w2) and shows the axis that
    varies (workers), not the one that does not (scenario)."""
    from bench.report.build import write_report

    _only_the_process_launcher(monkeypatch)
    out = fakes / "run"
    assert main(["all", "--models", "dcgan-mnist", "--frameworks", "torch", "--modes", "eager", "--devices",
                 "cpu", "--precisions", "fp32", "--variants", "default", "--workers", "1,2", "--no-report",
                 "--steps", "3", "--warmup", "1", "--window-steps", "2", "--repeats", "1", "--out",
                 str(out)]) == 0
    results = results_by_cell(out)
    one = next(r for r in results.values() if r.cell.workers == 1)
    two = next(r for r in results.values() if r.cell.workers == 2)
    assert one.status == "ok" and two.status == "skipped" and two.reason == launchers.skip_reason(two.cell)
    assert two.cell.cell_id == f"{one.cell.cell_id}__w2" and len(started(fakes)) == 1
    raw = json.loads(next((out / "cells" / two.cell.cell_id).glob("r*.json")).read_text(encoding="utf-8"))
    assert (raw["scenario"], raw["workers"], raw["schema"]) == ("train", 2, SCHEMA_VERSION)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["filters"]["workers"] == [1, 2]
    capsys.readouterr()
    write_report([out], fakes / "report")
    page = (fakes / "report" / "dcgan-mnist.md").read_text(encoding="utf-8")
    assert "eager cpu fp32 b64 w2" in page and "eager cpu fp32 b64 train" not in page
    header = next(line for line in page.splitlines() if line.startswith("| framework | mode |"))
    assert "| workers |" in header and "scenario" not in header  # every cell trains: no column


# --------------------------------------------------------------------------- stored runs


def _digest(run: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(run.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(run)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("version", sorted(OLD_RUNS))
def test_runs_of_older_schemas_load_as_train_with_one_worker(version: int) -> None:
    run = ROOT / "reports" / "runs" / OLD_RUNS[version]
    assert json.loads((run / "run.json").read_text(encoding="utf-8")).get("schema", 1) == version
    before = _digest(run)
    cells = load_run(run).cells
    assert set(cells["scenario"]) == {"train"} and set(cells["workers"]) == {1}
    assert _digest(run) == before  # migrated on load, never rewritten


def test_schema_4_result_migrates_and_new_results_store_both_axes() -> None:
    result = CellResult(cell=Cell(**BASE), status="ok").to_dict()
    assert result["schema"] == SCHEMA_VERSION and (result["scenario"], result["workers"]) == ("train", 1)
    old = {k: v for k, v in result.items() if k not in IMPLICIT_DEFAULTS} | {"schema": 4}
    new = migrate_cell(old)
    assert new == result and "scenario" not in old
    with pytest.raises(ValueError, match="'scenario' is not a field of a schema-4 cell result"):
        migrate_cell({**old, "scenario": "generate"})
    with pytest.raises(BenchError, match="workers must be at least 1"):
        schema.validate_cell_result({**result, "cell_id": f"{BASE_ID}__w0", "workers": 0}, "r1.json")


# --------------------------------------------------------------------------- labels


def test_an_implicit_axis_is_labelled_only_away_from_its_default() -> None:
    plain = Cell(**BASE).to_dict()
    other = Cell(**BASE, scenario="generate", workers=2).to_dict()
    assert cell_label(plain) == "dcgan-mnist PyTorch eager cpu fp32 b8"
    assert cell_label(other) == "dcgan-mnist PyTorch eager cpu fp32 b8 generate w2"
    assert group_label(plain) == "dcgan-mnist cpu fp32 b8"
    assert group_label(other) == "dcgan-mnist cpu fp32 b8 generate w2"
    # a column: shown as soon as one row is away from the default
    assert "workers" not in shown_axes(CELL_AXES, [plain, plain])
    assert "workers" in shown_axes(CELL_AXES, [plain, other])
