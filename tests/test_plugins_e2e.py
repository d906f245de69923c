"""A framework and a model family added from the tests directory alone (tests/plugins/fakeplug),
through the real CLI: probing, planning, the real worker in its own process, the store and the
report. Adding them touched no file in bench/ or models/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = Path(__file__).resolve().parent / "plugins"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMEBENCH_")}
    env["FRAMEBENCH_PLUGINS"] = "fakeplug"
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGINS), str(ROOT)])
    return env


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("plugin")
    run = work / "runs" / "toy"
    proc = _bench("all", "--models", "toy-ridge", "--frameworks", "numpy", "--out", str(run),
                  "--steps", "5", "--warmup", "1", "--window-steps", "3", "--repeats", "2", "--no-report",
                  cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reports = work / "reports"
    proc = _bench("report", "--runs", str(run), "--out", str(reports), cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return run, reports


def test_plugin_cells_are_planned_measured_and_stored(plugin_run: tuple[Path, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.frameworks import registry as fw_registry
    from bench.results.load import load_run
    from models import registry as model_registry

    # Stored names are checked against the registries on load (bench.results.schema), so this process loads
    # the
    # plugin too, as FRAMEBENCH_PLUGINS=fakeplug would; into copies of the registries, for this test only.
    fw_registry.frameworks(), model_registry.families()
    monkeypatch.setattr(fw_registry, "_REGISTRY", dict(fw_registry._REGISTRY))
    monkeypatch.setattr(model_registry, "_FAMILIES", dict(model_registry._FAMILIES))
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.delitem(sys.modules, "fakeplug", raising=False)
    import fakeplug  # noqa: F401 (registers its framework and family)

    run, _ = plugin_run
    data = load_run(run)
    # The CPU cell in two processes (one row each); the skipped CUDA cell has one row.
    assert sorted(data.cells.loc[data.cells["device"] == "cpu", "repeat"]) == [1, 2]
    cells = data.cells[data.cells["repeat"] == 2].set_index("device")
    assert set(data.cells["device"]) == {"cpu", "cuda"} and list(cells.index) == ["cpu"]
    cells = data.cells[(data.cells["repeat"] == 1)].set_index("device")
    assert cells.loc["cpu", "status"] == "ok"
    assert cells.loc["cuda", "status"] == "skipped"
    assert cells.loc["cpu", "framework"] == "numpy" and cells.loc["cpu", "model"] == "toy-ridge"
    assert cells.loc["cpu", "step_time_median_s"] > 0
    assert cells.loc["cpu", "flops_per_step"] == 4 * 32 * 16
    # The family's named losses, not a GAN's: the fit loss falls as the model trains.
    steps = data.steps[(data.steps["phase"] != "window") & (data.steps["repeat"] == 1)]
    assert {"losses.fit", "losses.penalty"} <= set(data.steps.columns)
    fit = steps["losses.fit"].to_numpy()
    assert len(fit) == 1 + 1 + 5 and fit[-1] < fit[0]
    first = data.steps[data.steps["repeat"] == 1]
    assert cells.loc["cpu", "final_losses.fit"] == pytest.approx(first["losses.fit"].iloc[-1])


def test_plugin_report_uses_the_registries_labels(plugin_run: tuple[Path, Path]) -> None:
    _, reports = plugin_run
    page = (reports / "toy-ridge.md").read_text()
    assert "NumPy" in page
    assert "Fit / Penalty" in page
    front = (reports / "README.md").read_text()
    assert "toy-ridge" in front
