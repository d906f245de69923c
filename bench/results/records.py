"""Plain records passed between stages (parent ↔ worker ↔ store ↔ report), as dataclasses ↔ JSON.

Never a live framework object. Field names here are the column names of the stored results and of
the DataFrames that ``bench.results.load.load_run`` returns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bench.cell import Cell

__all__ = ["SCALING_RULES", "SCHEMA_VERSION", "STEP_PHASES", "Cell", "CellResult", "RunSettings",
           "StepRecord", "per_rank_batch"]

# 2: named losses (final_losses, StepRecord.losses); schema-1 files are migrated on load
# (bench.results.migrations).
# 3: processes as the unit: a cell is measured in ``repeats`` fresh processes, one CellResult (and one
#    steps file) per process, with its repeat, block and place in the run's order; schema-2 files read
#    as repeat 1 of a one-process cell.
# 4: the CI of a process's median is step_time_ci_low_s/high_s with its coverage step_time_ci_coverage
#    (schema 3's step_time_ci95_* held 93.75-97.9%, not 95%); older files are read under the new names.
# 5: the cell's axes ``scenario`` and ``workers`` are stored in every result. The version moves because a
#    schema-4 reader refuses a result with fields it never saw (its cell files forbid extra keys): it now
#    says "unsupported schema 5" instead. Older files read as train / 1 worker (bench.results.migrations).
# Cell ids
#    leave both out at train / 1 (bench.cell), so no file name, planned cell or baseline key changes.
SCHEMA_VERSION = 5
# The phases of a cell's steps, in the order the worker runs them (StepRecord.phase).
STEP_PHASES: tuple[str, ...] = ("first", "warmup", "timed", "window")
# How a cell of several ranks splits its batch (RunSettings.scaling), as its flag ``global_batch_rule``
# says it. One rank: both rules are the same cell.
SCALING_RULES: dict[str, str] = {
    "weak": "weak scaling: per-rank batch = the cell's batch, global batch = ranks x batch",
    "strong": "strong scaling: global batch = the cell's batch, per-rank batch = batch / ranks",
}


def per_rank_batch(batch: int, ranks: int, scaling: str) -> int:
    """The batch each of ``ranks`` trains under the rule; ValueError when strong scaling cannot split it."""
    if scaling not in SCALING_RULES:
        raise ValueError(f"unknown scaling rule {scaling!r} (valid: {', '.join(SCALING_RULES)})")
    if scaling == "weak" or ranks <= 1:
        return batch
    if batch % ranks:
        raise ValueError(f"strong scaling: the global batch {batch} does not split across {ranks} ranks")
    return batch // ranks


@dataclass(frozen=True)
class RunSettings:
    """How cells are measured: the same for every cell of a run (hence comparable)."""

    profile: str = "quick"
    steps: int = 10  # timed steps, each synchronised
    warmup: int = 2  # warm-up steps after the first step (first step timed separately)
    window_steps: int = 10  # steps in the throughput window (one sync at its end); 0: none
    seed: int = 0
    n_batches: int = 4  # distinct (real, noise) batches resident on the device, cycled
    intra_op_threads: int = 0  # 0: number of physical cores of the machine
    inter_op_threads: int = 0  # 0: physical cores (both frameworks' own default pool size)
    tf32: bool = False  # TF32 for matmul and convolution, both frameworks alike
    cudnn_benchmark: bool = True  # cuDNN autotuning, where a framework has the switch
    deterministic: bool = False
    time_limit_s: float = 900.0  # per process, wall clock, its start included
    data: str = "synthetic"  # "synthetic" or a path to mnist.npz / an IDX images file
    memory_sample_interval_s: float = 0.05
    repeats: int = 3  # fresh processes per cell (the unit of replication)
    # Where a framework keeps a persistent compile cache: "cold" (every process compiles from an empty
    # one) or "shared" (a cell's processes share one: the first compiles cold, the later ones start
    # warm; their cache hits are in the flags).
    compile_cache: str = "cold"
    # The generate scenario (bench/scenarios/generate.py): its warm-up and its timed calls each run
    # until both their count (warmup, steps) and this many seconds are reached; S, the denoising steps
    # of a sampler's call.
    generate_warmup_min_s: float = 0.5
    generate_min_s: float = 2.0
    denoising_steps: int = 4
    # The batch rule of cells of several ranks (SCALING_RULES): a run measures one, so a baseline, the
    # gate and a merge of shards never put a weak-scaling cell beside a strong one (bench.same_settings).
    scaling: str = "weak"
    # The machines a cell's ranks span (bench.launchers.engine): ``nodes`` of them, this one's index,
    # the rendezvous HOST:PORT of node 0 and the TF_CONFIG workers' HOST:PORT list, comma-
    # separated (one per node or one per rank; "" on one machine). Each node stores its own run.
    nodes: int = 1
    node_rank: int = 0
    master: str = ""
    tf_workers: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSettings:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass
class CellResult:
    """What one process of a cell measured. One JSON file per process; one row per process in the
    cells DataFrame (``bench.analysis.aggregate`` turns a cell's processes into its summary).

    Times in seconds, memory in bytes, FLOPs as counts. ``None`` where not measured (e.g. device
    memory on CPU) or not reached (a failed cell).
    """

    cell: Cell
    status: str  # bench.vocab.CELL_STATUSES
    # Replication: which of the cell's processes this is (1-based), the schedule block it ran in
    # (0-based; a block holds every cell of one model once) and its place in the run's order (0-based).
    repeat: int = 1
    block: int | None = None
    order: int | None = None
    reason: str | None = None  # skip reason / one-line failure message
    error_tail: str | None = None  # last lines of the worker's stderr on failure
    settings: dict[str, Any] = field(default_factory=dict)  # RunSettings.to_dict()
    flags: dict[str, Any] = field(default_factory=dict)  # effective perf/numeric flags, as set
    versions: dict[str, Any] = field(default_factory=dict)  # framework, cuda, cudnn, python...
    # Warm-up (compile/trace) is reported, never dropped.
    time_to_first_step_s: float | None = None
    warmup_step_times_s: list[float] = field(default_factory=list)
    # Steady state: per-step synchronised times.
    n_steps: int = 0
    step_time_median_s: float | None = None
    step_time_mean_s: float | None = None
    step_time_std_s: float | None = None
    step_time_min_s: float | None = None
    step_time_p10_s: float | None = None
    step_time_p90_s: float | None = None
    step_time_iqr_s: float | None = None
    step_time_cv: float | None = None
    # The order-statistic CI of the median (bench.stats.median_ci) and its exact coverage (a fraction:
    # 0.9375 for 5 steps, at least 0.95 from 6 on). Schema 3 called them step_time_ci95_low/high_s.
    step_time_ci_low_s: float | None = None
    step_time_ci_high_s: float | None = None
    step_time_ci_coverage: float | None = None
    # (median of the first half − median of the second half) / median: far from 0, the timed steps
    # were not yet steady (a longer warm-up is needed).
    step_time_drift: float | None = None
    # Headline throughput: a window of steps with one sync at its end.
    window_steps: int = 0
    window_time_s: float | None = None
    throughput_img_s: float | None = None
    # The generate scenario (step_time_* are then its batch-1 latency per call, throughput_img_s its
    # images/s at batch throughput_batch): the latency's 99th percentile, the model's build (with its
    # generative module wrapped for the mode) and the cold start (build + first call), the denoising
    # steps of one call and the median latency per denoising step (the call's over S).
    latency_p99_s: float | None = None
    build_s: float | None = None
    cold_start_s: float | None = None
    throughput_batch: int | None = None
    denoising_steps: int | None = None
    step_latency_median_s: float | None = None
    # Compute.
    flops_per_step: float | None = None
    achieved_flops: float | None = None  # flops_per_step / step_time_median_s
    peak_flops: float | None = None  # measured by the device probe (roofline), when run
    fraction_of_peak: float | None = None
    # Recompilation during the timed steps (a compiled mode silently falling back shows here).
    recompiles: int | None = None
    compile_warnings: list[str] = field(default_factory=list)
    # Memory.
    peak_rss_bytes: int | None = None  # RUSAGE_SELF: this process (an in-process compiler included)
    peak_rss_children_bytes: int | None = None  # RUSAGE_CHILDREN: its largest finished child (compilers)
    rss_after_import_bytes: int | None = None  # RSS right after the framework import
    device_alloc_peak_bytes: int | None = None  # the framework allocator's peak of allocated memory
    device_reserved_peak_bytes: int | None = None  # its peak of reserved memory, where it tells
    device_alloc_steady_peak_bytes: int | None = None  # allocated peak after the warm-up (peaks reset)
    nvml_peak_bytes: int | None = None  # process memory seen by the driver (fair across frameworks)
    nvml_steady_peak_bytes: int | None = None  # the same, after the warm-up
    gpu_util_mean: float | None = None  # percent, sampled during the timed steps
    # Losses after the last step, by the model family's loss names (the curves are in the steps).
    final_losses: dict[str, float] = field(default_factory=dict)
    # Bookkeeping.
    wall_s: float | None = None
    started_at: str | None = None  # ISO 8601 UTC
    finished_at: str | None = None
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        cell = d.pop("cell")
        return {"cell_id": self.cell.cell_id, **cell, **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellResult:
        cell = Cell.from_dict(d)
        names = {f.name for f in fields(cls)} - {"cell"}
        return cls(cell=cell, **{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class StepRecord:
    """One train step of one cell: one row per step in the steps DataFrame."""

    cell_id: str
    step: int  # 0-based, over the whole process (first, warm-up, timed, window)
    phase: str  # STEP_PHASES
    step_time_s: float | None  # None inside the throughput window (no per-step sync there)
    losses: dict[str, float]  # the model family's loss names -> value after this step
    repeat: int = 1  # the process (CellResult.repeat) this step belongs to

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
