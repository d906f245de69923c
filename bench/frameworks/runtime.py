"""Deployed runtimes: what an exported artefact of a framework's inference module offers a scenario.

Each framework package may have a ``runtimes`` module (``bench/frameworks/<name>/runtimes.py``, imported
in the worker only) with

- ``RUNTIMES``: the mode names it builds, and
- ``build_runtime(mode, module, example_inputs, work_dir, threads) -> RuntimeHandle``: export the
  framework's own inference module (eval mode) to ``work_dir`` with that mode's exporter, load the
  artefact in its runtime and return a handle whose ``call(*numpy_inputs)`` runs it on numpy arrays
  and returns a numpy array (host to runtime and back included, as a serving endpoint pays it).

Export and load happen in ``build_runtime``, outside any timed region; the handle never calls the
artefact, so a scenario's first call is a cold one. The batch axis (axis 0 of every input) is left
dynamic where the exporter allows it, so one artefact serves batch 1 and batch N.

An exporter (or runtime) that cannot handle a model raises ``RuntimeUnsupported`` with a one-line
reason: the scenario records an ``unsupported`` result, never a crash.

**Export once per cell.** A successful export leaves ``export.json`` in ``work_dir`` with its time and a
fingerprint of the module's weights, the inputs' shapes and dtypes and the runtime versions; a later
``build_runtime`` into the same ``work_dir`` with the same fingerprint loads the artefact instead of
exporting again (``reused`` True, ``export_s`` the first export's). The ONNX Runtime session is shared
by the frameworks' ``onnx`` modes (one runtime, two exporters), so it lives here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MARKER = "export.json"
# Where an artefact's output is flagged as not matching the framework's eager output (fp32, max abs).
PARITY_BOUND_FP32 = 1e-3


class RuntimeUnsupported(Exception):
    """This exporter or runtime cannot handle this model here; the message is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(one_line(reason))


@dataclass
class RuntimeHandle:
    """A loaded artefact, ready to call; everything a result records about its export."""

    mode: str
    call: Callable[..., np.ndarray]
    export_s: float  # the export (and conversion) alone, seconds
    load_s: float  # reading the artefact into its runtime (session, interpreter, package), seconds
    artefact_bytes: int  # the file, or the directory's files, the runtime loads
    runtime_versions: dict[str, str]  # exporter and runtime packages, and the artefact's format version
    threads: dict[str, int]  # the thread settings the runtime runs with, read back where it can be
    artefact: str = ""  # its path
    notes: str = ""  # what a reader must know about this runtime (legacy, converter warnings...)
    reused: bool = False  # loaded from an earlier export of the same module into the same work_dir
    extra: dict[str, Any] = field(default_factory=dict)


def one_line(text: object) -> str:
    """The first non-empty line of ``text``, at most 300 characters."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return (lines[0] if lines else "unknown reason")[:300]


def unsupported_from(exporter: str, exc: BaseException) -> RuntimeUnsupported:
    """The one-line reason of an exporter's failure on a model."""
    return RuntimeUnsupported(f"{exporter} failed: {type(exc).__name__}: {one_line(exc)}")


def check_mode(mode: str, runtimes: Sequence[str], framework: str) -> None:
    if mode not in runtimes:
        raise ValueError(f"{framework} builds no runtime {mode!r} (it builds {', '.join(runtimes)})")


def require(module: str, package: str) -> Any:
    """Import an optional runtime package, or say which one to install (RuntimeUnsupported)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise RuntimeUnsupported(f"{package} is not installed (pip install 'framebench[cpu]'): "
                                 f"{one_line(e)}") from None


def version_of(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def artefact_size(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def fingerprint(mode: str, arrays: Iterable[np.ndarray], example_inputs: Sequence[np.ndarray],
                versions: dict[str, str]) -> str:
    """What makes an artefact reusable: the mode, the weights, the inputs' shapes and dtypes, the versions."""
    h = hashlib.sha256(mode.encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    h.update(repr([(x.shape[1:], str(x.dtype)) for x in example_inputs]).encode())
    h.update(json.dumps(versions, sort_keys=True).encode())
    return h.hexdigest()


def export_once(work_dir: Path, artefact: Path, key: str, export: Callable[[], None]) -> tuple[float, bool]:
    """(export seconds, reused): run ``export`` unless ``work_dir`` holds an artefact made with ``key``."""
    marker = work_dir / MARKER
    try:
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("fingerprint") == key and artefact.exists():
            return float(done["export_s"]), True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    work_dir.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    _, seconds = timed(export)
    # Written last: a marker names a finished artefact only.
    marker.write_text(json.dumps({"fingerprint": key, "export_s": seconds, "artefact": artefact.name}),
                      encoding="utf-8")
    return seconds, False


# ------------------------------------------------------------------ ONNX Runtime (both frameworks' onnx)
def ort_versions() -> dict[str, str]:
    return {"onnxruntime": version_of("onnxruntime"), "onnx": version_of("onnx")}


def onnx_opset(path: Path) -> str:
    onnx = require("onnx", "onnx")
    model = onnx.load(str(path), load_external_data=False)
    return ",".join(str(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx"))


def ort_session(path: Path, threads: int, providers: Sequence[str] = ("CPUExecutionProvider",),
                input_names: Sequence[str] | None = None) -> tuple[Callable[..., np.ndarray], dict[str, int]]:
    """A callable over an ONNX Runtime session of ``path`` and the threads it runs with.

    Intra- and inter-op pools both ``threads`` (the inter-op pool only serves ORT_PARALLEL execution;
    the session runs sequentially, ORT's default), read back from the session's options. Inputs are
    fed by position in the order of ``input_names`` (default: the graph's own order)."""
    ort = require("onnxruntime", "onnxruntime")
    available = ort.get_available_providers()
    missing = [p for p in providers if p not in available]
    if missing:
        raise RuntimeUnsupported(f"onnxruntime {ort.__version__} has no {', '.join(missing)} "
                                 f"(it has {', '.join(available)})")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        session = ort.InferenceSession(str(path), options, providers=list(providers))
    except Exception as e:  # the runtime refuses the exported graph (an op or type it lacks)
        raise unsupported_from("onnxruntime session", e) from e
    graph_names = [i.name for i in session.get_inputs()]
    names = list(input_names) if input_names is not None else graph_names
    if sorted(names) != sorted(graph_names):
        raise RuntimeUnsupported(f"the ONNX graph's inputs {graph_names} are not the module's {names}")
    output = session.get_outputs()[0].name
    run = session.run

    def call(*inputs: np.ndarray) -> np.ndarray:
        return run([output], dict(zip(names, inputs, strict=True)))[0]

    used = session.get_session_options()
    return call, {"intra_op": int(used.intra_op_num_threads), "inter_op": int(used.inter_op_num_threads)}
