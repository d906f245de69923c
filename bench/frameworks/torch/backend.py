"""PyTorch backend of the worker (imports torch: only ever inside a torch cell's process).

Modes: eager (the model's train_step as is), compile (torch.compile default), reduce-overhead and
max-autotune (torch.compile(mode=...)). A compiled mode compiles the model's *modules* (the family's
``compile_modules`` hook: a GAN's generator and discriminator, a VAE's encoder and decoder, a U-Net),
as a torch user compiles them, and runs the same eager step around them: losses, ``backward`` and the
optimizer update stay eager Python. Compiling the whole step function instead makes the forward of
every module one graph whose compiled backward computes every gradient on each ``backward(inputs=...)``
call (+59% FLOPs for dcgan-mnist: scripts/count_step_flops.py).

Timing is the shared host-clock path of ``bench.frameworks.base``; ``sync`` is a full device
synchronisation (``torch.cuda.synchronize()``), and ``keep`` copies a step's losses out where a mode
replays CUDA graphs, whose outputs the next replay overwrites. Which modes do is read from Inductor's
own mode options (``torch._inductor.list_mode_options``), not from the mode's name.
"""

from __future__ import annotations

import importlib.metadata
import platform
import random
from collections.abc import Sequence
from typing import Any
from warnings import catch_warnings, simplefilter

import numpy as np
import torch

from bench.frameworks.base import Backend, Losses
from bench.frameworks.torch.ddp import ddp_wrapper, init_group, wrap_modules
from bench.frameworks.torch.optim import compile_optimizer_steps
from bench.lines import one_line

COMPILE_MODES = {"compile": None, "reduce-overhead": "reduce-overhead", "max-autotune": "max-autotune"}
COMPILE_DYNAMIC = False  # torch.compile(dynamic=...): static shapes (compiled_step says why)


def inductor_mode_options(mode: str | None) -> dict[str, Any]:
    """Inductor's options for a ``torch.compile(mode=...)`` mode (None: the default mode)."""
    from torch._inductor import list_mode_options

    return dict(list_mode_options(mode)) if mode else {}


def uses_cuda_graphs(cell_mode: str, device: str) -> bool:
    """Whether a cell replays CUDA graphs: a compiled mode whose Inductor options turn on
    ``triton.cudagraphs`` (reduce-overhead and max-autotune in torch 2.13), on CUDA."""
    if device != "cuda" or cell_mode not in COMPILE_MODES:
        return False
    return bool(inductor_mode_options(COMPILE_MODES[cell_mode]).get("triton.cudagraphs", False))


def compiled_step(model: Any, cell_mode: str, around: Any = None) -> tuple[Any, str]:
    """The train step of ``model`` for a torch mode, and what was compiled.

    eager: ``model.train_step``. Compiled modes: ``model.compile_modules(compile_fn)`` first, where the
    family has that hook (every built-in one), else the whole ``train_step`` is compiled.

    ``dynamic=False``: a cell's shapes never change. Without it, the second module compiled (a GAN's
    discriminator, a VAE's decoder) shares its frame with the first (the compiled module wrapper's
    code), Dynamo reads the other module's input shape as a shape change and recompiles it with
    symbolic sizes (automatic dynamic shapes): slower generic kernels (dcgan-mnist CPU, batch 64, one
    thread: 412 -> 386 ms per step). ``around``: what wraps each module first (DDP), compiled with it.
    """
    if cell_mode == "eager" or (around is not None and not hasattr(model, "compile_modules")):
        if around is not None:
            wrap_modules(model, around)  # raises where the family has no hook
        return model.train_step, "nothing"
    if cell_mode not in COMPILE_MODES:
        raise ValueError(f"unknown torch mode {cell_mode!r}")
    mode = COMPILE_MODES[cell_mode]
    if hasattr(model, "compile_modules"):
        model.compile_modules(lambda module: torch.compile(module if around is None else around(module),
                                                           mode=mode, dynamic=COMPILE_DYNAMIC))
        return model.train_step, "modules"
    return torch.compile(model.train_step, mode=mode, dynamic=COMPILE_DYNAMIC), "train_step"


