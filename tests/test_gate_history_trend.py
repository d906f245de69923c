"""``python -m bench history``: per-cell step-time trends across a machine's runs, on fixture runs."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
from report_fixtures import ENVIRONMENT, cell_id, corrupt_json, standard_cells, write_run

from bench.cell import parse_cell_id
from bench.cli import main as cli_main
from bench.gate import load_config
from bench.gate.trend import FIGURE_PREFIX, IMPROVEMENT, REGRESSION, build_trend, machine_runs
from bench.host.machine import machine_fingerprint
from bench.labels import cell_label
from bench.results.load import load_run
from bench.results.records import RunSettings

COMPILE = cell_id(mode="compile")
EAGER = cell_id()
N_CHARTED = 6  # cells of standard_cells() that are ok in some run (the others were skipped or failed)


def _write(runs: Path, k: int, **kw) -> Path:
    """Run k of a series: its own draw (salt k), its own date, so that runs order by k."""
    scale = kw.pop("scale", None)
    rid = f"202501{k:02d}T000000Z"
    return write_run(runs / rid, standard_cells(salt=k, scale=scale), run_id=rid,
                     created_at=f"2025-01-{k:02d}T00:00:00Z", **kw)


def _series(runs: Path, n: int = 5, slowed: dict[int, float] | None = None) -> list[Path]:
    return [_write(runs, k, scale={COMPILE: slowed[k]} if slowed and k in slowed else None)
            for k in range(1, n + 1)]


def _history(tmp_path: Path, runs: Path, *extra: str) -> tuple[int, str]:
    out = tmp_path / "history"
    code = cli_main(["history", "--runs-dir", str(runs), "--output", str(out), *extra])
    page = out / "history.md"
    return code, page.read_text(encoding="utf-8") if page.exists() else ""


def _label(cid: str) -> str:
    return cell_label(parse_cell_id(cid).to_dict(), model=False)


def _entries(md: str, cid: str) -> list[str]:
    """The per-run entries of a cell's row (without the cell and chart columns)."""
    row = next(line for line in md.splitlines() if line.startswith(f"| {_label(cid)} |"))
    return [c.strip() for c in row.strip("|").split("|")][1:-1]


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_slowed_run_is_marked_only_for_its_cell(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    _series(runs, 5, slowed={5: 1.3})
    code, md = _history(tmp_path, runs)
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(tmp_path / "history" / "history.md")
    slowed = _entries(md, COMPILE)
    assert len(slowed) == 5
    assert slowed[4].endswith("▲") and not any("▲" in e for e in slowed[:4])
    assert float(slowed[4].split()[0]) > 1.2 * float(slowed[3])  # the step time, in ms
    for cid in (EAGER, cell_id(framework="tensorflow"), cell_id(framework="tensorflow", mode="function")):
        assert not any("▲" in e or "▼" in e for e in _entries(md, cid)), cid
    assert "▼ " not in md.split("## Runs")[1]  # no improvement anywhere
    assert _entries(md, cell_id(framework="tensorflow", mode="xla")) == ["failed"] * 5
    assert "first run: no history" in md
    assert f"against 4 runs before it: 1 regression (dcgan-mnist {_label(COMPILE)})" in md
    assert "`0123456789ab`" in md and "`20250105T000000Z`" in md and "2025-01-05 00:00" in md
    assert md.startswith(f"# Step-time history of machine `{machine_fingerprint(ENVIRONMENT)}`")


def test_pngs_are_written_one_per_measured_cell(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _series(runs, 3, slowed={3: 1.3})
    code, md = _history(tmp_path, runs)
    assert code == 0
    figs = sorted((tmp_path / "history" / "figures").glob(f"{FIGURE_PREFIX}*.png"))
    assert len(figs) == N_CHARTED
    for f in figs:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 2000
        assert f"(figures/{f.name})" in md
    assert (tmp_path / "history" / "figures" / f"{FIGURE_PREFIX}{COMPILE}.png") in figs
    assert sorted(p.name for p in (tmp_path / "history").iterdir()) == ["figures", "history.md"]


def test_reading_never_modifies_the_runs_and_output_is_deterministic(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _series(runs, 4, slowed={4: 1.3})
    before = _snapshot(runs)
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    assert cli_main(["history", "--runs-dir", str(runs), "--output", str(out_a)]) == 0
    assert cli_main(["history", "--runs-dir", str(runs), "--output", str(out_b)]) == 0
    assert _snapshot(runs) == before
    a = {k: v[0] for k, v in _snapshot(out_a).items()}
    b = {k: v[0] for k, v in _snapshot(out_b).items()}
    assert a == b and "history.md" in a
    # a stale chart (a cell no longer in any run) is removed; the rest is rewritten identically
    stale = out_a / "figures" / f"{FIGURE_PREFIX}gone.png"
    stale.write_bytes(b"old")
    assert cli_main(["history", "--runs-dir", str(runs), "--output", str(out_a)]) == 0
    assert not stale.exists() and {k: v[0] for k, v in _snapshot(out_a).items()} == a


def test_improvement_marker_and_window(tmp_path: Path) -> None:
    """With a window of one run, the run after a slowed one is faster than its history by more than the
    threshold: ▼. The gate's own verdict is unchanged: it never fails a cell for getting faster."""
    runs = tmp_path / "runs"
    _series(runs, 4, slowed={3: 1.3})
    h = build_trend([load_run(p) for p in sorted(runs.iterdir())], window=1, cfg=load_config())
    assert [p.compared_with for p in h.runs] == [0, 1, 1, 1]
    assert h.runs[2].markers == {COMPILE: REGRESSION}
    assert h.runs[3].markers == {COMPILE: IMPROVEMENT}
    assert not h.runs[1].markers and not h.runs[0].markers
    code, md = _history(tmp_path, runs, "--window", "1")
    assert code == 0
    assert _entries(md, COMPILE)[3].endswith("▼")
    assert cli_main(["history", "--runs-dir", str(runs), "--window", "0",
                     "--output", str(tmp_path / "w")]) == 2


def test_other_settings_start_a_new_segment(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _series(runs, 2)
    other = RunSettings(profile="quick", steps=20, warmup=2, window_steps=10, seed=0, intra_op_threads=2,
                        repeats=1)
    _write(runs, 3, settings=other)
    _write(runs, 4, settings=other, scale={COMPILE: 1.3})
    h = build_trend([load_run(p) for p in sorted(runs.iterdir())], cfg=load_config())
    assert [p.new_segment for p in h.runs] == [False, False, True, False]
    assert h.segment_starts == [2] and not h.runs[2].markers
    assert "steps (30 vs 20)" in h.runs[2].note and "--force" not in h.runs[2].note
    assert h.runs[3].compared_with == 1 and h.runs[3].markers == {COMPILE: REGRESSION}
    code, md = _history(tmp_path, runs)
    assert code == 0 and "new segment, not compared: " in md and "steps (30 vs 20)" in md


def test_runs_of_one_machine_default_newest_and_corrupt_runs_skipped(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    _series(runs, 3)
    env = copy.deepcopy(ENVIRONMENT)
    env["cpu"]["model"] = "Other CPU"
    env["gpu"]["gpus"][0]["name"] = "Other GPU"
    env["fingerprint"] = {"hash": "ffffffffffffffff", "fields": {"cpu_model": "Other CPU"}}
    here, there = machine_fingerprint(ENVIRONMENT), machine_fingerprint(env)
    assert here != there
    _write(runs, 4, env=env)
    bad = _write(runs, 5)
    corrupt_json(bad / "run.json")
    fp, mine = machine_runs(runs, warn=lambda line: None)
    assert fp == there and [r.run_id for r in mine] == ["20250104T000000Z"]
    code, md = _history(tmp_path, runs)
    err = capsys.readouterr().err
    assert code == 0 and err.count("warning: skipping run") == 1 and str(bad) in err
    assert "Other CPU" in md and "20250101T000000Z" not in md
    code, md = _history(tmp_path, runs, "--machine", here)
    assert code == 0 and "3 run(s)" in md and "20250104T000000Z" not in md
    assert cli_main(["history", "--runs-dir", str(runs), "--machine", "0" * 16,
                     "--output", str(tmp_path / "x")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: no runs of machine 0000000000000000") and here in last


def test_bad_output_and_no_runs_exit_2(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["history", "--runs-dir", str(empty), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no stored runs under") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    nowhere = tmp_path / "nowhere"
    assert cli_main(["history", "--runs-dir", str(nowhere), "--output", str(tmp_path / "o")]) == 2
    assert "no stored runs under" in capsys.readouterr().err
    _series(runs, 2)
    before = _snapshot(runs)
    a_file = tmp_path / "file.md"
    a_file.write_text("keep", encoding="utf-8")
    assert cli_main(["history", "--runs-dir", str(runs), "--output", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --output") and "not a directory" in err and err.count("\n") == 1
    assert a_file.read_text(encoding="utf-8") == "keep"
    inside = runs / "20250101T000000Z" / "history"
    assert cli_main(["history", "--runs-dir", str(runs), "--output", str(inside)]) == 2
    assert "lies inside the run" in capsys.readouterr().err and not inside.exists()
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert cli_main(["history", "--runs-dir", str(runs), "--output", str(locked / "h")]) == 2
            assert "not writable" in capsys.readouterr().err
        finally:
            locked.chmod(0o700)
    assert _snapshot(runs) == before


@pytest.mark.parametrize("window", [1, 5])
def test_history_is_a_pure_function_of_the_runs(tmp_path: Path, window: int) -> None:
    runs = tmp_path / "runs"
    paths = _series(runs, 3, slowed={3: 1.3})
    first = build_trend([load_run(p) for p in paths], window=window, cfg=load_config())
    again = build_trend([load_run(p) for p in paths], window=window, cfg=load_config())
    assert [p.markers for p in first.runs] == [p.markers for p in again.runs]
    assert first.runs[2].markers.get(COMPILE) == REGRESSION
