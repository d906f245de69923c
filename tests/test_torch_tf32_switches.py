"""apply_tf32 leaves every TF32 switch of torch readable and agreeing, after each setting and in any
order: the new per-backend ``fp32_precision`` switches, the legacy ``allow_tf32`` flags and
``torch.get_float32_matmul_precision()`` (which Inductor reads under max-autotune). Each sequence runs in
a fresh interpreter, since the switches are process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parent.parent

# Reads every getter itself (not through the backend's reader), so the test does not trust the code
# it checks. A getter that raises reads as "RAISES".
PROBE = r"""
import json, sys, warnings
import torch
from bench.frameworks.torch.backend import apply_tf32

def get(f):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return f()
    except Exception as e:
        return "RAISES " + str(e).splitlines()[0][:200]

b = torch.backends
GETTERS = {
    "generic": lambda: b.fp32_precision,
    "cuda.matmul": lambda: b.cuda.matmul.fp32_precision,
    "cudnn": lambda: b.cudnn.fp32_precision,
    "cudnn.conv": lambda: b.cudnn.conv.fp32_precision,
    "cudnn.rnn": lambda: b.cudnn.rnn.fp32_precision,
    "mkldnn": lambda: b.mkldnn.fp32_precision,
    "mkldnn.matmul": lambda: b.mkldnn.matmul.fp32_precision,
    "mkldnn.conv": lambda: b.mkldnn.conv.fp32_precision,
    "mkldnn.rnn": lambda: b.mkldnn.rnn.fp32_precision,
    "legacy cuda.matmul.allow_tf32": lambda: b.cuda.matmul.allow_tf32,
    "legacy cudnn.allow_tf32": lambda: b.cudnn.allow_tf32,
    "get_float32_matmul_precision": torch.get_float32_matmul_precision,
}
out = []
for enabled in json.loads(sys.argv[1]):
    flags = apply_tf32(enabled)
    out.append({"enabled": enabled, "flags": flags, "read": {k: get(f) for k, f in GETTERS.items()}})
print(json.dumps(out))
"""


def _run(sequence: list[bool]) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(sequence)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _expected(enabled: bool) -> dict[str, object]:
    v = "tf32" if enabled else "ieee"
    return {
        "generic": v, "cuda.matmul": v, "cudnn": v, "cudnn.conv": v, "cudnn.rnn": v,
        # oneDNN (CPU) never rounds fp32 to TF32: TF32 is a CUDA setting in framebench.
        "mkldnn": "ieee", "mkldnn.matmul": "ieee", "mkldnn.conv": "ieee", "mkldnn.rnn": "ieee",
        "legacy cuda.matmul.allow_tf32": enabled, "legacy cudnn.allow_tf32": enabled,
        "get_float32_matmul_precision": "high" if enabled else "highest",
    }


@pytest.mark.parametrize("sequence", [[True, False, True], [False, True, False]],
                         ids=["on-off-on", "off-on-off"])
def test_every_getter_is_readable_and_agrees_after_each_setting(sequence):
    for state in _run(sequence):
        enabled, read = state["enabled"], state["read"]
        raising = {k: v for k, v in read.items() if isinstance(v, str) and v.startswith("RAISES")}
        assert not raising, f"after apply_tf32({enabled}) these getters raise: {raising}"
        assert read == _expected(enabled), f"after apply_tf32({enabled})"


def test_the_recorded_flags_are_what_the_getters_read():
    for state in _run([True, False]):
        flags, read = state["flags"], state["read"]
        assert not [k for k, v in flags.items() if isinstance(v, str) and v.startswith("error")], flags
        assert flags["tf32_matmul"] == read["cuda.matmul"]
        assert flags["tf32_cudnn_conv"] == read["cudnn.conv"]
        assert flags["tf32_cudnn_rnn"] == read["cudnn.rnn"]
        assert flags["allow_tf32_matmul"] is read["legacy cuda.matmul.allow_tf32"]
        assert flags["allow_tf32_cudnn"] is read["legacy cudnn.allow_tf32"]
        assert flags["float32_matmul_precision"] == read["get_float32_matmul_precision"]
        assert flags["mkldnn_matmul_fp32_precision"] == "ieee"