def _dynamo_counters() -> Any:
    from torch._dynamo.utils import counters

    return counters


def _count_cuda_graphs() -> tuple[int | None, str | None]:
    """(CUDA graphs recorded by inductor's cudagraph trees in this thread, None when the count failed;
    the failure as one line). Private API: a torch release may move it, and the cell must say so."""
    try:
        from torch._inductor import cudagraph_trees

        manager = cudagraph_trees.get_manager(torch.cuda.current_device(), create_if_none_exists=False)
        if manager is None:
            return 0, None
        stack = [node for nodes in manager.roots.values() for node in nodes]
        n = 0
        while stack:
            node = stack.pop()
            n += 1
            stack.extend(child for children in node.children.values() for child in children)
        return n, None
    except Exception as e:
        return None, f"{type(e).__name__}: {one_line(str(e), 160)}"


def grad_scaler_syncs(optimizer: str) -> str:
    """What torch.amp.GradScaler makes the host wait for in each step, with this Adam implementation."""
    step = ("fused Adam takes found_inf on the device (no sync in scaler.step)" if optimizer == "fused"
            else "each scaler.step() reads found_inf with .item() (one sync per optimizer)")
    return f"{step}; get_scale() reads the scale with .item() (one sync): the step synchronises the host"


# Every TF32 switch of torch 2.9+, as (flag name, getter). The new per-backend API ("ieee"/"tf32"/"none",
# "none" inheriting from the backend's "all", then from the generic switch) and the legacy getters,
# which raise when the new switches contradict the legacy state they read.
def _tf32_getters() -> dict[str, Any]:
    b = torch.backends
    getters: dict[str, Any] = {
        "fp32_precision": lambda: b.fp32_precision,
        "tf32_matmul": lambda: b.cuda.matmul.fp32_precision,
        "cudnn_fp32_precision": lambda: b.cudnn.fp32_precision,
        "tf32_cudnn_conv": lambda: b.cudnn.conv.fp32_precision,
        "tf32_cudnn_rnn": lambda: b.cudnn.rnn.fp32_precision,
        "mkldnn_fp32_precision": lambda: b.mkldnn.fp32_precision,
        "mkldnn_matmul_fp32_precision": lambda: b.mkldnn.matmul.fp32_precision,
        "mkldnn_conv_fp32_precision": lambda: b.mkldnn.conv.fp32_precision,
        "mkldnn_rnn_fp32_precision": lambda: b.mkldnn.rnn.fp32_precision,
        "allow_tf32_matmul": lambda: bool(b.cuda.matmul.allow_tf32),
        "allow_tf32_cudnn": lambda: bool(b.cudnn.allow_tf32),
        "allow_tf32_onednn": lambda: bool(b.mkldnn.allow_tf32),  # Intel GPUs only; read, never set
        "float32_matmul_precision": torch.get_float32_matmul_precision,
    }
    return getters


def read_tf32_switches() -> dict[str, Any]:
    """Every TF32 switch's current value (a getter that raises reads as "error: <first line>")."""
    out: dict[str, Any] = {}
    with catch_warnings():
        simplefilter("ignore")  # the legacy getters warn that they are deprecated
        for name, get in _tf32_getters().items():
            try:
                out[name] = get()
            except (RuntimeError, AttributeError) as e:
                out[name] = f"error: {one_line(str(e), 120)}"
    return out


