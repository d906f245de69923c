"""Pinned peaks (bench.host.pinned_peak): a machine's roofline peak is the best of several probes, stored
with its fingerprint, reused by later runs, measured again on request (--reprobe-peak)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from orch_helpers import fakes  # noqa: F401 (fixture)

from bench.cli import main
from bench.host.pinned_peak import PeakPinning, best_of_probes, pinned_path, pinned_roofline
from bench.results.paths import roofline_path


def _probe(fp32: float, bf16: float | None = None, bw: float = 1e10) -> dict[str, Any]:
    mm = {"fp32": fp32, **({"bf16": bf16} if bf16 else {})}
    return {"device": "cpu", "framework": "torch", "peak_flops": fp32, "matmul_flops_by_precision": mm,
            "peak_flops_by_precision": dict(mm), "bandwidth_bytes_s": bw, "seconds": 1.0}


class Probes:
    """A measure() that answers the given probes in turn and counts its calls."""

    def __init__(self, *answers: dict[str, Any]) -> None:
        self.answers, self.calls = list(answers), 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return self.answers[(self.calls - 1) % len(self.answers)]


def test_best_of_probes_takes_each_precision_and_the_bandwidth_at_its_best() -> None:
    roof = best_of_probes("cpu", [_probe(300e9, 100e9, 2e10), _probe(330e9, 90e9, 1e10),
                                  _probe(250e9, 170e9)])
    assert roof["peak_flops"] == 330e9
    assert roof["matmul_flops_by_precision"] == {"fp32": 330e9, "bf16": 170e9}
    assert roof["peak_flops_by_precision"] == {"fp32": 330e9, "bf16": 330e9}  # mixed: never below fp32
    assert roof["bandwidth_bytes_s"] == 2e10 and "best of 3 probes" in roof["method"]
    failed = best_of_probes("cpu", [{"peak_flops": None, "error": "boom"}])
    assert failed["peak_flops"] is None and "boom" in failed["error"]


def test_peak_is_pinned_with_the_fingerprint_reused_and_reprobed_on_request(tmp_path: Path) -> None:
    pin = PeakPinning(tmp_path / "machines", "abcd1234abcd1234")
    first = Probes(_probe(300e9), _probe(331e9), _probe(268e9))
    roof = pinned_roofline("cpu", pin, first, now=lambda: "2026-01-01T00:00:00Z")
    assert first.calls == 3 and roof["peak_flops"] == 331e9  # the best of three probes
    assert roof["pinned"]["reused"] is False and roof["pinned"]["probes"] == 3
    path = pinned_path(pin.machines_dir, pin.fingerprint, "cpu")
    assert path == tmp_path / "machines" / "abcd1234abcd1234" / "roofline-cpu.json"
    stored = json.loads(path.read_text())
    assert stored["pinned"]["fingerprint"] == pin.fingerprint and stored["peak_flops"] == 331e9
    assert "reused" not in stored["pinned"]
    assert [p["peak_flops"] for p in stored["pinned"]["each_probe"]] == [300e9, 331e9, 268e9]

    # A later run on the same machine reuses it: no probe, the same figure (not a new draw of luck).
    later = Probes(_probe(200e9))
    again = pinned_roofline("cpu", pin, later)
    assert later.calls == 0 and again["peak_flops"] == 331e9 and again["pinned"]["reused"] is True

    # Re-probed on request: measured again, and the file replaced.
    reprobe = Probes(_probe(280e9))
    again_pin = PeakPinning(pin.machines_dir, pin.fingerprint, reprobe=True, probes=2)
    new = pinned_roofline("cpu", again_pin, reprobe)
    assert reprobe.calls == 2 and new["peak_flops"] == 280e9 and new["pinned"]["reused"] is False
    assert json.loads(path.read_text())["peak_flops"] == 280e9

    # Another machine, or another TF32 setting, has its own file.
    other = Probes(_probe(100e9))
    assert pinned_roofline("cpu", PeakPinning(pin.machines_dir, "ffff0000ffff0000", probes=1),
                           other)["peak_flops"] == 100e9
    assert pinned_path(pin.machines_dir, pin.fingerprint, "cuda", tf32=True).name == "roofline-cuda-tf32.json"


@pytest.mark.parametrize("content", ["{not json", '{"device": "cpu", "peak_flops": "lots"}',
                                     '{"device": "cpu", "peak_flops": 5.0, '
                                     '"pinned": {"fingerprint": "other"}}',
                                     '{"device": "cpu", "peak_flops": 5.0}'])
def test_an_untrusted_pinned_file_is_probed_again_not_a_crash(tmp_path: Path, content: str) -> None:
    pin = PeakPinning(tmp_path, "abcd1234abcd1234", probes=1)
    path = pinned_path(tmp_path, pin.fingerprint, "cpu")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    probes = Probes(_probe(300e9))
    assert pinned_roofline("cpu", pin, probes)["peak_flops"] == 300e9 and probes.calls == 1
    assert json.loads(path.read_text())["pinned"]["fingerprint"] == pin.fingerprint


def test_a_failed_probe_is_not_pinned(tmp_path: Path) -> None:
    pin = PeakPinning(tmp_path, "abcd1234abcd1234", probes=2)
    roof = pinned_roofline("cpu", pin, Probes({"peak_flops": None, "error": "no source"}))
    assert roof["peak_flops"] is None and not pinned_path(tmp_path, pin.fingerprint, "cpu").exists()


RUN = ["all", "--models", "dcgan-mnist", "--frameworks", "torch", "--devices", "cpu", "--precisions", "fp32",
       "--modes", "eager", "--no-report", "--steps", "2", "--warmup", "0", "--window-steps", "1",
       "--repeats", "1"]


def _rooflines(root: Path) -> list[dict[str, Any]]:
    runs = sorted((root / "reports" / "runs").iterdir())
    return [json.loads(roofline_path(r, "cpu").read_text()) for r in runs]


def test_runs_reuse_the_pinned_peak_and_record_the_one_they_used(fakes: Path,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    log = fakes / "roofline.log"
    monkeypatch.setenv("ORCH_FAKE_ROOFLINE_LOG", str(log))
    assert main(RUN) == 0
    probes_first = len(log.read_text().splitlines())
    assert probes_first == 3 * 2  # three probes, each of torch and numpy
    pinned = list((fakes / "reports" / "machines").glob("*/roofline-cpu.json"))
    assert len(pinned) == 1
    assert main(RUN) == 0
    assert len(log.read_text().splitlines()) == probes_first  # the second run probed nothing
    assert main([*RUN, "--reprobe-peak"]) == 0
    assert len(log.read_text().splitlines()) == 2 * probes_first
    first, second, third = _rooflines(fakes)
    fingerprint = pinned[0].parent.name
    assert [r["pinned"]["reused"] for r in (first, second, third)] == [False, True, False]
    assert all(r["pinned"]["fingerprint"] == fingerprint and r["peak_flops"] == 1.0e12
               for r in (first, second, third))


def test_a_run_with_out_writes_nothing_outside_it(fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    log = fakes / "roofline.log"
    monkeypatch.setenv("ORCH_FAKE_ROOFLINE_LOG", str(log))
    assert main([*RUN, "--out", str(fakes / "mine")]) == 0
    assert not (fakes / "reports").exists() and len(log.read_text().splitlines()) == 2  # one probe
    assert "pinned" not in json.loads(roofline_path(fakes / "mine", "cpu").read_text())
    # --peaks-dir pins even then.
    assert main([*RUN, "--out", str(fakes / "mine2"), "--peaks-dir", str(fakes / "peaks")]) == 0
    assert list((fakes / "peaks").glob("*/roofline-cpu.json"))
    assert main([*RUN, "--out", str(fakes / "x"), "--peaks-dir", str(log)]) == 2  # a file: one line, exit 2
