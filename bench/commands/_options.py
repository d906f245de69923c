"""What several commands share: the exit-status help, the measurement options and their parsing."""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.axes import describe
from bench.cell import IMPLICIT_DEFAULTS
from bench.errors import BenchError
from bench.frameworks.registry import framework_names, get_framework
from bench.inputs import at_least, check_output_dir, positive_float
from bench.plan.matrix import LIST_FILTERS, Filters, filters_from
from bench.plan.profiles import OVERRIDABLE, describe_defaults
from bench.plan.request import RunRequest
from bench.plan.scaleout import RUN_OPTIONS
from bench.results import find
from bench.results.paths import DEFAULT_RUNS_ROOT
from bench.results.records import SCALING_RULES
from bench.vocab import PROFILES

REPORTS_ROOT = DEFAULT_RUNS_ROOT.parent  # reports/: runs/, baselines/, the Markdown pages

EXIT_CODES_HELP = """\
exit status:
  0    every runnable cell produced a result (ok, diverged, skipped or unsupported)
  1    at least one cell failed, timed out or ran out of memory (the run still completed
       every other cell; the failures are listed and stored with their reason and log)
  2    bad input (unknown model/mode/framework/device/precision/variant, bad option value,
       unusable --data or output path, corrupt stored run, settings that differ from the run
       being resumed, a file that cannot be read or written); one line; nothing was run
  3    internal error (a bug: the traceback is printed; please report it)
  130  interrupted (Ctrl-C): finished cells are kept; continue with --resume
"""


def threshold(text: str) -> float:
    """An argparse type for a threshold: "10%" or "0.10". A bare number >= 1 ("10") is refused: 10
    would mean +1000%."""
    from bench.gate.config import parse_threshold  # not at import: the parser stays light

    try:
        return parse_threshold(text)
    except BenchError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def python_example() -> str:
    """An example --python value (help texts)."""
    fw = framework_names()[0]
    return f"{fw}=/envs/{fw}/bin/python"


def add_filter_options(p: argparse.ArgumentParser) -> None:
    """One list filter per axis of the cell (bench.plan.matrix.LIST_FILTERS), its valid values in its help."""
    implicit = ", ".join(f"{LIST_FILTERS[a]} {v}" for a, v in IMPLICIT_DEFAULTS.items())
    f = p.add_argument_group(f"matrix filters (default: the profile's matrix, {implicit})")
    for axis, name in LIST_FILTERS.items():
        f.add_argument(f"--{name}", nargs="+", metavar=axis.upper(), help=describe(axis))


def filter_values(args: argparse.Namespace) -> Filters:
    """The list filters as given (each split and typed; validated by Filters.validate), and --batch-size."""
    return filters_from({name: getattr(args, name, None) for name in LIST_FILTERS.values()},
                        batch_size=getattr(args, "batch_size", None) or 0)


def add_settings_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("measurement settings (defaults come from the profile, see below)")
    g.add_argument("--profile", help=f"{' | '.join(PROFILES)}; default: gpu with CUDA, quick without")
    g.add_argument("--repeats", type=at_least(1), metavar="R",
                   help="fresh processes per cell (>= 1; default: the profile's, 3); processes run in "
                        "interleaved, seeded-random blocks")
    g.add_argument("--schedule-seed", type=at_least(0), metavar="N",
                   help="seed of the processes' order (>= 0; default: --seed)")
    g.add_argument("--extra-pairs", type=at_least(0), metavar="N",
                   help="after the planned processes, at most N more ABBA pairs for each headline "
                        "comparison still inconclusive (compare: each cell whose pass/fail is not settled) "
                        "(>= 0; 0: none; default: the profile's, 5; compare 6)")
    g.add_argument("--time-budget", type=positive_float, dest="time_budget_s", metavar="S",
                   help="the run's wall-clock budget in seconds: extra pairs are added only while "
                        "they fit (> 0; default: the profile's, quick 900, gpu 1800, full none; "
                        "compare none)")
    g.add_argument("--steps", type=at_least(1), metavar="N",
                   help="timed, individually synchronised steps per process (>= 1)")
    g.add_argument("--warmup", type=at_least(0), metavar="N",
                   help="warm-up steps after the (separately timed) first step (>= 0)")
    g.add_argument("--window-steps", type=at_least(0), metavar="N",
                   help="steps of the throughput window, one sync at its end (>= 0; 0: no window)")
    g.add_argument("--denoising-steps", type=at_least(1), metavar="S",
                   help="denoising steps of one call of a sampler's generate cells (>= 1; default: the "
                        "profile's, quick 4, full and gpu 50; 1000 is the schedule's full length)")
    g.add_argument("--batch-size", type=at_least(1), metavar="N",
                   help="batch size (>= 1; default: each model's own)")
    g.add_argument("--time-limit", type=positive_float, dest="time_limit_s", metavar="S",
                   help="wall-clock limit per process in seconds, its start included (> 0)")
    g.add_argument("--seed", type=at_least(0), metavar="N",
                   help="seed of weights and synthetic data (>= 0; default 0)")
    g.add_argument("--threads", type=at_least(1), dest="intra_op_threads", metavar="N",
                   help="intra-op threads for every framework (>= 1; default: physical cores)")
    g.add_argument("--scaling", choices=SCALING_RULES, metavar="RULE",
                   help="the batch of a cell of several ranks (--workers N): weak, each rank trains the "
                        "batch (default); strong, the ranks share it, each training batch / N")
    g.add_argument("--nodes", type=at_least(1), metavar="M",
                   help="machines a cell of several ranks spans (>= 1; default 1): each runs the same "
                        "command with its own --node-rank, its share of the ranks and its own run")
    g.add_argument("--node-rank", type=at_least(0), dest="node_rank", metavar="K",
                   help="this machine's index, 0 to M - 1, with --nodes M")
    g.add_argument("--master", metavar="HOST:PORT",
                   help="node 0's address and a free port for the rendezvous, with --nodes M")
    g.add_argument("--tf-workers", dest="tf_workers", metavar="HOST:PORT,...",
                   help="where the workers of a TF_CONFIG cluster listen, with --nodes M, the same list on "
                        "every node: one HOST:PORT per node in node order (its N/M workers on PORT, "
                        "PORT+1, ...) or one per rank in rank order")
    g.add_argument("--tf32", action="store_const", const=True, help="allow TF32 matmul/conv (CUDA)")
    g.add_argument("--deterministic", action="store_const", const=True,
                   help="deterministic kernels in every framework (slower)")
    g.add_argument("--data", metavar="PATH", help="mnist.npz or IDX images file (default: synthetic data)")
    o = p.add_argument_group("where and how")
    o.add_argument("--out", metavar="DIR",
                   help="run directory (default: reports/runs/<run_id>, reports in reports/); with --out, "
                        "everything, the reports included (DIR/report/), stays inside DIR")
    o.add_argument("--python", action="append", default=[], metavar="FW=PATH",
                   help=f"interpreter for a framework's cells, e.g. {python_example()} "
                        "(repeatable; default: this interpreter)")
    o.add_argument("--peaks-dir", metavar="DIR",
                   help="where each machine's device peak is pinned (DIR/<machine fingerprint>/roofline-"
                        "<device>.json; default: reports/machines for a run in the default place; with "
                        "--out and no --peaks-dir the peak is measured in the run only)")
    o.add_argument("--reprobe-peak", action="store_true",
                   help="measure this machine's pinned device peak again (best of several probes) and "
                        "replace it")


