"""What the report discloses beside its numbers: the bf16 scope of each framework, the device peak
behind fraction of peak (pinned or measured by the run), and what the figures' error bars span."""

from __future__ import annotations

import json
from pathlib import Path

from report_fixtures import FixtureCell, write_run

from bench.report.build import write_report
from bench.report.pages.figures import THROUGHPUT_ERROR_BARS
from bench.report.pages.model import BF16_DIFFERENT, PARITY_FIGURE_CAPTION, THROUGHPUT_CAPTION
from bench.results.paths import roofline_path


def _cells(bf16: bool) -> list[FixtureCell]:
    cells = [FixtureCell(framework="tensorflow", mode="eager", median_s=0.020, first_step_s=0.8),
             FixtureCell(framework="torch", mode="eager", median_s=0.015, first_step_s=0.3)]
    if bf16:
        cells += [FixtureCell(framework="tensorflow", mode="function", precision="bf16", median_s=0.008),
                  FixtureCell(framework="torch", mode="eager", precision="bf16", median_s=0.009)]
    return cells


def test_bf16_scope_is_disclosed_beside_bf16_cells_only(tmp_path: Path) -> None:
    write_report([write_run(tmp_path / "a", _cells(bf16=True), repeats=3, between_cv=0.02)], tmp_path / "o1")
    page = (tmp_path / "o1" / "dcgan-mnist.md").read_text(encoding="utf-8")
    assert "## bf16 scope" in page and BF16_DIFFERENT in page
    assert "| **batch norm** | **fp32** | **bf16** |" in page  # Keras BN in float32, torch's in bf16
    assert "| convolution | bf16 | bf16 |" in page
    write_report([write_run(tmp_path / "b", _cells(bf16=False))], tmp_path / "o2")
    assert "## bf16 scope" not in (tmp_path / "o2" / "dcgan-mnist.md").read_text(encoding="utf-8")


def test_figures_say_what_their_error_bars_span(tmp_path: Path) -> None:
    write_report([write_run(tmp_path / "a", _cells(bf16=False), repeats=3, between_cv=0.02)], tmp_path / "o")
    page = (tmp_path / "o" / "dcgan-mnist.md").read_text(encoding="utf-8")
    assert THROUGHPUT_CAPTION in page and PARITY_FIGURE_CAPTION in page
    assert "slowest to the fastest process" in THROUGHPUT_CAPTION
    assert "slowest to fastest" in THROUGHPUT_ERROR_BARS


def test_front_page_prints_the_peak_and_whether_it_was_pinned(tmp_path: Path) -> None:
    run = write_run(tmp_path / "a", _cells(bf16=False))
    roof = {"device": "cpu", "peak_flops": 3.3e11, "peak_flops_by_precision": {"fp32": 3.3e11},
            "pinned": {"fingerprint": "abcd1234abcd1234", "probes": 3, "probed_at": "2026-11-25T04:00:00Z",
                       "reused": True}}
    roofline_path(run, "cpu").write_text(json.dumps(roof))
    write_report([run], tmp_path / "o")
    front = (tmp_path / "o" / "README.md").read_text(encoding="utf-8")
    assert "CPU peak, GFLOP/s: fp32 330.0; pinned for machine `abcd1234abcd1234`: best of 3 probes on " \
           "2026-11-25, read from the machine's pinned file" in front
    del roof["pinned"]
    roofline_path(run, "cpu").write_text(json.dumps(roof))
    write_report([run], tmp_path / "o2")
    assert "measured by this run alone" in (tmp_path / "o2" / "README.md").read_text(encoding="utf-8")
