"""Reports from a fixed stored run: key numbers, notes, determinism, regeneration, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import cell_id, corrupt_json, read_json, standard_cells, write_run

from bench.analysis.parity import PARITY_TOLERANCE
from bench.cli import main as cli_main
from bench.markdown import fmt_ms, fmt_pct, fmt_ratio_ci, fmt_sig
from bench.plan.orchestrate import report_after_run
from bench.report.build import write_report
from bench.stats import RatioCI, SpreadPrior, median_ratio_ci, pooled_log_spread

RUN_ID = "20250102T030405Z"
PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """A reports/ directory holding one fixture run under runs/: 3 processes per cell (schema 3)."""
    root = tmp_path / "reports"
    write_run(root / "runs" / RUN_ID, standard_cells(), repeats=3, between_cv=0.02)
    return root


def _table_rows(md: str, first_header: str) -> list[list[str]]:
    """Rows of the Markdown table whose header starts with ``| first_header |``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split(" | ")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, [c.strip() for c in line.strip().strip("|").split(" | ")], strict=True)))
    return rows


def _cell(run: Path, cid: str) -> dict:
    return read_json(run / "cells" / cid / "r1.json")


def _procs(run: Path, cid: str) -> list[dict]:
    """The cell's process results, by repeat."""
    return sorted((read_json(p) for p in (run / "cells" / cid).glob("r*.json")), key=lambda d: d["repeat"])


def _median(run: Path, cid: str) -> float:
    return float(np.median([p["step_time_median_s"] for p in _procs(run, cid)]))


def _prior(run: Path) -> SpreadPrior | None:
    """The run's between-process spread, pooled over its ok cells (all train here)."""
    cells = [[p["step_time_median_s"] for p in _procs(run, d.name) if p["status"] == "ok"]
             for d in sorted((run / "cells").iterdir())]
    return pooled_log_spread(cells)


def _ratio(run: Path, a: str, b: str, candidates: int = 1) -> RatioCI:
    """b's median over a's, its interval paired by block and moderated by the run's pooled spread, as
    the report computes it."""
    by = {c: {p["block"]: p["step_time_median_s"] for p in _procs(run, c)} for c in (a, b)}
    return median_ratio_ci(by[a], by[b], candidates=candidates, prior=_prior(run))


def test_comparison_table_key_numbers(reports: Path) -> None:
    run = reports / "runs" / RUN_ID
    write_report([run], reports)
    md = (reports / "dcgan-mnist.md").read_text(encoding="utf-8")
    rows = _table_rows(md, "framework")
    by = {(r["framework"], r["mode"]): r for r in rows}
    assert len(rows) == 6  # ok, skipped and failed cells all listed
    tf_e, tf_f = cell_id(framework="tensorflow"), cell_id(framework="tensorflow", mode="function")
    pt_e, pt_c = cell_id(), cell_id(mode="compile")

    meds = [p["step_time_median_s"] for p in _procs(run, tf_f)]
    step = by[("TensorFlow", "function")]["step time ms (median [CI, coverage])"]
    assert step == f"{fmt_ms(np.median(meds))} [{fmt_ms(min(meds))}–{fmt_ms(max(meds))}, 75%]"
    assert by[("TensorFlow", "function")]["processes"] == "3/3"
    # speed-up over the same framework's eager mode, with its paired 95% CI
    speed = _ratio(run, tf_f, tf_e)
    assert speed.method == "paired+prior" and speed.n == 3
    assert by[("TensorFlow", "function")]["speed-up vs eager [95% CI]"] == fmt_ratio_ci(speed)
    assert by[("PyTorch", "eager")]["speed-up vs eager [95% CI]"] == "1.00×"
    # ratio to the other framework's best shipped-default mode: TF's is function, torch's compile
    assert by[("PyTorch", "compile")]["vs other default [95% CI]"] == fmt_ratio_ci(_ratio(run, pt_c, tf_f))
    assert by[("TensorFlow", "eager")]["vs other default [95% CI]"] == fmt_ratio_ci(_ratio(run, tf_e, pt_c))
    thr = np.median([p["throughput_img_s"] for p in _procs(run, pt_e)])
    assert by[("PyTorch", "eager")]["throughput img/s"] == fmt_sig(thr)
    assert by[("PyTorch", "compile")]["first step s"] == "20.0"
    assert by[("PyTorch", "compile")]["steady state s"] == "20.0"
    assert by[("PyTorch", "eager")]["host peak MiB"] == "1500"
    procs = _procs(run, pt_e)
    cvs = f"{fmt_pct(np.median([p['step_time_cv'] for p in procs]))} / "
    between = np.std([p["step_time_median_s"] for p in procs], ddof=1) / np.mean(
        [p["step_time_median_s"] for p in procs])
    assert by[("PyTorch", "eager")]["CV within / between"] == cvs + fmt_pct(between)
    assert by[("TensorFlow", "xla")]["status"] == "failed: XLA compilation failed: unsupported op"
    assert by[("TensorFlow", "xla")]["processes"] == "0/3"
    assert by[("PyTorch", "reduce-overhead")]["status"] == "skipped: mode reduce-overhead needs a CUDA device"
    assert by[("TensorFlow", "xla")]["step time ms (median [CI, coverage])"] == "–"
    # the spread table lists each process's place in the run's order
    spread = {r["cell"]: r for r in _table_rows(md, "cell")}
    orders = ", ".join(str(p["order"]) for p in _procs(run, pt_e))
    assert spread["PyTorch eager cpu fp32 b8"]["order"] == orders

    cuda = {
        r["mode"]: r for r in _table_rows((reports / "dcgan-64.md").read_text(encoding="utf-8"), "framework")
    }
    assert cuda["compile"]["device alloc MiB"] == "900"
    assert cuda["compile"]["device NVML MiB"] == "1400"
    assert cuda["compile"]["GFLOP/s (% peak)"].endswith("%)")