def apply_tf32(enabled: bool) -> dict[str, Any]:
    """TF32 for CUDA matmuls and cuDNN convolutions/RNNs, on or off, with every switch agreeing.

    torch 2.9+ has two APIs whose getters check each other: ``cuda.matmul.allow_tf32`` and
    ``get_float32_matmul_precision()`` raise unless the legacy matmul precision matches
    ``cuda.matmul.fp32_precision``, and ``cudnn.allow_tf32`` raises unless the legacy cuDNN flag
    matches both ``cudnn.conv`` and ``cudnn.rnn``. So the legacy setters set the legacy state (they
    also set their new switches), then every new switch is set explicitly: generic, CUDA matmul,
    cuDNN (all, conv, rnn). oneDNN (CPU) stays "ieee" either way: TF32 is a CUDA setting here, and an
    fp32 CPU cell must not let oneDNN round to TF32/bf16 where the CPU could. Inductor reads
    ``get_float32_matmul_precision()`` (max-autotune), so no getter may raise. Returns every switch.
    """
    value = "tf32" if enabled else "ieee"
    b = torch.backends
    with catch_warnings():
        simplefilter("ignore")  # the legacy setters warn that they are deprecated
        b.cuda.matmul.allow_tf32 = enabled  # legacy matmul precision "high"/"highest" + cuda.matmul
        b.cudnn.allow_tf32 = enabled  # legacy cuDNN flag (+ conv/rnn "tf32", or "none" when off)
        b.fp32_precision = value
        b.cuda.matmul.fp32_precision = value
        b.cudnn.fp32_precision = value
        b.cudnn.conv.fp32_precision = value
        b.cudnn.rnn.fp32_precision = value
        # torch 2.13's ``mkldnn.fp32_precision`` setter writes the *generic* switch (its getter reads
        # oneDNN's): oneDNN's "all" is set through the setter both of them wrap.
        torch._C._set_fp32_precision_setter("mkldnn", "all", "ieee")
        for mod in (b.mkldnn.matmul, b.mkldnn.conv, b.mkldnn.rnn):
            mod.fp32_precision = "ieee"
    out = read_tf32_switches()
    out["tf32_api"] = "fp32_precision"
    return out


