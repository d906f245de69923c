"""A framework's own notes reach the report: its defaults on a device (once), and why a compiled
mode measured slower than eager (beside each such cell, only when the interval says so)."""

from __future__ import annotations

from bench.analysis.tables import _framework_notes
from bench.frameworks import get_framework
from bench.report.pages.front import note_text
from bench.stats import RatioCI


def _row(framework: str, mode: str, speed: RatioCI | None, device: str = "cpu") -> dict:
    return {"run_id": "r", "cell_id": f"vae-mnist__{framework}__{mode}__{device}__fp32__b8__default",
            "model": "vae-mnist", "framework": framework, "mode": mode, "device": device, "precision": "fp32",
            "batch_size": 8, "variant": "default", "status": "ok", "speedup_ci": speed}


def test_defaults_note_once_per_device_and_slower_compiled_only_below_one() -> None:
    slower = RatioCI(0.8, 0.75, 0.85, 3, "paired")
    unclear = RatioCI(0.95, 0.85, 1.05, 3, "paired")
    faster = RatioCI(2.8, 2.6, 3.0, 3, "paired")
    rows = [_row("tensorflow", "eager", None), _row("tensorflow", "function", faster),
            _row("torch", "eager", None), _row("torch", "compile", slower),
            _row("torch", "compile", unclear, device="cuda")]
    notes = _framework_notes(rows)
    kinds = [(n.kind, n.row["framework"], n.row["device"]) for n in notes]
    assert kinds == [("framework", "tensorflow", "cpu"), ("slower_compiled", "torch", "cpu"),
                     ("framework", "torch", "cuda")]
    assert notes[0].text == get_framework("tensorflow").report_notes["cpu"]
    assert "dropout" in notes[1].text and notes[1].value == 0.8


def test_cuda_notes_say_what_each_framework_ships_and_the_grad_scaler_syncs() -> None:
    torch_note = get_framework("torch").report_notes["cuda"]
    tf_note = get_framework("tensorflow").report_notes["cuda"]
    assert "TF32 off (both)" in torch_note and "cuDNN convolutions in TF32" in torch_note
    assert "matmuls in fp32" in torch_note and "GradScaler" in torch_note and "found_inf" in torch_note
    assert "TensorFlow ships TF32 on for matmuls and convolutions" in tf_note
    notes = _framework_notes([_row("tensorflow", "eager", None, device="cuda"),
                              _row("torch", "eager", None, device="cuda")])
    assert [n.text for n in notes] == [tf_note, torch_note]


def test_the_notes_render_as_one_line_each() -> None:
    notes = _framework_notes([_row("torch", "compile", RatioCI(0.8, 0.75, 0.85, 3, "paired"))])
    text = note_text(notes[0], False)
    assert text.startswith("Compiled slower than eager") and "Why:" in text and "\n" not in text
