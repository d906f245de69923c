"""A cell's shared scratch (e.g. the quick profile's per-cell compile cache) survives between the
cell's processes and is gone when the run ends; every other scratch directory is per process."""

from __future__ import annotations

from pathlib import Path

from bench.launchers.scratch import SHARED_SUFFIX, _tidy_work_dir, drop_shared_scratch


def test_shared_scratch_survives_a_process_and_goes_with_the_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    work = run / "work" / "vae-mnist__fw__compile__cpu__fp32__b8__default"
    (work / f"inductor-cache{SHARED_SUFFIX}").mkdir(parents=True)
    (work / "inductor-cache-cold").mkdir()
    (work / "result-r1.json").write_text("{}")
    (work / "spec-r1.json").write_text("{}")
    _tidy_work_dir(work)
    assert sorted(p.name for p in work.iterdir()) == [f"inductor-cache{SHARED_SUFFIX}", "spec-r1.json"]
    drop_shared_scratch(run)
    assert sorted(p.name for p in work.iterdir()) == ["spec-r1.json"]


def test_dropping_follows_no_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside" / f"keep{SHARED_SUFFIX}"
    outside.mkdir(parents=True)
    run = tmp_path / "run"
    (run / "work").mkdir(parents=True)
    (run / "work" / "cell").symlink_to(outside.parent)
    drop_shared_scratch(run)
    assert outside.is_dir()
