"""The regression gate and baselines, on fixture runs (no framework is run)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from report_fixtures import (
    ENVIRONMENT,
    cell_id,
    corrupt_json,
    gate_markdown,
    read_json,
    standard_cells,
    table_row,
    write_run,
)

from bench.cli import main as cli_main
from bench.gate import DEFAULTS, compare_cell, load_config, step_time_check, throughput_check
from bench.gate.baseline import load_baseline, save_baseline
from bench.host.machine import machine_fingerprint

COMPILE = cell_id(mode="compile")
EAGER = cell_id()


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A baseline file saved from fixture run A."""
    run = write_run(tmp_path / "runs" / "A", standard_cells(salt=0))
    return save_baseline(run, "base", tmp_path / "baselines")




def test_baseline_file_holds_summaries_samples_and_fingerprint(base: Path) -> None:
    data = read_json(base)
    assert data["kind"] == "framebench-baseline" and data["fingerprint"] == machine_fingerprint(ENVIRONMENT)
    assert data["schema"] == 2 and len(data["runs"]) == 1
    c = data["runs"][0]["cells"][COMPILE]
    assert c["status"] == "ok" and len(c["samples_s"]) == 30
    assert c["step_time_median_s"] == pytest.approx(sorted(c["samples_s"])[14:16][0], rel=0.05)
    assert data["runs"][0]["cells"][cell_id(framework="tensorflow", mode="xla")]["status"] == "failed"
    assert base.stat().st_size < 60_000  # small enough to commit


def test_a_a_passes(tmp_path: Path, base: Path) -> None:
    run_b = write_run(tmp_path / "runs" / "B", standard_cells(salt=1))
    code, md = gate_markdown(tmp_path, base, run_b)
    assert code == 0, md
    assert md.startswith("# Performance gate: PASS")
    assert "**0 regression(s)**" in md


def test_injected_20_percent_slowdown_fails_and_names_the_cell(tmp_path: Path, base: Path, capsys) -> None:
    slow = write_run(tmp_path / "runs" / "S", standard_cells(salt=1, scale={COMPILE: 1.2}))
    code, md = gate_markdown(tmp_path, base, slow)
    assert code == 1
    row = table_row(md, COMPILE)
    assert "FAIL: step time +" in row and "apart" in row and "; throughput -1" in row
    assert table_row(md, EAGER).endswith("| PASS |")
    assert f"gate: FAIL — 1 regression(s): {COMPILE}" in capsys.readouterr().out


def test_5_percent_change_under_noise_passes(tmp_path: Path, base: Path) -> None:
    run = write_run(tmp_path / "runs" / "C", standard_cells(salt=1, scale={COMPILE: 1.05, EAGER: 0.95}))
    code, md = gate_markdown(tmp_path, base, run)
    assert code == 0, md


def test_step_time_above_threshold_but_within_noise_passes() -> None:
    cfg = dict(DEFAULTS)
    # Two noisy samples sets whose medians differ by ~15% but overlap heavily.
    base = {"samples_s": [1.0, 1.6, 0.7, 1.3, 0.9, 1.5, 0.8, 1.2], "status": "ok"}
    new = {"samples_s": [1.15, 1.8, 0.8, 1.5, 1.05, 1.7, 0.95, 1.4], "status": "ok"}
    check, p, overlap = step_time_check(base, new, cfg)
    assert check.change > cfg["step_time"]
    assert p > cfg["alpha"] and overlap
    assert not check.failed and check.note == "above threshold but within noise"
    # the same shift with tight samples is a regression
    tight_b = {"samples_s": [1.0 + 0.001 * i for i in range(20)], "status": "ok"}
    tight_n = {"samples_s": [1.15 + 0.001 * i for i in range(20)], "status": "ok"}
    check, p, overlap = step_time_check(tight_b, tight_n, cfg)
    assert check.failed and p < 0.01 and not overlap


