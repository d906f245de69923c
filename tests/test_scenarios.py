"""The scenario axis: the registry, the ``Scenario`` interface, the families' per-scenario hooks, and a
scenario added from tests/ alone (tests/plugins/fakescenario: "predict" on the fake NumPy framework)
run by the real ``python -m bench.worker.main``. No framework import; the workers take a second each."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from worker_helpers import ROOT, TINY, write_spec

from bench.errors import UnknownChoice
from bench.results.records import Cell
from bench.scenarios import describe, get_scenario, scenario_names, skip_reason
from bench.scenarios.base import Scenario, StepScenario
from models.family import TrainHooks
from models.registry import families

PLUGINS = Path(__file__).resolve().parent / "plugins"


def _run_worker(spec_path: Path, plugins: str) -> tuple[dict, list[dict]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMEBENCH_")}
    env.update(FRAMEBENCH_PLUGINS=plugins, PYTHONPATH=os.pathsep.join([str(PLUGINS), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-m", "bench.worker.main", str(spec_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    spec = json.loads(spec_path.read_text())
    result = json.loads(Path(spec["result_path"]).read_text())
    steps = Path(spec["steps_path"])
    rows = [json.loads(line) for line in steps.read_text().splitlines()] if steps.exists() else []
    return result, rows


def _toy(scenario: str, model: str = "toy-ridge") -> Cell:
    return Cell(model=model, framework="numpy", mode="eager", device="cpu", scenario=scenario)


def test_train_is_the_registered_step_scenario_with_its_declared_shape() -> None:
    assert scenario_names()[0] == "train"
    train = get_scenario("train")
    assert isinstance(train, StepScenario) and isinstance(train, Scenario) and train.name == "train"
    assert train.phases == ("first", "warmup", "timed", "window")
    assert {"step_time_median_s", "throughput_img_s", "flops_per_step", "final_losses"} <= set(train.metrics)
    assert describe("train") == train.description != ""
    with pytest.raises(UnknownChoice, match="unknown scenario 'predikt'"):
        get_scenario("predikt")
    assert describe("predikt") == "predikt"  # a stored name this process does not know


def test_every_family_declares_train_with_its_losses_and_flops() -> None:
    for family in families():
        assert next(iter(family.scenarios)) == "train"
        hooks = family.scenarios["train"]
        assert hooks == TrainHooks(losses=tuple(family.losses), step_flops=family.train_step_flops)
        spec = next(iter(family.specs.values()))
        assert get_scenario("train").flops(family, spec, 2) == float(family.train_step_flops(spec, 2))
    family = families()[0]
    with pytest.raises(ValueError, match="train's hooks are its losses"):
        dataclasses.replace(family, scenario_hooks={"train": object()})
    extended = dataclasses.replace(family, scenario_hooks={"predict": object()})
    assert tuple(extended.scenarios) == ("train", "predict")


def test_a_scenario_the_family_lacks_is_a_skip_and_unsupported_hooks_fail() -> None:
    cell = _toy("predict", model="some-model")
    assert skip_reason(cell, ("train",)) == "model some-model has no predict scenario"
    assert skip_reason(cell, ("train", "predict")) is None
    assert skip_reason(_toy("train")) is None

    class Nothing(StepScenario):
        name = "nothing"

        def flops(self, family, model, batch):
            return None

        def wrap(self, backend, family):
            pass

        def value_names(self, family):
            return ()

    with pytest.raises(ValueError, match="has no nothing scenario"):
        Nothing().hooks(families()[0])


def test_the_plugin_scenario_runs_in_the_real_worker(tmp_path: Path) -> None:
    cell = _toy("predict")
    assert cell.cell_id.endswith("__default__predict")
    result, rows = _run_worker(write_spec(tmp_path, cell), "fakescenario")
    assert (result["status"], result["reason"]) == ("ok", None)
    assert result["scenario"] == "predict"
    # The shared loop's phases and timing, the scenario's values and FLOPs (one matvec per call).
    assert [r["phase"] for r in rows] == ["first"] + ["warmup"] * TINY.warmup + ["timed"] * TINY.steps \
        + ["window"] * TINY.window_steps
    assert all(list(r["losses"]) == ["mean", "error"] for r in rows)
    assert result["flops_per_step"] == 2 * 32 * 16 and result["step_time_median_s"] > 0
    assert result["throughput_img_s"] > 0 and result["flags"]["throughput_source"] == "window"
    # Inference does not train: the weights stay at zero, so every prediction is 0.
    assert {r["losses"]["mean"] for r in rows} == {0.0}
    assert result["final_losses"] == rows[-1]["losses"]


def test_the_same_family_still_trains_with_the_plugin_loaded(tmp_path: Path) -> None:
    result, rows = _run_worker(write_spec(tmp_path, _toy("train")), "fakescenario")
    assert result["status"] == "ok" and "scenario" in result and result["scenario"] == "train"
    assert all(list(r["losses"]) == ["fit", "penalty"] for r in rows)
    assert result["flops_per_step"] == 4 * 32 * 16


def test_the_worker_skips_a_scenario_the_family_does_not_declare(tmp_path: Path) -> None:
    # fakeplug alone: the toy family without its predict hooks, the scenario registered by nobody.
    result, rows = _run_worker(write_spec(tmp_path, _toy("predict")), "fakeplug")
    assert result["status"] == "failed" and "unknown scenario 'predict'" in result["reason"]
    assert rows == []
    # The scenario registered, a family that does not declare it: skipped before any framework import.
    cell = Cell(model="dcgan-mnist", framework="numpy", mode="eager", device="cpu", scenario="predict")
    result, rows = _run_worker(write_spec(tmp_path, cell), "fakescenario")
    assert (result["status"], result["reason"]) == ("skipped", "model dcgan-mnist has no predict scenario")
    assert rows == [] and result["rss_after_import_bytes"] is None
