"""scripts/compare_serving.py: the interleaved plan, the commands of both sides, the statistics and tables
with fabricated numbers (no framework is imported), bad input; and one @slow smoke run of each plain
serving loop (scripts/idiomatic/*_serve_dcgan.py) for a fraction of a second."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "compare_serving.py"


@pytest.fixture(scope="module")
def cs():
    spec = importlib.util.spec_from_file_location("compare_serving", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["compare_serving"] = mod
    spec.loader.exec_module(mod)
    return mod


def _dry(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *argv, "--dry-run"], capture_output=True, text=True,
                          cwd=ROOT)


def test_importing_it_imports_no_framework():
    code = (f"import sys, runpy; sys.argv = ['x']; runpy.run_path({str(SCRIPT)!r}, run_name='not_main'); "
            "bad = [m for m in ('torch', 'tensorflow', 'keras', 'onnxruntime') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_quick_generate_settings_are_the_profiles(cs):
    g = cs.generate_settings("quick", "dcgan-mnist")
    assert g == {"warmup": 3, "calls": 5, "warmup_s": 0.5, "min_s": 1.0, "cell_batch": 64}
    full = cs.generate_settings("full", "dcgan-mnist")
    assert (full["warmup_s"], full["min_s"]) == (2.0, 10.0)


def test_default_dry_run_pairs_each_mode_eight_times_a_side_interleaved():
    dry = _dry()
    assert dry.returncode == 0, dry.stderr
    lines = [ln for ln in dry.stdout.splitlines() if " round " in ln]
    assert len(lines) == 5 * 2 * 8
    for j in range(0, len(lines), 2):  # each comparison's two sides back to back, in one round
        a, b = lines[j].split(), lines[j + 1].split()
        assert a[2] == b[2] and a[3] == b[3] and {a[4], b[4]} == {"project", "idiomatic"}
    firsts = {lines[j].split()[3] for j in range(0, len(lines), 10)}
    assert len(firsts) > 1  # the comparisons' order changes between rounds
    project = [ln for ln in lines if " project " in ln]
    plain = [ln for ln in lines if " idiomatic " in ln]
    for part in ("-m bench run --scenario generate", "--model dcgan-mnist", "--device cpu",
                 "--precision fp32", "--variant default", "--profile quick", "--repeats 1",
                 "--extra-pairs 0", "--steps 5", "--warmup 3", "--batch-size 64", "--threads 2",
                 "--peaks-dir"):
        assert all(part in ln for ln in project), part
    for part in ("--warmup 3", "--warmup-s 0.5", "--calls 5", "--min-s 1", "--threads 2", "--interop 2"):
        assert all(part in ln for ln in plain), part
    modes = {(ln.split()[3], "tf_serve" in ln) for ln in plain}
    assert modes == {("dcgan-mnist/tf-eager", True), ("dcgan-mnist/tf-function", True),
                     ("dcgan-mnist/tf-savedmodel", True), ("dcgan-mnist/torch-eager", False),
                     ("dcgan-mnist/torch-onnx", False)}
    assert len({ln.split("--out ")[1].split()[0] for ln in project}) == len(project)  # own run dir each


def test_commands_of_both_sides_mirror_each_other(cs):
    g = {"warmup": 10, "calls": 50, "warmup_s": 2.0, "min_s": 10.0, "cell_batch": 1}
    pair = cs.PAIRS["torch-onnx"]
    proj = " ".join(cs.project_command("py", pair, "dcgan-mnist", "full", g, 4, "/o", ["--variant", "x"]))
    assert "--framework torch --mode onnx" in proj and "--profile full" in proj and "--steps 50" in proj
    assert "--warmup 10" in proj and "--batch-size 1" in proj and proj.count("--variant") == 1
    plain = cs.serving_command("py", pair, "dcgan-mnist", g, 4, 1, ["--seed", "3"])
    assert plain[1].endswith("scripts/idiomatic/torch_serve_dcgan.py") and Path(plain[1]).is_file()
    s = " ".join(plain)
    for part in ("--mode onnx", "--threads 4", "--interop 1", "--warmup 10", "--warmup-s 2", "--calls 50",
                 "--min-s 10", "--seed 3"):
        assert part in s
    for name, p in cs.PAIRS.items():
        script = cs.serving_command("py", p, "dcgan-mnist", g, 1, 1, [])[1]
        assert Path(script).is_file() and ("tf_serve" in script) == name.startswith("tf-")
        assert p.script_args == ("--mode", p.mode) and p.tolerance_pct == 5.0


def test_full_profile_and_cell_batch_reach_the_commands():
    dry = _dry("--pairs", "tf-function", "--processes", "2", "--profile", "full", "--cell-batch", "1")
    lines = [ln for ln in dry.stdout.splitlines() if " round " in ln]
    assert len(lines) == 4
    assert all("--batch-size 1 " in ln and "--steps 50" in ln for ln in lines if "-m bench" in ln)
    assert all("--min-s 10" in ln and "--calls 50" in ln for ln in lines if "tf_serve" in ln)


@pytest.mark.parametrize("argv", [["--pairs", "torch-eager,jax-jit"], ["--pairs", ","],
                                  ["--models", "vae-mnist"], ["--processes", "0"], ["--threads", "0"],
                                  ["--cell-batch", "0"], ["--profile", "gpu"], ["--processes", "two"],
                                  ["--tolerance", "0"]])
def test_bad_input_is_one_line_and_exit_2(argv):
    proc = _dry(*argv)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("compare_serving.py: error:")


def _records(project, plain, first=(0.01234, 0.01234)):
    recs = []
    for k, (p, i) in enumerate(zip(project, plain, strict=True)):
        recs.append({"round": k, "key": "dcgan-mnist/tf-function", "side": "project", "median_s": p,
                     "losses_first": {"image_mean": first[0]}})
        recs.append({"round": k, "key": "dcgan-mnist/tf-function", "side": "idiomatic", "median_s": i,
                     "losses_first": {"image_mean": first[1]}})
    return recs


def test_statistics_and_tables_with_fabricated_latencies(cs):
    harness = [0.00252, 0.00249, 0.00260, 0.00251, 0.00247, 0.00255, 0.00250, 0.00253]
    plain = [0.00250] * 8
    recs = _records(harness, plain)
    s = cs.summarize(recs, 5.0)
    assert s["ratio"] == pytest.approx(0.002515 / 0.0025)
    assert s["ratio_interval"] == pytest.approx([0.988, 1.04])  # the range of 8 rounds: 99.2%
    assert s["interval_coverage"] == pytest.approx(0.9921875)
    assert s["verdict"] == "within ±5%; the whole interval is within"
    table = cs.format_serving([("tensorflow", "function", s)])
    assert "2.515" in table and "2.500" in table and "1.006" in table
    assert "[0.988, 1.040, 99.2%]" in table and "8+8" in table
    cv = s["sides"]["project"]["between_process_cv"] * 100
    assert f"{cv:.1f}% / 0.0%" in table
    detail = cs.format_table(s, "t", ms_digits=3)
    assert "2.520 2.490 2.600" in detail and "image_mean 0.012" in detail
    assert cs.first_values(recs) == "first call's image mean: project 0.01234, idiomatic 0.01234"
    slow = cs.summarize(_records([x * 1.08 for x in harness], plain), 5.0)
    assert slow["verdict"].startswith("outside ±5%") and "whole interval is outside" in slow["verdict"]


def test_failed_processes_leave_no_result_rows(cs):
    recs = _records([None, None], [0.002, 0.002])
    s = cs.summarize(recs, 5.0)
    assert s["verdict"] == "no result"
    table = cs.format_serving([("torch", "onnx", s)])
    assert "no result" in table and "0+2" in table
    assert cs.first_values([]) == "first call's image mean: project -, idiomatic -"


def test_its_json_reads_as_the_readme_table(cs, tmp_path):
    spec = importlib.util.spec_from_file_location("idiomatic_table", SCRIPT.parent / "idiomatic_table.py")
    table_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table_mod)
    recs = [{**r, "batch": 1} for r in _records([0.00252, 0.00249, 0.00260], [0.0025] * 3)]
    doc = {"args": {"tolerance": 5.0}, "records": recs,
           "summaries": {"dcgan-mnist/tf-savedmodel": cs.summarize(recs, 5.0)}}
    doc["records"] = [{**r, "key": "dcgan-mnist/tf-savedmodel"} for r in recs]
    (tmp_path / "s.json").write_text(json.dumps(doc))
    (row,) = table_mod.rows(doc)
    assert row[:6] == ["dcgan-mnist", "TensorFlow", "savedmodel", "1", "2.520", "2.500"]
    assert table_mod.main([str(tmp_path / "s.json")]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("script,mode", [("torch_serve_dcgan.py", "eager"), ("torch_serve_dcgan.py", "onnx"),
                                         ("tf_serve_dcgan.py", "function"),
                                         ("tf_serve_dcgan.py", "savedmodel")])
def test_plain_serving_loops_run_and_report_one_json_line(script, mode):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "idiomatic" / script), "--mode", mode,
                           "--threads", "1", "--warmup", "1", "--warmup-s", "0", "--calls", "3", "--min-s",
                           "0.05"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["mode"] == mode and doc["batch"] == 1 and doc["calls"] >= 3 and doc["threads"] == 1
    assert sum(doc["times_s"]) >= 0.05 and 0 < doc["median_s"] <= max(doc["times_s"])
    assert abs(doc["losses_first"]["image_mean"]) < 1  # tanh images
    if mode in ("onnx", "savedmodel"):
        assert doc["export_s"] > 0 and doc["load_s"] > 0