def test_throughput_drop_judged_against_window_noise() -> None:
    cfg = dict(DEFAULTS)

    def cell(thr: float, cv: float) -> dict:
        return {"throughput_img_s": thr, "window_steps": 4, "step_time_cv": cv, "samples_s": []}

    # -15% with a 40% per-step CV over a 4-step window: sigma ~28%, well within noise
    noisy = throughput_check(cell(100.0, 0.4), cell(85.0, 0.4), cfg)
    assert not noisy.failed and noisy.note == "above threshold but within noise"
    # the same drop with a 1% per-step CV is far beyond noise
    quiet = throughput_check(cell(100.0, 0.01), cell(85.0, 0.01), cfg)
    assert quiet.failed and quiet.noise is not None and quiet.noise < 0.01
    # under the threshold: never a failure, whatever the noise
    assert not throughput_check(cell(100.0, 0.0), cell(95.0, 0.0), cfg).failed
    # no spread known: threshold alone
    bare = throughput_check({"throughput_img_s": 100.0}, {"throughput_img_s": 85.0}, cfg)
    assert bare.failed and "threshold alone" in bare.note


def test_few_samples_fall_back_to_threshold() -> None:
    check, p, _ = step_time_check(
        {"samples_s": [1.0, 1.0, 1.0]}, {"samples_s": [1.2, 1.2, 1.2]}, dict(DEFAULTS)
    )
    assert p is None and check.failed and "threshold alone" in check.note


@pytest.mark.parametrize(
    ("field", "factor", "fails"),
    [
        ("peak_rss_bytes", 1.15, True),
        ("peak_rss_bytes", 1.05, False),
        ("first_step_s", 1.55, True),  # compile 20 s -> 31 s
        ("first_step_s", 1.40, False),
    ],
)
def test_memory_and_compile_thresholds(
    tmp_path: Path, base: Path, field: str, factor: float, fails: bool
) -> None:
    orig = next(fc for fc in standard_cells() if fc.cell.cell_id == COMPILE)
    run = write_run(
        tmp_path / "runs" / "M",
        standard_cells(
            salt=1,
            overrides={
                COMPILE: {
                    field: int(getattr(orig, field) * factor)
                    if field.endswith("bytes")
                    else getattr(orig, field) * factor
                }
            },
        ),
    )
    code, md = gate_markdown(tmp_path, base, run)
    assert code == (1 if fails else 0), md
    if fails:
        expected = "peak host memory +15" if field == "peak_rss_bytes" else "time to first step +55%"
        assert expected in table_row(md, COMPILE)


def test_compile_time_floor_ignores_small_first_steps(tmp_path: Path, base: Path) -> None:
    # eager's first step 0.3 s -> 0.6 s is +100% but only +0.3 s: below the 0.5 s floor
    run = write_run(tmp_path / "runs" / "F", standard_cells(salt=1, overrides={EAGER: {"first_step_s": 0.6}}))
    code, md = gate_markdown(tmp_path, base, run)
    assert code == 0, md
    assert "+100.0%" in table_row(md, EAGER)


def test_thresholds_from_command_line_and_pyproject(tmp_path: Path, base: Path, monkeypatch) -> None:
    orig = next(fc for fc in standard_cells() if fc.cell.cell_id == COMPILE)
    run = write_run(
        tmp_path / "runs" / "M",
        standard_cells(salt=1, overrides={COMPILE: {"peak_rss_bytes": int(orig.peak_rss_bytes * 1.15)}}),
    )
    monkeypatch.chdir(tmp_path)  # no pyproject.toml here or above? use an explicit one below
    (tmp_path / "pyproject.toml").write_text("[tool.framebench.gate]\nmemory = 0.20\n", encoding="utf-8")
    assert load_config()["memory"] == 0.20
    assert gate_markdown(tmp_path, base, run)[0] == 0  # 15% < 20% from pyproject
    assert gate_markdown(tmp_path, base, run, "--memory", "10%")[0] == 1  # the command line wins
    (tmp_path / "pyproject.toml").write_text("[tool.framebench.gate]\nmemroy = 0.2\n", encoding="utf-8")
    code, _ = gate_markdown(tmp_path, base, run)
    assert code == 2