class TorchBackend(Backend):
    framework = "torch"
    generate_hooks = "bench.frameworks.torch.generate"  # the generate scenario's modes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cuda = self.cell.device == "cuda"
        self.torch_device = torch.device(self.device_name())
        # Derived from Inductor's options for the mode (triton.cudagraphs), not from its name.
        self.cuda_graph_mode = uses_cuda_graphs(self.cell.mode, self.cell.device)

    def setup(self) -> None:
        p = self.plan
        f = self.flags
        if self.cuda and self.device_index:
            # Calls that take the current device (the allocator's statistics, cudagraph trees) follow
            # the rank's own device; device 0, the one-rank case, is left as torch starts.
            torch.cuda.set_device(self.torch_device)
        # Threads first: set_num_interop_threads fails once inter-op work has started.
        torch.set_num_threads(p["intra_op_threads"])
        try:
            torch.set_num_interop_threads(p["inter_op_threads"])
        except RuntimeError as e:  # already started (e.g. a test imported torch earlier)
            f["inter_op_threads_error"] = str(e).splitlines()[0]
        f["intra_op_threads"] = torch.get_num_threads()
        f["inter_op_threads"] = torch.get_num_interop_threads()
        if self.world_size > 1:  # after the threads: the group's threads start with it
            f.update(init_group(self.cell.device, self.device_index, self.rank, self.world_size,
                                self.settings.time_limit_s, f["intra_op_threads"]))
        random.seed(p["seed"])
        np.random.seed(p["seed"])
        torch.manual_seed(p["seed"])  # CUDA generators too
        f["seed"] = p["seed"]
        f.update(apply_tf32(p["tf32"]))
        f["tf32_label"] = p.get("tf32_label")
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
            v["gpu"] = torch.cuda.get_device_name(self.device_index)
            cap = torch.cuda.get_device_capability(self.device_index)
            v["gpu_capability"] = f"{cap[0]}.{cap[1]}"
        return v

    def device_available(self) -> str | None:
        if self.cuda and not torch.cuda.is_available():
            build = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda}"
            return f"no CUDA device visible to torch {torch.__version__} (built {build})"
        if self.cuda and self.device_index >= torch.cuda.device_count():
            return f"no CUDA device {self.device_index} ({torch.cuda.device_count()} visible to torch)"
        return None

    def build(self, family: Any, spec: Any, batch_size: int, inputs: Sequence[Any]) -> None:
        self.build_model(family, spec, batch_size, inputs, channels_last=self.plan["channels_last"],
                         optimizer=self.plan["optimizer"])
        autocast = getattr(self.model, "autocast_dtype", None)
        self.flags["autocast_dtype"] = str(autocast).replace("torch.", "") if autocast is not None else None
        self.flags["grad_scaler"] = getattr(self.model, "scaler", None) is not None
        if self.flags["grad_scaler"] and self.cuda:  # the throughput window is not "one sync at its end"
            self.flags["grad_scaler_host_syncs"] = grad_scaler_syncs(self.plan["optimizer"])
        images = [t for t in self.batches[0] if isinstance(t, torch.Tensor) and t.dim() == 4]
        if self.plan["channels_last"] and images:
            self.flags["inputs_channels_last"] = all(
                t.is_contiguous(memory_format=torch.channels_last) for t in images)
        self.sync()

    def wrap(self) -> None:
        mode, ddp = self.cell.mode, self.world_size > 1  # the DDP wrapper times the all-reduces too
        around = self.comm_timer = ddp_wrapper(self.cell.device, self.device_index) if ddp else None
        self.step_fn, compiled = compiled_step(self.model, mode, around)
        f = self.flags
        f.update(getattr(self.model, "flags", None) or {})  # what compile_modules compiled
        if self.plan.get("compile_optimizer"):
            f["compiled_optimizers"] = ", ".join(compile_optimizer_steps(self.model)) or "none found"
            compiled += " + optimizer step"
        if mode in COMPILE_MODES:
            f["compile_mode"] = COMPILE_MODES[mode] or "default"
            f["compile_scope"] = compiled  # "modules" (the family's compile_modules) or "train_step"
            f["compile_dynamic"] = COMPILE_DYNAMIC
            options = inductor_mode_options(COMPILE_MODES[mode])
            f["inductor_mode_options"] = ", ".join(f"{k}={v}" for k, v in sorted(options.items())) or "none"
            f["cuda_graphs_expected"] = self.cuda_graph_mode

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
            out["cuda_graphs"], out["cuda_graphs_error"] = _count_cuda_graphs()
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
            if n_graphs is None:  # unknown, not False: the counter failed
                f["cuda_graphs_used"] = None
                warnings.append(f"could not count the CUDA graphs ({after.get('cuda_graphs_error')}): "
                                "whether the cell replayed CUDA graphs is unknown")
            else:
                f["cuda_graphs_used"] = n_graphs > 0 and after["cudagraph_skips"] == 0
            if after["cudagraph_skips"] > 0:
                warnings.append(f"CUDA graphs skipped {after['cudagraph_skips']} time(s) "
                                "(see the log for inductor's reason)")
            if n_graphs == 0:
                warnings.append(f"{self.cell.mode} recorded no CUDA graph: the cell ran without CUDA graphs")
            grown = (n_graphs or 0) - (before.get("cuda_graphs") or 0)
            if grown > 0:
                warnings.append(f"{grown} CUDA graph(s) recorded during the timed steps")
        return recompiles, warnings

    def memory_peaks(self) -> dict[str, int | None]:
        if not self.cuda or not torch.cuda.is_available():
            return super().memory_peaks()
        return {"device_alloc_peak_bytes": int(torch.cuda.max_memory_allocated(self.torch_device)),
                "device_reserved_peak_bytes": int(torch.cuda.max_memory_reserved(self.torch_device))}

    def reset_memory_peaks(self) -> bool:
        if not self.cuda or not torch.cuda.is_available():
            return False
        torch.cuda.reset_peak_memory_stats(self.torch_device)
        return True

    def is_oom(self, exc: BaseException) -> bool:
        return isinstance(exc, torch.cuda.OutOfMemoryError)


BACKEND = TorchBackend