def test_front_page_headline_notes_and_environment(reports: Path) -> None:
    run = reports / "runs" / RUN_ID
    write_report([run], reports)
    md = (reports / "README.md").read_text(encoding="utf-8")
    head = {r["model"]: r for r in _table_rows(md, "model")}
    tf_f, pt_c, pt_e = cell_id(framework="tensorflow", mode="function"), cell_id(mode="compile"), cell_id()
    # the declared defaults (TF function, torch eager), though torch compile's median is lower
    assert head["dcgan-mnist"]["default TensorFlow"].startswith("function: ")
    expect = f"eager: {fmt_ms(_median(run, pt_e))} ms/step ["
    assert head["dcgan-mnist"]["default PyTorch"].startswith(expect)
    ratio = _ratio(run, tf_f, pt_e)
    assert ratio.decision() == "A faster"
    assert head["dcgan-mnist"]["default: faster"] == f"TensorFlow faster, {fmt_ratio_ci(ratio)}"
    # tuned: torch compile, picked among 2 × 2 candidates (TF xla failed): a Bonferroni-widened interval
    assert head["dcgan-mnist"]["tuned PyTorch"].startswith(f"compile: {fmt_ms(_median(run, pt_c))} ms/step [")
    assert head["dcgan-mnist"]["tuned TensorFlow"] == "= shipped default"
    tuned = _ratio(run, pt_c, tf_f, candidates=4)
    assert fmt_ratio_ci(tuned).endswith("95%, Bonferroni ×4]") and fmt_ratio_ci(tuned) in head["dcgan-mnist"][
        "tuned: faster"]
    assert (
        "PyTorch compile: first step 20.0 s, steady state after 20.0 s (eager: 0.300 s, 0.300 s); "
        "speed-up over eager" in head["dcgan-mnist"]["compile cost"]
    )
    assert head["dcgan-64"]["default: faster"] == "only PyTorch measured"
    assert "TensorFlow not installed on this machine: 1 cell(s) skipped" in md
    assert "**failed** — dcgan-mnist TensorFlow xla cpu fp32 b8: XLA compilation failed" in md
    # Schema 3 keeps one log per process: the note names the failed process's.
    assert f"(worker log: `logs/{cell_id(framework='tensorflow', mode='xla')}/r1.log` of run" in md
    assert "| cpu.model | Test CPU @ 3.0GHz |" in md
    assert "| intra_op_threads | 2 |" in md and "| repeats | 3 |" in md
    assert "[dcgan-mnist](dcgan-mnist.md): 6 cells — 4 ok, 1 skipped, 1 failed" in md
    # the run's order is visible: one row per block
    blocks = _table_rows(md, "block")
    assert len(blocks) == 6 and blocks[0]["order"].startswith("0–")
    for fig in (
        "dcgan-mnist__throughput.png",
        "dcgan-mnist__memory.png",
        "dcgan-mnist__parity__cpu__fp32__b8.png",
    ):
        assert (reports / "figures" / fig).stat().st_size > 1000
        assert f"(figures/{fig})" in (reports / "dcgan-mnist.md").read_text(encoding="utf-8")


