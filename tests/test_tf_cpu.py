"""TensorFlow on CPU: the shared timing path (synchronised, its losses read), bf16 cells in every
family, the inter-op variant and the profiles' TF extras. TensorFlow runs in subprocesses (never
beside torch)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cell import Cell
from bench.clock import physical_cores
from bench.frameworks import get_framework
from bench.frameworks.tensorflow import descriptor as tfdesc
from bench.results.records import RunSettings
from bench.worker.flags import plan_flags

ROOT = Path(__file__).resolve().parent.parent
needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="no tensorflow")

ONE_STEP = """
import json, sys
import tensorflow as tf
from bench.cell import Cell
from bench.worker.flags import plan_flags
from bench.frameworks import load_backend
from bench.results.records import RunSettings
from models.registry import family_of, get_spec

model, precision, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
cell = Cell(model, "tensorflow", "function", "cpu", precision, batch, "default")
settings = RunSettings(seed=0)
backend = load_backend("tensorflow")(cell, settings, plan_flags(cell, settings))
backend.setup()
calls = []
real_sync = tf.test.experimental.sync_devices
tf.test.experimental.sync_devices = lambda: (calls.append(1), real_sync())[1]
family, spec = family_of(model), get_spec(model)
backend.build(family, spec, batch, family.make_inputs(spec, batch, 2, 0, "synthetic"))
backend.wrap()
handle = backend.call(0)
dtypes = {k: v.dtype.name for k, v in handle.items()}
n = len(calls)
timed = backend.time_steps(1, 2)
syncs = (len(calls) - n) / 2
tf.config.experimental.set_synchronous_execution(False)  # now a CPU step can return before its ops ran
n = len(calls)
timed_async = backend.time_steps(3, 2)
print(json.dumps({"dtypes": dtypes, "losses": [l for _, l in timed], "syncs_per_step": syncs,
                  "async_syncs_per_step": (len(calls) - n) / 2, "async_losses": [l for _, l in timed_async],
                  "flags": {k: backend.flags.get(k) for k in ("sync", "keras_dtype_policies", "precision")}}))
"""


def _one_step(model: str, precision: str, batch: int = 4) -> dict:
    proc = subprocess.run([sys.executable, "-c", ONE_STEP, model, precision, str(batch)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@needs_tf
@pytest.mark.parametrize("model", [
    "vae-mnist", "dcgan-mnist", pytest.param("ddpm-32", marks=pytest.mark.slow)])
def test_bf16_function_step_on_cpu_float32_losses_synced_where_needed(model: str) -> None:
    out = _one_step(model, "bf16")
    assert set(out["dtypes"].values()) == {"float32"}  # the loss in float32, as the torch side
    for losses in (out["losses"], out["async_losses"]):  # every step's losses read, finite
        assert all(v == v and abs(v) < 1e6 for step in losses for v in step.values())
    assert "mixed_bfloat16" in out["flags"]["keras_dtype_policies"]
    # TF's synchronous executor (its default) has finished a CPU step when its call returns: no
    # sync_devices call (~12 µs); an asynchronous executor gets one after every step.
    assert out["syncs_per_step"] == 0
    assert out["async_syncs_per_step"] == 1
    assert out["flags"]["sync"].startswith("none needed while TF's executor is synchronous")


def test_interop_variant_asks_for_one_inter_op_thread_on_compiled_modes_only() -> None:
    settings = RunSettings()
    cell = Cell("dcgan-mnist", "tensorflow", "function", "cpu", "fp32", 256, "interop-1")
    assert plan_flags(cell, settings)["inter_op_threads"] == 1
    default = Cell("dcgan-mnist", "tensorflow", "function", "cpu", "fp32", 256, "default")
    assert plan_flags(default, settings)["inter_op_threads"] == settings.inter_op_threads or physical_cores()
    desc = get_framework("tensorflow")
    assert desc.variant_skip_reason("eager", "cpu", "interop-1") == "interop-1 applies to compiled modes only"
    assert desc.variant_skip_reason("function", "cpu", "interop-1") is None


@pytest.mark.parametrize("onednn", [True, False])
def test_profiles_tf_extras_quick_has_none_full_has_onednn_flip_and_interop(onednn: bool) -> None:
    probe = {"installed": True, "onednn_enabled": onednn}
    flip = "onednn-off" if onednn else "onednn-on"
    extras = get_framework("tensorflow").extra_variants
    assert all(extras("quick", m, "cpu", probe) == () for m in ("eager", "function", "xla"))
    assert extras("full", "eager", "cpu", probe) == (flip,)
    assert extras("full", "function", "cpu", probe) == (flip, "interop-1")
    assert extras("full", "xla", "cpu", probe) == (flip, "interop-1")
    # On CUDA, full measures TensorFlow's shipped TF32 (the fp32 cells run it off, like torch's).
    assert extras("full", "function", "cuda", probe) == ("tf32",)
    assert extras("full", "xla", "cuda", probe) == () and extras("gpu", "function", "cuda", probe) == ()
    # bf16 CPU cells: full only (quick's budget goes to tuned candidates and adaptive pairs)
    assert tfdesc.DESCRIPTOR.cpu_reduced_precision_modes == {"full": ("function",)}
