"""scripts/compare_idiomatic.py: the interleaved order, the project CLI it builds, how it reads both
sides' results and aggregates them (pure functions; no framework is imported, nothing is benchmarked)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "compare_idiomatic.py"


@pytest.fixture(scope="module")
def ci():
    spec = importlib.util.spec_from_file_location("compare_idiomatic", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["compare_idiomatic"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_schedule_interleaves_both_sides_once_per_round_in_a_seeded_order(ci):
    plan = ci.schedule(20, seed=3)
    assert len(plan) == 40
    for k in range(20):
        assert sorted(side for r, side in plan[2 * k:2 * k + 2] if r == k) == ["idiomatic", "project"]
    firsts = [plan[2 * k][1] for k in range(20)]
    assert set(firsts) == {"project", "idiomatic"}  # neither side is always first
    assert ci.schedule(20, seed=3) == plan  # reproducible
    assert ci.schedule(20, seed=4) != plan
    assert ci.schedule(1, seed=0)[0][0] == 0


def test_choose_project_cli_handles_repeats_present_or_absent(ci):
    old = "usage: python -m bench run [-h] [--steps N]\n  --steps N  timed steps"
    new = "usage: python -m bench run [-h] [--steps N] [--repeats R]\n  --repeats R  processes"
    mention = old + "\nprofiles: quick --repeats 3"  # named in an epilog, not an option
    assert ci.choose_project_cli(old, old) == ("run", False)
    assert ci.choose_project_cli(new, new) == ("run", True)
    assert ci.choose_project_cli(old, new) == ("all", True)
    assert ci.choose_project_cli(mention, mention) == ("run", False)
    assert ci.takes_repeats("usage: x [--out DIR] [--repeats R]") and ci.takes_repeats("[--repeats]")


def test_project_command_is_exactly_one_cell_one_process(ci):
    pair = ci.PAIRS["torch-eager"]
    cmd = ci.project_command("py", "run", True, pair, "dcgan-mnist", 256, 15, 3, 2, "/tmp/x", [])
    s = " ".join(cmd)
    for part in ("-m bench run", "--model dcgan-mnist", "--framework torch", "--mode eager", "--device cpu",
                 "--precision fp32", "--variant default", "--steps 15", "--warmup 3", "--window-steps 0",
                 "--batch-size 256", "--threads 2", "--out /tmp/x", "--repeats 1"):
        assert part in s
    old = ci.project_command("py", "run", False, pair, "dcgan-mnist", 256, 15, 3, 2, "/tmp/x",
                             ["--variant", "channels-last"])
    assert "--repeats" not in old and old.count("--variant") == 1
    all_cmd = " ".join(ci.project_command("py", "all", True, ci.PAIRS["tf-function"], "dcgan-64", 8, 2, 1, 1,
                                          "/o", []))
    for part in ("-m bench all", "--models dcgan-64", "--frameworks tensorflow", "--modes function",
                 "--devices cpu", "--precisions fp32", "--variants default", "--no-report", "--repeats 1"):
        assert part in all_cmd


def test_idiomatic_command_passes_the_same_settings(ci):
    cmd = ci.idiomatic_command("py", ci.PAIRS["torch-compile"], "dcgan-mnist", 256, 15, 3, 2, 1,
                               ["--adam", "fused"])
    assert cmd[1].endswith("scripts/idiomatic/torch_dcgan.py") and "--compile" in cmd
    s = " ".join(cmd)
    for part in ("--model dcgan-mnist", "--batch 256", "--steps 15", "--warmup 3", "--threads 2",
                 "--interop 1", "--adam fused"):
        assert part in s
    assert ci.PAIRS["tf-function"].script_args == ("--mode", "function")


def test_parse_json_line_takes_the_result_line(ci):
    out = 'log line\n{"not": "it"}\n{"median_s": 0.5, "steps": 2}\n'
    assert ci.parse_json_line(out) == {"median_s": 0.5, "steps": 2}
    assert ci.parse_json_line("{broken\nnothing") is None


@pytest.mark.parametrize("layout", ["flat", "per-process"])
def test_read_project_result_both_layouts(ci, tmp_path, layout):
    cid = "dcgan-mnist__torch__eager__cpu__fp32__b256__default"
    cell = {"cell_id": cid, "status": "ok", "step_time_median_s": 0.46, "time_to_first_step_s": 1.2}
    steps = [("first", 1.2, {"g": 0.69, "d": 1.38}), ("warmup", 0.5, {"g": 0.6, "d": 1.3}),
             ("timed", 0.45, {"g": 0.6, "d": 1.3}), ("timed", 0.47, {"g": 0.6, "d": 1.3})]
    rows = [{"cell_id": cid, "step": i, "phase": ph, "step_time_s": t, "losses": loss}
            for i, (ph, t, loss) in enumerate(steps)]
    if layout == "flat":
        cpath, spath = tmp_path / "cells" / f"{cid}.json", tmp_path / "steps" / f"{cid}.jsonl"
    else:
        cpath, spath = tmp_path / "cells" / cid / "r1.json", tmp_path / "steps" / cid / "r1.jsonl"
    cpath.parent.mkdir(parents=True)
    spath.parent.mkdir(parents=True)
    cpath.write_text(json.dumps(cell))
    spath.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    res = ci.read_project_result(tmp_path)
    assert res["median_s"] == 0.46 and res["status"] == "ok"
    assert res["times_s"] == [0.45, 0.47]
    assert res["losses_first"] == {"g": 0.69, "d": 1.38}


def test_read_project_result_refuses_zero_or_several_cells(ci, tmp_path):
    with pytest.raises(ValueError, match="found 0"):
        ci.read_project_result(tmp_path)


def _records(project, idiomatic):
    recs = []
    for k, (p, i) in enumerate(zip(project, idiomatic, strict=True)):
        recs.append({"round": k, "side": "project", "median_s": p, "losses_first": {"g": 0.69, "d": 1.38}})
        recs.append({"round": k, "side": "idiomatic", "median_s": i, "losses_first": {"g": 0.68, "d": 1.40}})
    return recs


def test_summarize_medians_of_process_medians_and_paired_range(ci):
    s = ci.summarize(_records([0.464, 0.470, 0.455, 0.480, 0.462], [0.431, 0.440, 0.430, 0.445, 0.428]), 3.0)
    assert s["sides"]["project"]["median_of_medians_s"] == pytest.approx(0.464)
    assert s["sides"]["idiomatic"]["median_of_medians_s"] == pytest.approx(0.431)
    assert s["difference_pct"] == pytest.approx((0.464 / 0.431 - 1) * 100)
    paired = [(p / i - 1) * 100 for p, i in zip([0.464, 0.470, 0.455, 0.480, 0.462],
                                                 [0.431, 0.440, 0.430, 0.445, 0.428], strict=True)]
    assert s["paired_differences_pct"] == pytest.approx(paired)
    assert s["interval_pct"] == pytest.approx([min(paired), max(paired)])
    assert s["interval_coverage"] == pytest.approx(0.9375)
    assert s["sides"]["project"]["losses_first_median"] == {"g": 0.69, "d": 1.38}
    assert s["verdict"].startswith("outside") and "whole interval is outside" in s["verdict"]
    table = ci.format_table(s, "title")
    assert "project" in table and "idiomatic" in table and "464.0" in table and "93.75%" in table


def test_summarize_drops_failed_processes_from_medians_and_pairs(ci):
    recs = _records([0.50, 0.51, 0.49], [0.50, 0.50, 0.50])
    recs[2]["median_s"] = None  # round 1's project process failed
    s = ci.summarize(recs, 3.0)
    assert s["sides"]["project"]["n_ok"] == 2 and s["sides"]["idiomatic"]["n_ok"] == 3
    assert s["sides"]["project"]["process_medians_s"] == [0.50, None, 0.49]
    assert s["sides"]["project"]["median_of_medians_s"] == pytest.approx(0.495)
    assert "0.5 failed" not in ci.format_table(s, "t") and "500.0 failed 490.0" in ci.format_table(s, "t")
    assert len(s["paired_differences_pct"]) == 2
    assert s["interval_coverage"] == pytest.approx(0.5)
    assert "within" in s["verdict"]
    none = ci.summarize([{"round": 0, "side": "project", "median_s": None}], 3.0)
    assert none["difference_pct"] is None and none["verdict"] == "no result"
    assert "no result" in ci.format_table(none, "t")


def test_verdicts(ci):
    assert ci.verdict(1.0, -1.0, 2.0, 3.0).endswith("whole interval is within")
    straddles = ci.verdict(2.0, -1.0, 5.0, 3.0)
    assert straddles.startswith("within") and "straddles" in straddles
    assert ci.verdict(-8.0, -9.0, -4.0, 3.0).startswith("outside")
    assert "no interval" in ci.verdict(1.0, 1.0, 1.0, 3.0)


def test_help_and_dry_run_start_no_framework():
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
    assert "--pair" in out.stdout and "torch-compile" in out.stdout
    dry = subprocess.run([sys.executable, str(SCRIPT), "--pair", "tf-function", "--model", "dcgan-mnist",
                          "--processes", "3", "--dry-run"], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    lines = [ln for ln in dry.stdout.splitlines() if " round " in ln]
    assert len(lines) == 6
    assert sum("bench" in ln for ln in lines) == 3 and sum("tf_dcgan.py" in ln for ln in lines) == 3


def test_default_dry_run_is_the_quick_matrix_at_its_batches_eight_processes_a_side():
    dry = subprocess.run([sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    lines = [ln for ln in dry.stdout.splitlines() if " round " in ln]
    assert len(lines) == 3 * 5 * 2 * 8
    for model, batch in (("dcgan-mnist", 64), ("dcgan-64", 16), ("vae-mnist", 128)):
        mine = [ln for ln in lines if f" {model}/" in ln]
        assert len(mine) == 5 * 2 * 8
        assert all(f"--batch-size {batch} " in ln for ln in mine if "-m bench" in ln)
        assert all(f"--batch {batch} " in ln for ln in mine if "idiomatic/" in ln)
    assert sum("torch_vae.py --padding tf --compile" in ln for ln in lines) == 8
    assert sum("tf_vae.py --mode xla" in ln for ln in lines) == 8
    assert all("--peaks-dir" in ln for ln in lines if "-m bench" in ln)


@pytest.mark.parametrize("argv", [["--models", "dcgan-128"], ["--pairs", "torch-eager,jax-jit"],
                                  ["--pairs", ","], ["--processes", "0"], ["--batch", "0"]])
def test_bad_selection_is_one_line_and_exit_2(argv):
    proc = subprocess.run([sys.executable, str(SCRIPT), *argv, "--dry-run"], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "error:" in proc.stderr.strip().splitlines()[-1]


def test_matrix_schedule_pairs_each_comparisons_sides_back_to_back(ci):
    keys = [ci.key_of(m, p) for m in ci.MODELS for p in ci.PAIRS]
    plan = ci.matrix_schedule(4, keys, seed=2)
    assert len(plan) == 4 * len(keys) * 2
    for j in range(0, len(plan), 2):
        (r1, k1, s1), (r2, k2, s2) = plan[j], plan[j + 1]
        assert r1 == r2 and k1 == k2 and {s1, s2} == set(ci.SIDES)
    for k in range(4):  # every comparison once per round, rounds in order
        assert sorted(key for r, key, side in plan if r == k and side == "project") == sorted(keys)
    firsts = {plan[j][1] for j in range(0, len(plan), 2 * len(keys))}
    assert len(firsts) > 1  # the comparisons' order is shuffled each round
    assert ci.schedule(6, seed=1) == [(r, s) for r, _, s in ci.matrix_schedule(6, ["x"], seed=1)]


def test_quick_batches_scripts_and_pads(ci):
    assert {m: ci.quick_batch(m) for m in ci.MODELS} == {"dcgan-mnist": 64, "dcgan-64": 16, "vae-mnist": 128}
    assert set(ci.PAIRS) == {"tf-eager", "tf-function", "tf-xla", "torch-eager", "torch-compile"}
    for model in ci.MODELS:
        for pair in ci.PAIRS.values():
            cmd = ci.idiomatic_command("py", pair, model, 8, 2, 1, 2, 2, [])
            assert Path(cmd[1]).is_file()
            assert ("vae" in Path(cmd[1]).name) == (model == "vae-mnist")
            assert ("--padding tf" in " ".join(cmd)) == (pair.framework == "torch")
            assert pair.tolerance_pct == 3.0


def test_summary_ratios_and_matrix_table(ci):
    s = ci.summarize(_records([0.101, 0.102, 0.100, 0.103, 0.099, 0.101, 0.100, 0.102, 0.101],
                              [0.100] * 9), 3.0)
    assert s["ratio"] == pytest.approx(1.01)
    lo, hi = s["ratio_interval"]
    assert lo == pytest.approx(1.0) and hi == pytest.approx(1.02)  # 2nd and 8th of 9: narrower than the range
    assert s["interval_coverage"] == pytest.approx(0.9609375)
    assert "whole interval is within" in s["verdict"]
    table = ci.format_matrix([("vae-mnist", "torch", "eager", 128, s)])
    assert "1.010 [1.000, 1.020, 96.1%]" in table and "9+9" in table and "101.0" in table
    empty = ci.format_matrix([("vae-mnist", "torch", "eager", 128, ci.summarize([], 3.0))])
    assert "no result" in empty


def _table_module():
    spec = importlib.util.spec_from_file_location("idiomatic_table", SCRIPT.parent / "idiomatic_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rounds_needed_for_the_band_follow_the_paired_spread() -> None:
    import math
    import statistics

    from scipy.stats import t as student_t

    rounds_needed = _table_module().rounds_needed
    assert rounds_needed([1.0], 3.0) is None and rounds_needed([2.0, 2.0, 2.0], 3.0) == 2
    diffs = [10.0, -8.0, 12.0, -9.0, 3.0, -4.0]
    n = rounds_needed(diffs, 3.0)
    sd = statistics.stdev(math.log1p(x / 100) for x in diffs)
    half = lambda k: student_t.ppf(0.975, k - 1) * sd / math.sqrt(k)  # noqa: E731
    assert half(n) <= math.log1p(0.03) < half(n - 1)  # the smallest such n
    assert rounds_needed([x / 2 for x in diffs], 3.0) < n  # half the spread, fewer rounds


def test_the_readme_table_reads_compare_idiomatic_json(tmp_path: Path) -> None:
    mod = _table_module()
    side = {"median_of_medians_s": 0.1, "between_process_cv": 0.1, "n_ok": 3}
    doc = {"args": {"tolerance": 3}, "records": [{"key": "vae-mnist/tf-xla", "batch": 128}],
           "summaries": {"vae-mnist/tf-xla": {
               "sides": {"project": side, "idiomatic": {**side, "median_of_medians_s": 0.098}},
               "ratio": 1.0204, "ratio_interval": [0.99, 1.05], "interval_coverage": 0.75,
               "paired_ratio_median": 1.01, "paired_differences_pct": [1.0, 2.0, -1.0]}}}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    assert mod.main([str(tmp_path / "a.json")]) == 0
    assert mod.main([str(tmp_path / "missing.json")]) == 2
    (tmp_path / "other.json").write_text(json.dumps({"summaries": {"x": 1}}))
    assert mod.main([str(tmp_path / "other.json")]) == 2
    (row,) = mod.rows(doc)
    assert row[:4] == ["vae-mnist", "TensorFlow", "xla", "128"] and row[7] == "1.010 [0.990–1.050, 75.0%]"