def test_single_process_runs_say_so_instead_of_an_interval(tmp_path: Path) -> None:
    run = write_run(tmp_path / "one", standard_cells())
    write_report([run], tmp_path / "out")
    page = (tmp_path / "out" / "dcgan-mnist.md").read_text(encoding="utf-8")
    by = {(r["framework"], r["mode"]): r for r in _table_rows(page, "framework")}
    med = _cell(run, cell_id(mode="compile"))["step_time_median_s"]
    assert by[("PyTorch", "compile")]["step time ms (median [CI, coverage])"] == f"{fmt_ms(med)} (1 process)"
    assert by[("PyTorch", "compile")]["speed-up vs eager [95% CI]"].endswith("× (1 process)")
    head = _table_rows((tmp_path / "out" / "README.md").read_text(encoding="utf-8"), "model")[0]
    assert head["default: faster"].startswith("inconclusive (n = 1): TensorFlow ")
    assert head["default: faster"].endswith("(1 process)")


def test_partial_cells_and_an_inconclusive_comparison(tmp_path: Path) -> None:
    pt_e, tf_f = cell_id(), cell_id(framework="tensorflow", mode="function")
    cells = standard_cells(overrides={pt_e: {"median_s": 0.0121}})  # within noise of TF function
    run = write_run(tmp_path / "r", cells, repeats=3, between_cv=0.05, failed={pt_e: (3,)})
    write_report([run], tmp_path / "out")
    md = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    head = _table_rows(md, "model")[0]
    ratio = _ratio(run, tf_f, pt_e)
    assert ratio.decision() == "inconclusive" and ratio.n == 2  # the pairs with both processes ok
    assert head["default: faster"].startswith("inconclusive (n = 2): ")
    assert "Partly measured — dcgan-mnist PyTorch eager cpu fp32 b8: 2 of 3 processes ok" in md


def test_loss_parity_within_and_beyond_tolerance(tmp_path: Path) -> None:
    close = write_run(tmp_path / "close", standard_cells())
    far = write_run(tmp_path / "far", standard_cells(overrides={cell_id(): {"loss_offset": 0.5}}))
    write_report([close], tmp_path / "out1")
    write_report([far], tmp_path / "out2")
    ok = _table_rows((tmp_path / "out1" / "dcgan-mnist.md").read_text(encoding="utf-8"), "compared")
    bad = _table_rows((tmp_path / "out2" / "dcgan-mnist.md").read_text(encoding="utf-8"), "compared")
    assert ok[0]["compared"] == "TensorFlow eager vs PyTorch eager" and ok[0]["verdict"] == "ok"
    assert float(ok[0]["G difference"].rstrip("%")) < PARITY_TOLERANCE * 100
    assert bad[0]["verdict"].startswith("DIVERGE")
    assert float(bad[0]["G difference"].rstrip("%")) > PARITY_TOLERANCE * 100
    assert "Loss curves diverge — dcgan-mnist cpu fp32 b8" in (tmp_path / "out2" / "README.md").read_text(
        "utf-8"
    )


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "runs" not in p.parts
    }


def test_regeneration_is_byte_identical_and_restores_deleted_pages(reports: Path, tmp_path: Path) -> None:
    run = reports / "runs" / RUN_ID
    write_report([run], reports)
    first = _snapshot(reports)
    assert {"README.md", "dcgan-mnist.md", "dcgan-64.md"} <= set(first)
    for md in reports.glob("*.md"):
        md.unlink()
    write_report([run], reports)
    assert _snapshot(reports) == first
    # another process, another output directory, same run: same bytes (Markdown and PNGs)
    other = tmp_path / "elsewhere"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "report", "--runs", str(run), "--out", str(other), "--no-export"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert _snapshot(other) == first


