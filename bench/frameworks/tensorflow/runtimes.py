"""TensorFlow's deployed runtimes for the generate scenario (bench.frameworks.runtime says the interface).

- ``savedmodel``: Keras 3's ``model.export(path)`` (format ``tf_saved_model``), reloaded with
  ``tf.saved_model.load`` and called through its ``serving_default`` signature, as TF Serving calls it.
- ``litert``: that SavedModel converted by ``tf.lite.TFLiteConverter.from_saved_model`` (default
  options: float32, TFLite builtin ops only), run by the ``ai-edge-litert`` interpreter with
  ``num_threads=threads`` (its default XNNPACK delegate included). ``tf.lite``'s interpreter is
  deprecated in favour of that package; its converter is still TensorFlow's. The export time is the
  SavedModel's export plus the conversion.
- ``onnx``: Keras 3's own ``model.export(path, format="onnx")``, which converts the traced serving
  function with tf2onnx, run in ONNX Runtime's CPU execution provider.

The module is a Keras model; every exported function calls it with ``training=False`` (BatchNorm on
running statistics, no dropout). Axis 0 of every input is a dynamic batch dimension (Keras' input
signature: ``None``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from bench.frameworks import runtime as rt

RUNTIMES: tuple[str, ...] = ("savedmodel", "litert", "onnx")
NOTES = {
    "savedmodel": "Keras model.export() -> tf.saved_model.load -> signatures['serving_default']",
    "litert": "tf.lite.TFLiteConverter.from_saved_model, run by the ai-edge-litert interpreter (XNNPACK)",
    "onnx": "Keras model.export(format='onnx') (tf2onnx) run in ONNX Runtime",
}
ARTEFACTS = {"savedmodel": "savedmodel", "litert": "model.tflite", "onnx": "model.onnx"}


def _input_names(module: keras.Model) -> list[str]:
    return [t.name for t in module.inputs]


def _export_savedmodel(module: keras.Model, path: Path) -> None:
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the endpoint's signature
            module.export(str(path), format="tf_saved_model", verbose=False)
    except Exception as e:
        raise rt.unsupported_from("Keras model.export(tf_saved_model)", e) from e


def _serving(path: Path, names: list[str]) -> Callable[..., np.ndarray]:
    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures["serving_default"]
    keys = list(signature.structured_input_signature[1])
    if len(keys) == 1 and len(names) == 1:
        keys = keys[:1]
    elif sorted(keys) == sorted(names):
        keys = names
    else:
        raise rt.RuntimeUnsupported(f"the serving signature's inputs {keys} are not the model's {names}")
    outputs = list(signature.structured_outputs)
    if len(outputs) != 1:
        raise rt.RuntimeUnsupported(f"the serving signature has {len(outputs)} outputs, not one")
    out = outputs[0]

    def call(*inputs: np.ndarray) -> np.ndarray:
        return signature(**{k: tf.constant(x) for k, x in zip(keys, inputs, strict=True)})[out].numpy()

    call.loaded = loaded  # type: ignore[attr-defined]  # keeps the restored variables alive
    return call


def _litert(path: Path, threads: int, names: list[str]) -> Callable[..., np.ndarray]:
    litert = rt.require("ai_edge_litert.interpreter", "ai-edge-litert")
    interpreter = litert.Interpreter(model_path=str(path), num_threads=threads)
    details = interpreter.get_input_details()
    # The converter names the inputs "serving_default_<name>:0": map them back to the model's order.
    by_name = {d["name"]: d["index"] for d in details}
    order = []
    for n in names:
        hits = [i for k, i in by_name.items() if k == n or k.startswith(f"serving_default_{n}:")]
        if len(hits) != 1:
            if len(names) == 1 and len(details) == 1:
                hits = [details[0]["index"]]
            else:
                raise rt.RuntimeUnsupported(f"the LiteRT model's inputs {list(by_name)} are not the "
                                         f"model's {names}")
        order.append(hits[0])
    output = interpreter.get_output_details()[0]["index"]
    shapes: list[tuple[int, ...] | None] = [None] * len(order)

    def call(*inputs: np.ndarray) -> np.ndarray:
        # A new batch size needs the tensors resized and re-allocated (once per change of shape).
        if any(s != x.shape for s, x in zip(shapes, inputs, strict=True)):
            for i, (index, x) in enumerate(zip(order, inputs, strict=True)):
                interpreter.resize_tensor_input(index, x.shape, strict=False)
                shapes[i] = x.shape
            interpreter.allocate_tensors()
        for index, x in zip(order, inputs, strict=True):
            interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output)

    return call


def _convert_litert(saved: Path, path: Path) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite's deprecation notice, printed once per process
            converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
            path.write_bytes(converter.convert())
    except Exception as e:
        raise rt.unsupported_from("TFLiteConverter", e) from e


def _export_onnx(module: keras.Model, path: Path) -> None:
    rt.require("tf2onnx", "tf2onnx")  # Keras' onnx export on the TensorFlow backend converts with it
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module.export(str(path), format="onnx", verbose=False)
    except Exception as e:
        raise rt.unsupported_from("Keras model.export(onnx)", e) from e


def _threads() -> dict[str, int]:
    """TensorFlow's own pools, which a SavedModel runs in: the backend sets them before TensorFlow's
    runtime starts (they are fixed after), so they are read here, not set (0: TensorFlow's default)."""
    cfg = tf.config.threading
    return {"intra_op": cfg.get_intra_op_parallelism_threads(),
            "inter_op": cfg.get_inter_op_parallelism_threads()}


def _versions(mode: str) -> dict[str, str]:
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
    if mode == "litert":
        versions["ai-edge-litert"] = rt.version_of("ai-edge-litert")
    if mode == "onnx":
        versions.update(rt.ort_versions(), tf2onnx=rt.version_of("tf2onnx"))
    return versions


def build_runtime(mode: str, module: Any, example_inputs: tuple[np.ndarray, ...], work_dir: Path,
                  threads: int) -> rt.RuntimeHandle:
    """Export the Keras model ``module`` to ``work_dir`` with ``mode``'s exporter and load it; see the
    module docstring. rt.RuntimeUnsupported (one line) when the exporter or runtime cannot handle it."""
    rt.check_mode(mode, RUNTIMES, "tensorflow")
    if not isinstance(module, keras.Model):
        raise rt.RuntimeUnsupported(f"Keras' export needs a keras.Model, not {type(module).__name__}")
    if len(module.outputs or ()) != 1:
        raise rt.RuntimeUnsupported(f"the runtimes return one array; the model has {len(module.outputs)} "
                                 "outputs")
    work_dir = Path(work_dir)
    path = work_dir / ARTEFACTS[mode]
    names = _input_names(module)
    if len(names) != len(example_inputs):
        raise ValueError(f"the model takes {len(names)} inputs, {len(example_inputs)} were given")
    versions = _versions(mode)
    key = rt.fingerprint(mode, (np.asarray(w) for w in module.weights), example_inputs, versions)
    thread_info = _threads()

    def export() -> None:
        if not getattr(module, "_called", True):
            # Keras' onnx export refuses a model never called ("has never called"): one call, as a
            # user's model has had before it is exported.
            module(list(example_inputs) if len(names) > 1 else example_inputs[0], training=False)
        if mode == "savedmodel":
            _export_savedmodel(module, path)
        elif mode == "litert":
            saved = work_dir / "litert_savedmodel"
            _export_savedmodel(module, saved)
            _convert_litert(saved, path)
        else:
            _export_onnx(module, path)

    export_s, reused = rt.export_once(work_dir, path, key, export)
    if mode == "onnx":
        (call, thread_info), load_s = rt.timed(lambda: rt.ort_session(path, threads, input_names=names))
        versions["onnx_opset"] = rt.onnx_opset(path)
    elif mode == "litert":
        call, load_s = rt.timed(lambda: _litert(path, threads, names))
        thread_info = {"num_threads": threads}
    else:
        call, load_s = rt.timed(lambda: _serving(path, names))
    return rt.RuntimeHandle(mode=mode, call=call, export_s=export_s, load_s=load_s,
                            artefact_bytes=rt.artefact_size(path), runtime_versions=versions,
                            threads=thread_info, artefact=str(path), notes=NOTES[mode], reused=reused)
