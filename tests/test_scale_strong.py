"""Strong scaling (``--scaling strong``): the ranks of a cell share its batch; the rule is a run setting,
so a baseline, the gate and a merge of shards refuse to put it beside weak scaling; a batch its ranks
cannot share is refused before anything runs. The Scaling table names each row's rule, its global batch,
the all-reduce's share of the step and each rank's memory. The fake NumPy framework's real worker under
tests/plugins/fakelauncher; no framework import."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_launcher_ranks import SETTINGS, TOY, _bench, _new_run, plugins  # noqa: F401 (fixture)

from bench.launchers.slot import run_cell
from bench.results.records import SCALING_RULES, RunSettings, per_rank_batch
from bench.same_settings import settings_differences


def test_the_rule_gives_each_rank_its_batch() -> None:
    assert per_rank_batch(32, 2, "weak") == 32 and per_rank_batch(32, 2, "strong") == 16
    assert per_rank_batch(7, 1, "strong") == 7  # one rank: both rules are the same cell
    with pytest.raises(ValueError, match="does not split across 3 ranks"):
        per_rank_batch(32, 3, "strong")
    assert RunSettings().scaling == "weak" and RunSettings.from_dict({}).scaling == "weak"


def test_strong_ranks_share_the_global_batch(plugins: Path) -> None:  # noqa: F811
    strong = replace(SETTINGS, scaling="strong")
    result = run_cell(TOY, strong, _new_run(plugins, TOY), repeat=1, block=0, order=0)
    assert result.status == "ok", (result.reason, result.error_tail)
    f = result.flags
    assert (f["batch_size"], f["global_batch"]) == (16, 32)
    assert f["global_batch_rule"] == SCALING_RULES["strong"]
    # Global images/s: the cell's batch (shared by the ranks) per step, not ranks x batch.
    assert result.throughput_img_s == pytest.approx(3 * 32 / result.window_time_s)
    weak = run_cell(TOY, SETTINGS, _new_run(plugins / "weak", TOY), repeat=1, block=0, order=0)
    assert (weak.flags["batch_size"], weak.flags["global_batch"]) == (32, 64)
    assert weak.flags["global_batch_rule"].startswith("weak")


def test_a_batch_the_ranks_cannot_share_is_refused_before_anything_runs(plugins: Path) -> None:  # noqa: F811
    out = plugins / "runs" / "odd"
    proc = _bench("all", "--models", "toy-ridge", "--frameworks", "numpy", "--devices", "cpu",
                  "--workers", "2", "--scaling", "strong", "--batch-size", "33", "--out", str(out),
                  "--no-report", cwd=plugins)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]  # after "probing ..."
    assert len(errors) == 1 and "batch 33 does not split across 2 ranks" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    bad = _bench("all", "--scaling", "sideways", "--dry-run", cwd=plugins)
    assert bad.returncode == 2 and "--scaling" in bad.stderr


def test_a_weak_run_and_a_strong_one_differ_in_their_settings() -> None:
    stored_before = {"settings": {"steps": 5}}  # a run stored before the setting: weak scaling
    strong = {"settings": {"steps": 5, "scaling": "strong"}}
    assert settings_differences(stored_before, strong) == ["scaling ('weak' vs 'strong')"]
    assert settings_differences(stored_before, {"settings": {"steps": 5, "scaling": "weak"}}) == []


def test_the_scaling_table_names_the_rule_the_global_batch_the_comm_share_and_each_ranks_memory() -> None:
    from bench.report.pages.scaling import scaling_section

    base = {"run_id": "r", "model": "dcgan-mnist", "framework": "torch", "mode": "eager", "device": "cpu",
            "precision": "fp32", "batch_size": 8, "variant": "default", "scenario": "train", "status": "ok"}
    one = {**base, "workers": 1, "throughput_img_s": 100.0, "process_throughputs": (99.0, 100.0, 101.0),
           "flags": {"intra_op_threads": 2, "batch_size": 8}}
    ranks = [{"rank": k, "peak_rss_bytes": (300 + k) * 2**20} for k in (0, 1)]
    two = {**base, "workers": 2, "throughput_img_s": 150.0, "process_throughputs": (149.0, 150.0, 151.0),
           "step_time_median_s": 0.05, "flags": {"threads_per_rank": 1, "batch_size": 4,
                                                  "global_batch_rule": SCALING_RULES["strong"],
                                                  "comm_ms_per_step": 10.0, "ranks": ranks}}
    text = scaling_section("dcgan-mnist", [one, two])
    assert "| strong | 8 (4 × 2) | 2 |" in text and "| 0.75 [" in text
    assert "| 20% (10.0 ms) | 300 / 301 |" in text
    old = {**two, "flags": {"threads_per_rank": 1}}  # stored before the rule, comm and ranks flags
    assert "| weak | b8 | 2 |" in scaling_section("dcgan-mnist", [one, old])
    assert "| – | – |" in scaling_section("dcgan-mnist", [one, old])


def test_the_slot_keeps_each_ranks_comm_time_and_their_mean() -> None:
    from bench.launchers.merge import merge_ranks
    from bench.results.records import Cell, CellResult, StepRecord

    cell = Cell("toy-ridge", "numpy", "eager", "cpu", "fp32", 4, workers=2)
    rows = [StepRecord(cell.cell_id, 0, "timed", 1.0, {"fit": 1.0})]
    ranks = [CellResult(cell=cell, status="ok", flags={"batch_size": 4, "comm_ms_per_step": ms})
             for ms in (2.0, 4.0)]
    merged, _ = merge_ranks(cell, ranks, [rows, rows])
    assert merged.flags["comm_ms_per_step"] == 3.0
    assert [r["comm_ms_per_step"] for r in merged.flags["ranks"]] == [2.0, 4.0]


@pytest.mark.slow
def test_two_gloo_ranks_share_a_strong_batch_and_time_their_all_reduces(tmp_path: Path) -> None:
    """A real torch cell of 2 ranks under torchrun + DDP, strong scaling: each rank trains 4 of the 8
    images; DDP's communication hook timed every all-reduce of the timed and window steps."""
    pytest.importorskip("torch")
    from test_scale_out import CELL, _processes_naming, _run_dir

    settings = RunSettings(steps=3, warmup=1, window_steps=2, time_limit_s=180.0, scaling="strong")
    run = _run_dir(tmp_path)
    result = run_cell(CELL, settings, run, repeat=1, block=0, order=0)
    assert result.status == "ok", (result.reason, result.error_tail)
    f = result.flags
    assert (f["batch_size"], f["global_batch"], f["world_size"]) == (4, 8, 2)
    assert f["global_batch_rule"].startswith("strong")
    assert result.throughput_img_s == pytest.approx(2 * 8 / result.window_time_s)
    assert f["comm_time_method"].startswith("DDP communication hook")
    assert f["comm_buckets_per_step"] >= 2  # the GAN's discriminator and generator each all-reduce
    per_rank = [r["comm_ms_per_step"] for r in f["ranks"]]
    assert all(ms > 0 for ms in per_rank) and f["comm_ms_per_step"] == pytest.approx(sum(per_rank) / 2)
    assert not _processes_naming(str(run))
