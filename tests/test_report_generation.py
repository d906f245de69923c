"""The model page's Generation section from summary rows alone (no framework, no run)."""

from __future__ import annotations

from bench.report.pages.generation import generation_section


def _row(**kw):
    base = {"scenario": "generate", "framework": "torch", "mode": "eager", "device": "cpu",
            "variant": "default", "status": "ok", "n_ok": 3, "batch_size": 4, "step_time_median_s": 0.002,
            "step_time_ci_low_s": 0.0019, "step_time_ci_high_s": 0.0021, "latency_p99_s": 0.004,
            "latency_p99_ci_low_s": 0.0035, "latency_p99_ci_high_s": 0.0045, "throughput_img_s": 900.0,
            "build_s": 0.3, "time_to_first_step_s": 0.05, "cold_start_s": 0.35, "peak_rss_bytes": 300 * 2**20,
            "flags": {"generate": "the generator from noise"}}
    return {**base, **kw}


def test_no_generate_cells_no_section():
    assert generation_section([{"scenario": "train", "status": "ok"}], multi=False) == ""
    assert generation_section([{"status": "ok"}], multi=False) == ""  # rows of runs before scenarios


def test_one_row_per_runtime_with_latency_cis_throughput_and_cold_start():
    text = generation_section([_row(), _row(framework="tensorflow", mode="xla", status="failed")], False)
    assert text.startswith("## Generation\n\n")
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    header, torch_row = lines[0], next(ln for ln in lines if ln.startswith("| PyTorch"))
    assert "latency p50 ms [CI]" in header and "latency p99 ms [CI]" in header and "cold start s" in header
    assert "2.00 [1.90–2.10, 75%]" in torch_row and "4.00 [3.50–4.50, 75%]" in torch_row
    assert "| 900 |" in torch_row and "| 0.350 |" in torch_row
    tf_row = next(ln for ln in lines if ln.startswith("| TensorFlow"))
    assert tf_row.endswith("| failed |") and "| – |" in tf_row
    assert "the generator from noise" in text


def test_a_sampler_shows_its_steps_and_the_latency_per_step():
    text = generation_section([_row(denoising_steps=4, step_latency_median_s=0.0005)], False)
    row = next(ln for ln in text.splitlines() if ln.startswith("| PyTorch"))
    assert "| 4 |" in row and "| 0.500 |" in row


def test_deployed_runtimes_show_their_export_size_and_load_and_native_modes_add_no_table():
    assert "export s" not in generation_section([_row()], False)
    onnx = _row(mode="onnx", flags={"generate": "g", "export_s": 1.9, "artefact_bytes": 9_140_000,
                                    "load_s": 0.035, "runtime_parity_max_abs": 2.4e-6,
                                    "runtime_parity_bound": 1e-3})
    bad = _row(mode="torchscript", flags={"generate": "g", "export_s": 0.1, "artefact_bytes": 1e6,
                                          "load_s": 0.01, "runtime_parity_max_abs": 0.02,
                                          "runtime_parity_bound": 1e-3})
    text = generation_section([_row(), onnx, bad], False)
    table = [ln for ln in text.splitlines() if ln.startswith("| ")]
    header = next(ln for ln in table if "export s" in ln)
    assert header == "| framework | mode | device | export s | artefact MB | load s | max abs error vs own |"
    assert "| PyTorch | onnx | cpu | 1.90 | 9.14 | 0.0350 | 2.4e-06 |" in table
    assert any(ln.startswith("| PyTorch | torchscript |") and ln.endswith("| **2.0e-02, above 0.001** |")
               for ln in table)
    assert sum("| eager |" in ln for ln in table) == 1  # the native mode: in the latency table only