def profile_defaults_epilog() -> str:
    """The profiles' step plans and time limits, for the --help of `all` and `run`."""
    return describe_defaults() + "\n\n" + EXIT_CODES_HELP


def parse_pythons(values: Sequence[str]) -> dict[str, str]:
    """--python FW=PATH values → {framework: absolute interpreter path}; BenchError when bad."""
    out: dict[str, str] = {}
    for v in values:
        fw, sep, path = v.partition("=")
        if not sep or not path:
            raise BenchError(f"--python expects FRAMEWORK=PATH (got {v!r})")
        get_framework(fw)
        found = shutil.which(path) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
        if not found:
            raise BenchError(f"--python {fw}: no such interpreter: {path}")
        out[fw] = str(Path(found).absolute())
    return out


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The run settings given on the command line (None: not given), --data made absolute."""
    over = {k: getattr(args, k, None) for k in (*OVERRIDABLE, *RUN_OPTIONS)}
    if over.get("data") not in (None, "synthetic"):
        path = Path(over["data"]).expanduser()
        if not path.exists():
            raise BenchError(f"--data: no such file: {over['data']}")
        if path.is_dir():
            raise BenchError(f"--data {over['data']}: is a directory; give an MNIST file "
                             "(mnist.npz or an IDX images file)")
        over["data"] = str(path.resolve())  # workers run in their own directory
    return {k: v for k, v in over.items() if v is not None}


def run_request(args: argparse.Namespace, filters: Filters, *, resume: bool = False,
                report: bool = True) -> RunRequest:
    """The typed request of `all`/`run` from parsed arguments (BenchError on a bad value)."""
    return RunRequest(filters=filters, profile=args.profile, overrides=settings_overrides(args),
                      pythons=parse_pythons(args.python), out=Path(args.out) if args.out else None,
                      resume=resume, report=report, argv=list(getattr(args, "argv", [])),
                      schedule_seed=getattr(args, "schedule_seed", None),
                      assume_cuda=getattr(args, "assume_cuda", None),
                      peaks_dir=peaks_dir(args), reprobe_peak=bool(getattr(args, "reprobe_peak", False)),
                      extra_pairs=getattr(args, "extra_pairs", None),
                      time_budget_s=getattr(args, "time_budget_s", None),
                      shard=getattr(args, "shard", None))


def peaks_dir(args: argparse.Namespace) -> Path | None:
    """--peaks-dir checked up front: a directory that can be created or written (BenchError)."""
    value = getattr(args, "peaks_dir", None)
    if not value:
        return None
    path = Path(value).expanduser()
    check_output_dir(path, "--peaks-dir")
    return path


def latest_run() -> Path:
    """The latest run under reports/runs (the default of --run); BenchError when there is none."""
    run = find.latest_run(DEFAULT_RUNS_ROOT)
    if run is None:
        raise BenchError(f"no stored runs under {DEFAULT_RUNS_ROOT}; "
                         "run `python -m bench all` first or pass --run DIR")
    return run