def test_fingerprint_mismatch_refused_unless_forced(tmp_path: Path, base: Path, capsys) -> None:
    env = copy.deepcopy(ENVIRONMENT)
    env["cpu"]["model"] = "Other CPU"
    env["gpu"]["gpus"][0]["name"] = "Other GPU"
    other = write_run(tmp_path / "runs" / "O", standard_cells(salt=1), env=env)
    code, _ = gate_markdown(tmp_path, base, other)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: ") and "--force" in err and "Other CPU" in err and "Test CPU" in err
    assert "machine cpu_model" in err and "machine gpus" in err
    code, md = gate_markdown(tmp_path, base, other, "--force")
    assert code == 0 and "compared despite machine cpu_model" in md


def test_fingerprint_computed_when_environment_lacks_it() -> None:
    env = {k: v for k, v in ENVIRONMENT.items() if k != "fingerprint"}
    fp = machine_fingerprint(env)
    assert len(fp) == 16 and fp != "unknown"
    env2 = copy.deepcopy(env)
    env2["gpu"]["gpus"][0]["name"] = "Another GPU"
    assert machine_fingerprint(env2) != fp
    assert machine_fingerprint({}) == "unknown"


def test_ok_to_failed_fails_the_gate(tmp_path: Path, base: Path) -> None:
    run = write_run(
        tmp_path / "runs" / "X",
        standard_cells(salt=1, overrides={EAGER: {"status": "oom", "reason": "CUDA out of memory"}}),
    )
    code, md = gate_markdown(tmp_path, base, run)
    assert code == 1
    assert "FAIL: was ok, now oom: CUDA out of memory" in table_row(md, EAGER)


def test_missing_and_skipped_cells_warn_or_fail(tmp_path: Path, base: Path) -> None:
    cells = [
        fc
        for fc in standard_cells(
            salt=1, overrides={EAGER: {"status": "skipped", "reason": "torch not installed"}}
        )
        if fc.cell.cell_id != COMPILE
    ]
    run = write_run(tmp_path / "runs" / "W", cells)
    code, md = gate_markdown(tmp_path, base, run)
    assert code == 0
    assert "WARN: missing from the run" in table_row(md, COMPILE)
    assert "WARN: was ok, now skipped: torch not installed" in table_row(md, EAGER)
    assert gate_markdown(tmp_path, base, run, "--missing", "fail")[0] == 1


def test_diverged_and_new_cells() -> None:
    cfg = dict(DEFAULTS)
    v = compare_cell("c", {"status": "ok"}, {"status": "diverged", "reason": "loss is NaN"}, cfg)
    assert v.verdict == "fail" and "now diverged" in v.reasons[0]
    assert compare_cell("c", None, {"status": "ok"}, cfg).verdict == "new"
    assert compare_cell("c", {"status": "failed"}, {"status": "ok"}, cfg).verdict == "pass"


def test_corrupt_baseline_and_results_exit_2_naming_the_file(tmp_path: Path, base: Path, capsys) -> None:
    run = write_run(tmp_path / "runs" / "B", standard_cells(salt=1))
    bad = tmp_path / "bad.json"
    bad.write_text(base.read_text(encoding="utf-8")[:200], encoding="utf-8")
    code, _ = gate_markdown(tmp_path, bad, run)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: corrupt baseline") and str(bad) in err and "\n" not in err
    edited = read_json(base)
    edited["runs"][0]["cells"][EAGER]["samples_s"] = ["fast", 1]
    bad.write_text(json.dumps(edited), encoding="utf-8")
    assert gate_markdown(tmp_path, bad, run)[0] == 2
    err = capsys.readouterr().err
    assert "samples_s[0]: Input should be a valid number (got 'fast')" in err and EAGER in err
    steps = run / "steps" / COMPILE / "r1.jsonl"
    steps.write_text(steps.read_text(encoding="utf-8")[:-40], encoding="utf-8")
    assert gate_markdown(tmp_path, base, run)[0] == 2
    err = capsys.readouterr().err
    assert str(steps) in err and "Traceback" not in err
    corrupt_json(run / "run.json")
    assert gate_markdown(tmp_path, base, run)[0] == 2
    assert str(run / "run.json") in capsys.readouterr().err
    assert cli_main(["gate", "--baseline", str(tmp_path / "nope.json"), "--run", str(run)]) == 2
    assert "no such baseline file" in capsys.readouterr().err


