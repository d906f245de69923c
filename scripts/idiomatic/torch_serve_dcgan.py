"""A harness-free PyTorch serving loop for a DCGAN's generator, written as a PyTorch user serves it.

The reference that the project's torch ``generate`` cells are checked against (issue 20). The
generator, its weights and the noise are the project's (``models.gan``: the same module the harness
serves, so the same shapes, weights and first image); nothing of ``bench`` is imported.

    python scripts/idiomatic/torch_serve_dcgan.py --mode eager --threads 2
    python scripts/idiomatic/torch_serve_dcgan.py --mode onnx --threads 2

Modes: ``eager`` (the module after ``eval()``, every call under ``torch.inference_mode()``),
``compile`` (``torch.compile(module, dynamic=False)``, as the harness compiles it) and ``onnx``
(``torch.onnx.export(dynamo=True)`` into a temporary directory with a dynamic batch axis, as the
harness's artefact, then an ONNX Runtime ``InferenceSession`` on the CPU execution provider, intra-op
= inter-op = ``--threads``, sequential execution). Export and load happen before the first call.

What one timed call includes, the harness's timed call exactly (bench/frameworks/torch/generate.py,
runtimes.py):

- eager, compile: the generator on the batch-1 z tensor (made from numpy once, before any call), the
  images' mean, read with ``.item()`` (which waits for the images);
- onnx: ``session.run`` on the numpy z (ONNX Runtime copies it in and the images out as numpy), and
  the images' numpy mean.

Calls: one first call, then warm-up calls until both ``--warmup`` calls and ``--warmup-s`` seconds of
calls, then timed calls until both ``--calls`` and ``--min-s`` (the quick profile's generate settings
by default: 3 / 0.5 s, 5 / 1 s). Each call is timed with ``time.perf_counter``. z is drawn with numpy
from the seed as the harness draws it. Prints ONE JSON line on stdout: ``median_s`` is the p50.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project's models/ (not bench)

from models.gan import torch_dcgan
from models.gan.spec import SPECS

MODES = ("eager", "compile", "onnx")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (no usage block)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(SPECS), default="dcgan-mnist")
    p.add_argument("--mode", choices=MODES, default="eager")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads / ORT intra-op (default 2)")
    p.add_argument("--interop", type=int, default=None,
                   help="torch.set_num_interop_threads / ORT inter-op (default: --threads)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up calls at least (default 3)")
    p.add_argument("--warmup-s", type=float, default=0.5, help="warm-up seconds at least (default 0.5)")
    p.add_argument("--calls", type=int, default=5, help="timed calls at least (default 5)")
    p.add_argument("--min-s", type=float, default=1.0, help="timed seconds at least (default 1)")
    p.add_argument("--seed", type=int, default=0, help="weights and z (default 0)")
    a = p.parse_args(argv)
    a.interop = a.threads if a.interop is None else a.interop
    if a.threads < 1 or a.interop < 1 or a.calls < 1 or a.warmup < 0 or a.warmup_s < 0 or a.min_s < 0 \
            or a.seed < 0:
        p.error("--threads, --interop, --calls must be >= 1; --warmup, --warmup-s, --min-s, --seed >= 0")
    return a


def onnx_session(generator: torch.nn.Module, z: np.ndarray, threads: int, interop: int,
                 work: Path, info: dict) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    path = work / "generator.onnx"
    t0 = time.perf_counter()
    # An example of batch 1 would fix the batch axis at 1 in torch.export: two copies, a dynamic axis.
    example = (torch.from_numpy(np.concatenate([z, z])),)
    batch = torch.export.Dim("batch", min=1, max=4096)
    with contextlib.redirect_stdout(sys.stderr):  # the exporter's progress lines; stdout is the JSON line
        program = torch.onnx.export(generator, example, dynamo=True, input_names=["z"],
                                    output_names=["images"], dynamic_shapes=({0: batch},), verbose=False)
    program.save(str(path))
    t1 = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = interop
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    info.update(export_s=t1 - t0, load_s=time.perf_counter() - t1, onnxruntime=ort.__version__)
    return lambda x: session.run(["images"], {"z": x})[0]


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(a.interop)
    spec = SPECS[a.model]
    generator = torch_dcgan.build(spec, batch_size=1, seed=a.seed).generator.eval()
    z = np.random.default_rng([a.seed, 23]).standard_normal((1, spec.noise_dim), dtype=np.float32)
    info: dict = {}
    work = tempfile.TemporaryDirectory(prefix="torch_serve_")

    if a.mode == "onnx":
        run = onnx_session(generator, z, a.threads, a.interop, Path(work.name), info)

        def generate() -> float:
            return float(np.mean(run(z)))
    else:
        net = torch.compile(generator, dynamic=False) if a.mode == "compile" else generator
        z_t = torch.from_numpy(z)

        def generate() -> float:
            with torch.inference_mode():
                return net(z_t).mean().item()

    def timed() -> tuple[float, float]:
        t0 = time.perf_counter()
        value = generate()
        return time.perf_counter() - t0, value

    def calls(count: int, min_s: float) -> list[float]:
        times: list[float] = []
        while len(times) < count or sum(times) < min_s:
            times.append(timed()[0])
        return times

    first_s, first_value = timed()
    warm = calls(a.warmup, a.warmup_s)
    times = calls(a.calls, a.min_s)
    work.cleanup()
    print(json.dumps({
        "median_s": statistics.median(times), "calls": len(times), "times_s": times,
        "first_call_s": first_s, "warmup_times_s": warm, "losses_first": {"image_mean": first_value},
        "framework": "torch", "version": torch.__version__, "python": platform.python_version(),
        "model": a.model, "batch": 1, "mode": a.mode, "threads": torch.get_num_threads(),
        "interop": torch.get_num_interop_threads(), "seed": a.seed, "warmup": a.warmup,
        "warmup_s": a.warmup_s, "min_calls": a.calls, "min_s": a.min_s, **info,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
