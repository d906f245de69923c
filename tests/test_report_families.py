"""Reports on frameworks and model families the harness does not ship: three frameworks compared in
every pair, a registered fake framework's label, colour and modes, a fake family's loss names, and
stored data naming a framework or model that is not registered (refused on load: bench.results.schema)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from report_fixtures import FixtureCell, write_run

from bench.analysis.parity import loss_parity
from bench.analysis.tables import comparison_frame
from bench.errors import BenchError
from bench.frameworks import registry as fw_registry
from bench.frameworks.descriptor import FrameworkDescriptor, Mode, Variant
from bench.labels import NEUTRAL_COLOUR, framework_colour, framework_label
from bench.report.build import write_report
from bench.report.pytest_benchmark import export_run
from bench.results.load import load_run, load_runs
from models import registry as model_registry
from models.family import ModelFamily

FAKE_FW = FrameworkDescriptor(
    name="fakefw",
    label="FakeFW",
    colour="#123456",
    package="tests.no_such_package",
    modes=(Mode("base"), Mode("jit", compiles=True)),
    variants=(Variant("default"),),
)
FAKE_FAMILY = ModelFamily(
    name="fakefam",
    specs={"fake-model": SimpleNamespace(name="fake-model", batch_size=8)},
    losses=("recon", "kl", "total"),
    loss_labels={"recon": "Recon", "kl": "KL", "total": "Total"},
    make_inputs=lambda spec, batch, n, seed, data: (),
    train_step_flops=lambda spec, batch: 0,
    implementations={},
)
UNKNOWN_FW = "thirdfw"  # no label or colour of its own: the reports fall back to its name
THIRD_FW = FrameworkDescriptor(name=UNKNOWN_FW, label=UNKNOWN_FW, colour=NEUTRAL_COLOUR,
                               package="tests.no_such_package", modes=(Mode("eager"),),
                               variants=(Variant("default"),))


@pytest.fixture
def fake_framework(monkeypatch: pytest.MonkeyPatch) -> FrameworkDescriptor:
    fw_registry.frameworks()  # the built-ins first, so that the fake one comes last
    monkeypatch.setitem(fw_registry._REGISTRY, FAKE_FW.name, FAKE_FW)
    return FAKE_FW


@pytest.fixture
def fake_family(monkeypatch: pytest.MonkeyPatch) -> ModelFamily:
    model_registry.families()
    monkeypatch.setitem(model_registry._FAMILIES, FAKE_FAMILY.name, FAKE_FAMILY)
    return FAKE_FAMILY


def _rows(md: str, first_header: str) -> list[dict[str, str]]:
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split(" | ")]
    out = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        out.append(dict(zip(header, [c.strip() for c in line.strip().strip("|").split(" | ")], strict=True)))
    return out


def _three_frameworks(offset: float = 0.0) -> list[FixtureCell]:
    return [
        FixtureCell(framework="tensorflow", mode="eager", median_s=0.020),
        FixtureCell(framework="torch", mode="eager", median_s=0.015, loss_offset=0.01),
        FixtureCell(framework="torch", mode="compile", median_s=0.010, loss_offset=0.01),
        FixtureCell(framework=UNKNOWN_FW, mode="eager", median_s=0.012, loss_offset=offset),
    ]


def test_parity_compares_every_pair_of_three_frameworks(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fw_registry.frameworks()  # stored frameworks must be registered (bench.results.schema)
    monkeypatch.setitem(fw_registry._REGISTRY, UNKNOWN_FW, THIRD_FW)
    run = write_run(tmp_path / "run", _three_frameworks(offset=0.5))
    runs = load_runs([run])
    pairs = [tuple(p.cells) for p in loss_parity(runs, comparison_frame(runs))]
    assert pairs == [("tensorflow", "torch"), ("tensorflow", UNKNOWN_FW), ("torch", UNKNOWN_FW)]

    write_report([run], tmp_path / "out")
    page = (tmp_path / "out" / "dcgan-mnist.md").read_text(encoding="utf-8")
    rows = {r["compared"]: r for r in _rows(page, "compared")}
    assert set(rows) == {
        "TensorFlow eager vs PyTorch eager",
        f"TensorFlow eager vs {UNKNOWN_FW} eager",
        f"PyTorch eager vs {UNKNOWN_FW} eager",
    }
    assert rows["TensorFlow eager vs PyTorch eager"]["verdict"] == "ok"
    assert rows[f"PyTorch eager vs {UNKNOWN_FW} eager"]["verdict"].startswith("DIVERGE")
    assert "TensorFlow, PyTorch and thirdfw start from identical initial weights" in page
    # one figure per pair, the pair in its name since the group has several
    for pair in ("tensorflow-vs-torch", f"tensorflow-vs-{UNKNOWN_FW}", f"torch-vs-{UNKNOWN_FW}"):
        fig = f"figures/dcgan-mnist__parity__cpu__fp32__b8__{pair}.png"
        assert f"({fig})" in page and (tmp_path / "out" / fig).stat().st_size > 1000
    front = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    head = _rows(front, "model")[0]
    assert head[f"default {UNKNOWN_FW}"].startswith("eager: ")
    # TensorFlow's declared default (function) did not run: the comparison is thirdfw's and torch's
    # default cells, one process each (no interval)
    assert head["default TensorFlow"] == "–"
    faster = head["default: faster"]
    assert faster.startswith(f"inconclusive (n = 1): {UNKNOWN_FW} ") and faster.endswith("(1 process)")
    assert f"Loss curves diverge — dcgan-mnist cpu fp32 b8: PyTorch eager vs {UNKNOWN_FW} eager" in front


def test_unknown_framework_falls_back_to_its_name_and_a_neutral_colour() -> None:
    assert framework_label(UNKNOWN_FW) == UNKNOWN_FW
    assert framework_colour(UNKNOWN_FW) == NEUTRAL_COLOUR
    assert framework_label("torch") != "torch" and framework_colour("torch") != NEUTRAL_COLOUR


def test_registered_fake_framework_label_colour_and_modes(tmp_path: Path, fake_framework) -> None:
    assert framework_colour("fakefw") == "#123456"
    run = write_run(
        tmp_path / "run",
        [
            FixtureCell(framework="fakefw", mode="jit", median_s=0.010, first_step_s=5.0),
            FixtureCell(framework="fakefw", mode="base", median_s=0.020, first_step_s=0.5),
            FixtureCell(framework="torch", mode="eager", median_s=0.015),
        ],
    )
    write_report([run], tmp_path / "out")
    rows = _rows((tmp_path / "out" / "dcgan-mnist.md").read_text(encoding="utf-8"), "framework")
    # registry order (built-ins first), then the descriptor's mode order: its first mode is the baseline
    order = [(r["framework"], r["mode"]) for r in rows]
    assert order == [("PyTorch", "eager"), ("FakeFW", "base"), ("FakeFW", "jit")]
    med = {
        c["mode"]: c["step_time_median_s"]
        for c in (json.loads(f.read_text(encoding="utf-8")) for f in (run / "cells").glob("*fakefw*/r*.json"))
    }
    assert rows[2]["speed-up vs eager [95% CI]"] == f"{med['base'] / med['jit']:.2f}× (1 process)"
    front = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    head = _rows(front, "model")[0]
    # a framework that declares no default mode trains in its baseline (first) mode by default
    assert head["default FakeFW"].startswith("base: ") and head["tuned FakeFW"].startswith("jit: ")
    assert "FakeFW jit: first step 5.00 s, steady state after 5.00 s (eager: 0.500 s" in head["compile cost"]
    assert "FakeFW" in _rows(front, "run")[0]  # a version column per framework
    page = (tmp_path / "out" / "dcgan-mnist.md").read_text(encoding="utf-8")
    assert _rows(page, "compared")[0]["compared"] == "PyTorch eager vs FakeFW base"


def test_fake_family_loss_names_in_pages_figures_and_export(tmp_path: Path, fake_family) -> None:
    names = fake_family.losses
    run = write_run(
        tmp_path / "run",
        [
            FixtureCell(model="fake-model", framework="tensorflow", loss_names=names),
            FixtureCell(model="fake-model", framework="torch", loss_names=names, loss_offset=0.01),
        ],
    )
    write_report([run], tmp_path / "out")
    page = (tmp_path / "out" / "fake-model.md").read_text(encoding="utf-8")
    assert "final Recon / KL / Total loss" in _rows_header(page, "framework")
    assert "Loss: Recon / KL / Total loss after the last step of the first ok process." in page
    parity = _rows(page, "compared")[0]
    assert {"Recon difference", "KL difference", "Total difference"} <= set(parity)
    # no parity note of its own: the generic sentence
    assert "TensorFlow and PyTorch start from identical initial weights and see identical batches, so" in page
    assert (tmp_path / "out" / "figures" / "fake-model__parity__cpu__fp32__b8.png").stat().st_size > 1000
    finals = _rows(page, "framework")[0]["final Recon / KL / Total loss"].split(" / ")
    assert len(finals) == 3 and all(float(x) > 0 for x in finals)

    extra = export_run(load_run(run))["benchmarks"][0]["extra_info"]
    stored = json.loads(next((run / "cells").glob("*tensorflow*/r*.json")).read_text(encoding="utf-8"))
    for n in names:
        assert extra[f"final_{n}_loss"] == pytest.approx(stored["final_losses"][n])


def test_unregistered_model_or_framework_in_stored_data_is_refused(tmp_path: Path) -> None:
    # A stored name is a name of the vocabulary: a run naming an unknown model or framework is corrupt
    # (or needs its plugin: FRAMEBENCH_PLUGINS), not reported under that name.
    for cell, what in ((FixtureCell(model="mystery", framework="torch"), "model: unknown model 'mystery'"),
                       (FixtureCell(framework=UNKNOWN_FW), f"framework: unknown framework '{UNKNOWN_FW}'")):
        run = write_run(tmp_path / cell.framework / cell.model, [cell])
        with pytest.raises(BenchError, match=what):
            load_run(run)


def _rows_header(md: str, first_header: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(f"| {first_header} |"))
