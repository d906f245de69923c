"""A scenario added from the tests directory alone (tests/plugins/fakescenario: "predict", the toy
model's inference call on the fake NumPy framework of tests/plugins/fakeplug), through the real CLI:
planning with ``--scenarios``, the real worker in its own process, the store and the report. Adding it
touched no file in bench/ or models/. (tests/test_scenarios.py runs the same scenario in the real
worker directly.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"


def _has_scenarios_option() -> bool:
    from bench.commands import build_parser

    _, unknown = build_parser().parse_known_args(["all", "--scenarios", "train"])
    return not unknown


pytestmark = pytest.mark.skipif(not _has_scenarios_option(),
                                reason="`bench all --scenarios` is not on this branch yet (issue 19's axes "
                                       "part adds it); tests/test_scenarios.py covers the worker level")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMEBENCH_")}
    env["FRAMEBENCH_PLUGINS"] = "fakescenario"
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGINS), str(ROOT)])
    return env


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def predict_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("scenario-plugin")
    run = work / "runs" / "predict"
    proc = _bench("all", "--scenarios", "predict", "--models", "toy-ridge", "--frameworks", "numpy",
                  "--out", str(run), "--steps", "5", "--warmup", "1", "--window-steps", "3", "--repeats", "2",
                  "--no-report", cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = work / "reports"
    proc = _bench("report", "--runs", str(run), "--out", str(reports), cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return run, reports


def test_predict_cells_are_planned_measured_and_stored(predict_run: tuple[Path, Path],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.scenarios as scenario_registry
    from bench.frameworks import registry as fw_registry
    from bench.results.load import load_run
    from models import registry as model_registry

    # Stored names are checked against the registries on load, so this process loads the plugin too, as
    # FRAMEBENCH_PLUGINS=fakescenario would; into copies of the registries, for this test only.
    fw_registry.frameworks(), model_registry.families()
    monkeypatch.setattr(fw_registry, "_REGISTRY", dict(fw_registry._REGISTRY))
    monkeypatch.setattr(model_registry, "_FAMILIES", dict(model_registry._FAMILIES))
    monkeypatch.setattr(scenario_registry._REGISTRY, "modules", dict(scenario_registry._REGISTRY.modules))
    monkeypatch.syspath_prepend(str(PLUGINS))
    for name in ("fakeplug", "fakeplug.toy", "fakescenario", "fakescenario.predict"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import fakescenario  # noqa: F401 (registers the framework, the family and the scenario)

    run, _ = predict_run
    data = load_run(run)
    assert set(data.cells["scenario"]) == {"predict"}
    assert sorted(data.cells.loc[data.cells["device"] == "cpu", "repeat"]) == [1, 2]
    cells = data.cells[data.cells["repeat"] == 1].set_index("device")
    assert cells.loc["cpu", "status"] == "ok" and cells.loc["cuda", "status"] == "skipped"
    assert cells.loc["cpu", "cell_id"].endswith("__predict")
    assert cells.loc["cpu", "step_time_median_s"] > 0
    assert cells.loc["cpu", "flops_per_step"] == 2 * 32 * 16  # the scenario's FLOPs, not the train step's
    # The scenario's values per call, not the family's losses: inference leaves the weights at zero.
    assert {"losses.mean", "losses.error"} <= set(data.steps.columns)
    assert "losses.fit" not in data.steps.columns
    assert set(data.steps["losses.mean"]) == {0.0}


def test_the_report_says_what_the_scenario_measures(predict_run: tuple[Path, Path]) -> None:
    _, reports = predict_run
    page = (reports / "toy-ridge.md").read_text()
    assert "Scenarios besides the training step: **predict**: the model's inference call" in page
    assert "NumPy" in page and "toy-ridge" in (reports / "README.md").read_text()
