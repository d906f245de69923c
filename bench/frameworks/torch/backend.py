"""PyTorch backend of the worker (imports torch: only ever inside a torch cell's process).

Modes: eager (the model's train_step as is), compile (torch.compile default), reduce-overhead and
max-autotune (torch.compile(mode=...)). On CUDA each step is timed with a pair of CUDA events and
the device is synchronised once per phase, so timing does not serialise host and device; on CPU a
step is synchronous and ``loss.item()`` ends it.
"""

from __future__ import annotations

import importlib.metadata
import platform
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ...lines import one_line
from ..base import Backend, Losses

COMPILE_MODES = {"compile": None, "reduce-overhead": "reduce-overhead", "max-autotune": "max-autotune"}


def _dynamo_counters() -> Any:
    from torch._dynamo.utils import counters

    return counters


def _count_cuda_graphs() -> int | None:
    """CUDA graphs recorded by inductor's cudagraph trees in this thread (None if unknowable)."""
    try:
        from torch._inductor import cudagraph_trees

        manager = cudagraph_trees.get_manager(torch.cuda.current_device(), create_if_none_exists=False)
        if manager is None:
            return 0
        stack = [node for nodes in manager.roots.values() for node in nodes]
        n = 0
        while stack:
            node = stack.pop()
            n += 1
            stack.extend(child for children in node.children.values() for child in children)
        return n
    except Exception:
        return None


def apply_tf32(enabled: bool) -> dict[str, Any]:
    """TF32 for matmul and cuDNN convolutions, on or off; returns the effective settings.

    torch >= 2.9 has per-backend ``fp32_precision`` switches and raises if they are mixed with the
    legacy ``allow_tf32`` flags, so only the new API is used where it exists.
    """
    value = "tf32" if enabled else "ieee"
    matmul = torch.backends.cuda.matmul
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(matmul, "fp32_precision") and conv is not None and hasattr(conv, "fp32_precision"):
        matmul.fp32_precision = value
        conv.fp32_precision = value
        rnn = getattr(torch.backends.cudnn, "rnn", None)
        if rnn is not None and hasattr(rnn, "fp32_precision"):
            rnn.fp32_precision = value
        return {"tf32_matmul": matmul.fp32_precision, "tf32_cudnn_conv": conv.fp32_precision,
                "tf32_api": "fp32_precision"}
    matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    return {"tf32_matmul": bool(matmul.allow_tf32), "tf32_cudnn_conv": bool(torch.backends.cudnn.allow_tf32),
            "tf32_api": "allow_tf32", "float32_matmul_precision": torch.get_float32_matmul_precision()}