def test_baseline_save_cli_default_name_and_gate_default_baseline(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    write_run(Path("reports/runs/20250101T000000Z"), standard_cells(), created_at="2025-01-01T00:00:00Z")
    assert cli_main(["baseline", "save"]) == 0
    saved = Path("reports/baselines") / f"{machine_fingerprint(ENVIRONMENT)}.json"
    assert load_baseline(saved)["run_id"] == "20250101T000000Z"
    write_run(
        Path("reports/runs/20250102T000000Z"), standard_cells(salt=2), created_at="2025-01-02T00:00:00Z"
    )
    assert cli_main(["gate"]) == 0  # latest run vs the baseline of this machine
    assert Path("reports/gate.md").read_text(encoding="utf-8").startswith("# Performance gate: PASS")
    assert cli_main(["baseline"]) == 2


def test_gate_output_is_deterministic(tmp_path: Path, base: Path) -> None:
    run = write_run(tmp_path / "runs" / "S", standard_cells(salt=1, scale={COMPILE: 1.2}))
    _, first = gate_markdown(tmp_path, base, run)
    _, second = gate_markdown(tmp_path, base, run)
    assert first == second


def test_run_directory_as_baseline(tmp_path: Path) -> None:
    a = write_run(tmp_path / "runs" / "A", standard_cells())
    s = write_run(tmp_path / "runs" / "S", standard_cells(salt=1, scale={COMPILE: 1.3}))
    code, md = gate_markdown(tmp_path, a, s)
    assert code == 1 and "FAIL" in table_row(md, COMPILE)


def test_unknown_fingerprint_warns_instead_of_refusing(tmp_path: Path, base: Path) -> None:
    run = write_run(tmp_path / "runs" / "U", standard_cells(salt=1), env={"python": {"version": "3.11.7"}})
    code, md = gate_markdown(tmp_path, base, run)
    assert code == 0
    assert "> warning: the baseline or the run does not record its hardware" in md


def test_replicated_runs_gate_on_the_median_of_process_medians(tmp_path: Path) -> None:
    """With several processes a side, the gate compares medians of process medians and judges noise by
    the spread between processes: an A/A pair passes, a 20% slowdown fails."""
    base_run = write_run(tmp_path / "runs" / "A3", standard_cells(salt=0), repeats=3, between_cv=0.02)
    base = save_baseline(base_run, "base3", tmp_path / "baselines")
    c = read_json(base)["runs"][0]["cells"][COMPILE]
    assert c["n_processes"] == 3 and len(c["process_medians_s"]) == 3 and len(c["samples_s"]) == 90
    assert c["step_time_median_s"] == pytest.approx(sorted(c["process_medians_s"])[1], rel=1e-5)
    same = write_run(tmp_path / "runs" / "B3", standard_cells(salt=1), repeats=3, between_cv=0.02)
    code, md = gate_markdown(tmp_path, base, same)
    assert code == 0, md
    slow = write_run(tmp_path / "runs" / "S3", standard_cells(salt=1, scale={COMPILE: 1.2}), repeats=3,
                     between_cv=0.02)
    code, md = gate_markdown(tmp_path, base, slow)
    assert code == 1
    row = table_row(md, COMPILE)
    assert "FAIL: step time +" in row and "processes + day-one prior)" in row


def test_between_process_noise_decides_when_replicated() -> None:
    cfg = dict(DEFAULTS)
    base = {"process_medians_s": [1.0, 1.02, 0.98], "samples_s": [], "status": "ok"}
    noisy = {"process_medians_s": [1.12, 1.45, 0.95], "samples_s": [], "status": "ok"}
    check, p, overlap = step_time_check(base, noisy, cfg)
    assert check.change > cfg["step_time"] and not check.failed and overlap is None and p > cfg["alpha"]
    tight = {"process_medians_s": [1.15, 1.16, 1.17], "samples_s": [], "status": "ok"}
    check, p, _ = step_time_check(base, tight, cfg)
    assert check.failed and p < cfg["alpha"] and check.noise is not None