def test_default_input_is_latest_run_and_report_after_run(tmp_path: Path, monkeypatch, capsys) -> None:
    root = tmp_path / "reports"
    write_run(root / "runs" / "old", standard_cells(), created_at="2025-01-01T00:00:00Z")
    write_run(root / "runs" / "new", standard_cells(salt=3), created_at="2025-02-01T00:00:00Z")
    monkeypatch.chdir(tmp_path)
    assert cli_main(["report"]) == 0
    md = (root / "README.md").read_text(encoding="utf-8")
    assert "`new`" in md and "`old`" not in md
    assert not (root / "runs" / "new" / "pytest-benchmark.json").exists()  # a report never writes into runs
    written = report_after_run(root / "runs" / "old")
    assert root / "README.md" in written and "`old`" in (root / "README.md").read_text(encoding="utf-8")


def test_side_by_side_runs(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", standard_cells(), run_id="run-a")
    b = write_run(
        tmp_path / "b", standard_cells(salt=1, scale={cell_id(mode="compile"): 1.5}), run_id="run-b"
    )
    write_report([a, b], tmp_path / "out")
    md = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    rows = {r["cell"]: r for r in _table_rows(md, "cell")}
    ratio = (
        _cell(b, cell_id(mode="compile"))["step_time_median_s"]
        / _cell(a, cell_id(mode="compile"))["step_time_median_s"]
    )
    assert rows["dcgan-mnist PyTorch compile cpu fp32 b8"]["`run-b` ms"].endswith(f"({ratio:.2f}×)")
    page = _table_rows((tmp_path / "out" / "dcgan-mnist.md").read_text(encoding="utf-8"), "framework")
    assert {r["run"] for r in page} == {"`run-a`", "`run-b`"}


def test_corrupt_results_give_one_line_error_naming_the_file(reports: Path, capsys) -> None:
    run = reports / "runs" / RUN_ID
    bad = run / "cells" / cell_id(mode="compile") / "r1.json"
    corrupt_json(bad)
    assert cli_main(["report", "--runs", str(run), "--out", str(reports)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(bad) in err and "\n" not in err and "Traceback" not in err


def test_no_runs_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["report"]) == 2
    assert "no stored runs under reports/runs" in capsys.readouterr().err


def test_stale_figures_are_removed(reports: Path, tmp_path: Path) -> None:
    run = reports / "runs" / RUN_ID
    write_report([run], reports)
    stale = reports / "figures" / "gone-model__throughput.png"
    stale.write_bytes(b"x")
    mine = reports / "figures" / "notes.txt"
    mine.write_text("keep", encoding="utf-8")
    write_report([run], reports)
    assert not stale.exists() and mine.exists()


def test_pages_carry_no_report_time(reports: Path) -> None:
    # Nothing about the moment of regeneration: only dates stored in the data may appear.
    run = reports / "runs" / RUN_ID
    write_report([run], reports)
    meta = json.loads((run / "run.json").read_text(encoding="utf-8"))
    for md in reports.glob("*.md"):
        text = md.read_text(encoding="utf-8")
        assert str(reports) not in text and str(run) not in text
    assert meta["created_at"] in (reports / "README.md").read_text(encoding="utf-8")


def test_committed_reports_regenerate_byte_identical(tmp_path: Path) -> None:
    # The committed reports/ are a function of the committed runs alone: regenerating them elsewhere
    # must give the same bytes (pages, figures and the pytest-benchmark export).
    from bench.report.build import resolve_runs
    from bench.report.pytest_benchmark import write_export

    committed = PROJECT / "reports"
    run = resolve_runs(None, committed / "runs")[0]
    written = write_report([run], tmp_path)
    export = write_export(run, tmp_path / "pytest-benchmark.json")
    assert written
    for path in written:
        rel = path.relative_to(tmp_path)
        assert path.read_bytes() == (committed / rel).read_bytes(), rel
    assert export.read_bytes() == (run / "pytest-benchmark.json").read_bytes()