class TorchBackend(Backend):
    framework = "torch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cuda = self.cell.device == "cuda"
        self.torch_device = torch.device("cuda:0" if self.cuda else "cpu")
        self.cuda_graph_mode = self.cell.mode == "reduce-overhead"

    def setup(self) -> None:
        p = self.plan
        f = self.flags
        # Threads first: set_num_interop_threads fails once inter-op work has started.
        torch.set_num_threads(p["intra_op_threads"])
        try:
            torch.set_num_interop_threads(p["inter_op_threads"])
        except RuntimeError as e:  # already started (e.g. a test imported torch earlier)
            f["inter_op_threads_error"] = str(e).splitlines()[0]
        f["intra_op_threads"] = torch.get_num_threads()
        f["inter_op_threads"] = torch.get_num_interop_threads()
        random.seed(p["seed"])
        np.random.seed(p["seed"])
        torch.manual_seed(p["seed"])  # CUDA generators too
        f["seed"] = p["seed"]
        f.update(apply_tf32(p["tf32"]))
        torch.backends.cudnn.benchmark = bool(p["cudnn_benchmark"])
        torch.backends.cudnn.deterministic = bool(p["deterministic"])
        f["cudnn_benchmark"] = torch.backends.cudnn.benchmark
        f["cudnn_deterministic"] = torch.backends.cudnn.deterministic
        # warn_only: an op without a deterministic kernel warns (in the log) instead of failing the cell.
        torch.use_deterministic_algorithms(bool(p["deterministic"]), warn_only=True)
        f["deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
        f["channels_last"] = bool(p["channels_last"])
        f["precision"] = p["precision"]
        f["compile_cache"] = p["compile_cache"]
        f["sync"] = p["sync"]
        f["mkldnn_enabled"] = bool(torch.backends.mkldnn.enabled)

    def versions(self) -> dict[str, Any]:
        v: dict[str, Any] = {
            "framework": "torch",
            "framework_version": torch.__version__,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": None,
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
        try:
            v["triton"] = importlib.metadata.version("triton")
        except importlib.metadata.PackageNotFoundError:
            v["triton"] = None
        if self.cuda and torch.cuda.is_available():
            v["cudnn"] = torch.backends.cudnn.version()
            v["gpu"] = torch.cuda.get_device_name(0)
            cap = torch.cuda.get_device_capability(0)
            v["gpu_capability"] = f"{cap[0]}.{cap[1]}"
        return v

    def device_available(self) -> str | None:
        if self.cuda and not torch.cuda.is_available():
            build = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda}"
            return f"no CUDA device visible to torch {torch.__version__} (built {build})"
        return None

    def build(self, family: Any, spec: Any, batch_size: int, inputs: Sequence[Any]) -> None:
        self.build_model(family, spec, batch_size, inputs, channels_last=self.plan["channels_last"])
        autocast = getattr(self.model, "autocast_dtype", None)
        self.flags["autocast_dtype"] = str(autocast).replace("torch.", "") if autocast is not None else None
        self.flags["grad_scaler"] = getattr(self.model, "scaler", None) is not None
        images = [t for t in self.batches[0] if isinstance(t, torch.Tensor) and t.dim() == 4]
        if self.plan["channels_last"] and images:
            self.flags["inputs_channels_last"] = all(
                t.is_contiguous(memory_format=torch.channels_last) for t in images)
        self.sync()

    def wrap(self) -> None:
        mode = self.cell.mode
        if mode == "eager":
            self.step_fn = self.model.train_step
        elif mode in COMPILE_MODES:
            self.step_fn = torch.compile(self.model.train_step, mode=COMPILE_MODES[mode])
            self.flags["compile_mode"] = COMPILE_MODES[mode] or "default"
        else:
            raise ValueError(f"unknown torch mode {mode!r}")

    def call(self, i: int) -> Any:
        if self.cuda_graph_mode:
            # Each call is a new training iteration: lets cudagraph trees reuse the previous
            # iteration's memory (documented use of torch.compiler.cudagraph_mark_step_begin).
            torch.compiler.cudagraph_mark_step_begin()
        return super().call(i)

    def _stack(self, handle: Any) -> torch.Tensor:
        """The losses of a step as one float32 tensor, in the family's loss order."""
        if isinstance(handle, torch.Tensor):  # already kept
            return handle
        return torch.stack([handle[name].detach().float() for name in self.loss_names])

    def keep(self, handle: Any) -> Any:
        if self.cuda_graph_mode:
            # Outputs of a CUDA graph replay are overwritten by the next replay: copy them out.
            return self._stack(handle)
        return handle

    def fetch(self, handle: Any) -> Losses:
        if isinstance(handle, torch.Tensor):
            return self.named(handle.tolist())
        return {name: float(handle[name].item()) for name in self.loss_names}

    def fetch_many(self, handles: Sequence[Any]) -> list[Losses]:
        if not handles:
            return []
        # One device-to-host copy for all of them.
        stacked = torch.stack([self._stack(h) for h in handles]).cpu()
        return [self.named(row) for row in stacked.tolist()]

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def time_steps(self, start: int, n: int) -> list[tuple[float, Losses]]:
        if not self.cuda:
            return super().time_steps(start, n)
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
        handles = []
        self.sync()
        for k, i in enumerate(range(start, start + n)):
            starts[k].record()
            h = self.call(i)
            ends[k].record()
            handles.append(self.keep(h))
        torch.cuda.synchronize()  # once for the phase
        times = [s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends, strict=True)]
        return list(zip(times, self.fetch_many(handles), strict=True))

    # ---------------------------------------------------------------- compile/recompile checks
    def compile_counters(self) -> dict[str, Any]:
        if self.cell.mode == "eager":
            return {}
        c = _dynamo_counters()
        out = {
            "frames": int(c["frames"].get("total", 0)),
            "unique_graphs": int(c["stats"].get("unique_graphs", 0)),
            "graph_breaks": int(sum(c["graph_break"].values())),
            # Reasons are multi-line explanations: keep the first line of a few.
            "graph_break_reasons": sorted({one_line(k, 160) for k in c["graph_break"]})[:5],
            "cudagraph_skips": int(c["inductor"].get("cudagraph_skips", 0)),
            # Hits vs misses show whether the compile cache was warm.
            "fxgraph_cache_hits": int(c["inductor"].get("fxgraph_cache_hit", 0)),
            "fxgraph_cache_misses": int(c["inductor"].get("fxgraph_cache_miss", 0)),
            "autograd_cache_hits": int(c["aot_autograd"].get("autograd_cache_hit", 0)),
            "autograd_cache_misses": int(c["aot_autograd"].get("autograd_cache_miss", 0)),
        }
        if self.cuda:
            out["cuda_graphs"] = _count_cuda_graphs()
        return out

    def compile_report(self, before: dict[str, Any], after: dict[str, Any]) -> tuple[int | None, list[str]]:
        if self.cell.mode == "eager" or not after:
            return None, []
        recompiles = after["frames"] - before.get("frames", 0)
        warnings: list[str] = []
        f = self.flags
        f["dynamo_frames_compiled"] = after["frames"]
        f["dynamo_graphs"] = after["unique_graphs"]
        f["graph_breaks"] = after["graph_breaks"]
        f["cudagraph_skips"] = after["cudagraph_skips"]
        for k in ("fxgraph_cache_hits", "fxgraph_cache_misses",
                  "autograd_cache_hits", "autograd_cache_misses"):
            f[k] = after[k]
        if recompiles > 0:
            warnings.append(f"torch.compile recompiled {recompiles} time(s) during the timed steps")
        if after["graph_breaks"] > 0:
            reasons = "; ".join(after["graph_break_reasons"])
            warnings.append(f"{after['graph_breaks']} graph break(s): {reasons}")
        if self.cuda_graph_mode:
            n_graphs = after.get("cuda_graphs")
            f["cuda_graphs_recorded"] = n_graphs
            f["cuda_graphs_used"] = bool(n_graphs) and after["cudagraph_skips"] == 0
            if after["cudagraph_skips"] > 0:
                warnings.append(f"CUDA graphs skipped {after['cudagraph_skips']} time(s) "
                                "(see the log for inductor's reason)")
            if n_graphs == 0:
                warnings.append("reduce-overhead recorded no CUDA graph: the cell ran without CUDA graphs")
            grown = (n_graphs or 0) - (before.get("cuda_graphs") or 0)
            if grown > 0:
                warnings.append(f"{grown} CUDA graph(s) recorded during the timed steps")
        return recompiles, warnings

    def memory_peaks(self) -> dict[str, int | None]:
        if not self.cuda or not torch.cuda.is_available():
            return super().memory_peaks()
        return {"device_alloc_peak_bytes": int(torch.cuda.max_memory_allocated()),
                "device_reserved_peak_bytes": int(torch.cuda.max_memory_reserved())}

    def is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, torch.cuda.OutOfMemoryError)


BACKEND = TorchBackend
