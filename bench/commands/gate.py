"""``python -m bench gate``: compare a run with a baseline; exit 1 on a regression."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands._options import REPORTS_ROOT, latest_run, threshold
from bench.errors import BenchError
from bench.inputs import at_least, check_output_dir, check_output_file, non_negative_float, open_fraction
from bench.results.write import atomic_write_text

NAME = "gate"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    g = subparsers.add_parser(
        NAME,
        help="compare a run with a baseline; exit 1 on a regression",
        description="Refuses a baseline from another machine (CPU identity and ISA flags, cores, RAM, "
        "GPUs) or other measurement settings (profile, steps, threads, TF32, data, batch), naming the "
        "difference, unless --force. Per cell and metric (step time, throughput, peak memory, time to "
        "first step): a regression is a change beyond the threshold AND beyond noise — against a "
        "baseline of several runs, the spread between its runs; against one run, the spread between "
        "processes (or steps) — with the p-values of all cells and metrics adjusted together "
        "(Benjamini-Hochberg by default). Defaults from [tool.framebench.gate] in pyproject.toml. "
        "Exit 0 pass, 1 regression, 2 usage or data error.",
    )
    g.add_argument(
        "--baseline",
        metavar="FILE",
        help="baseline JSON (or a run directory); default: reports/baselines/<machine fingerprint>.json",
    )
    g.add_argument("--baselines-dir", default=str(REPORTS_ROOT / "baselines"), help=argparse.SUPPRESS)
    g.add_argument("--run", metavar="DIR", help="run directory (default: the latest under reports/runs)")
    g.add_argument(
        "--output",
        default=str(REPORTS_ROOT / "gate.md"),
        metavar="FILE",
        help="also write the Markdown verdict here (default: reports/gate.md)",
    )
    g.add_argument(
        "--step-time", type=threshold, metavar="FRAC",
        help="step-time threshold, e.g. 0.1 or 10%% (a bare number >= 1 is refused)"
    )
    g.add_argument("--throughput", type=threshold, metavar="FRAC", help="throughput threshold")
    g.add_argument("--memory", type=threshold, metavar="FRAC", help="peak memory threshold")
    g.add_argument("--compile-time", type=threshold, metavar="FRAC", help="time-to-first-step threshold")
    g.add_argument(
        "--compile-time-floor",
        type=non_negative_float,
        metavar="SECONDS",
        help="time to first step must also grow by more than this (default 0.5)",
    )
    g.add_argument("--alpha", type=open_fraction,
                   help="significance level of the noise tests, between 0 and 1 (default 0.01)")
    g.add_argument("--correction", choices=("bh", "holm", "none"),
                   help="multiple-comparison control over all cells and metrics: bh (Benjamini-Hochberg, "
                        "default), holm, none")
    g.add_argument("--confirm", type=at_least(0), default=0, metavar="N",
                   help="re-run each cell that regressed in N fresh processes (same settings, this machine) "
                        "and fail only if the regression reproduces (default 0: no re-run)")
    g.add_argument("--confirm-dir", default=str(REPORTS_ROOT / "confirmations"), metavar="DIR",
                   help="where confirmation runs are stored (default: reports/confirmations)")
    g.add_argument(
        "--missing",
        choices=("warn", "fail"),
        help="what a baseline cell missing from the run (or now skipped) does (default warn)",
    )
    g.add_argument("--config", metavar="PYPROJECT",
                   help="read [tool.framebench.gate] from this pyproject.toml (in CI: the base branch's, so "
                        "that a pull request cannot loosen its own thresholds); default: the nearest one")
    g.add_argument("--ab", metavar="RUN",
                   help="judge an A/B run of `bench compare` instead (paired ratio B/A per cell): fail when "
                        "B is slower by more than --step-time (default here 5%%) with its interval above the "
                        "±--margin zone; for PRs (base vs PR environment) and dependency upgrades")
    g.add_argument("--margin", type=threshold, metavar="FRAC",
                   help="with --ab: the indifference zone (default 3%%)")
    g.add_argument("--force", action="store_true",
                   help="compare even when the machines or the measurement settings differ (each named "
                        "as a warning)")
    g.set_defaults(func=run)
    return g


def run(args: argparse.Namespace) -> int:
    from bench.gate import default_baseline_for, render, run_gate, summary_line

    if args.output:  # before the comparison: a bad --output must not cost a run, nor read as a regression
        check_output_file(args.output, "--output")
    if args.ab:
        return _gate_ab(args)
    if args.confirm:
        check_output_dir(args.confirm_dir, "--confirm-dir")
    run_dir = Path(args.run) if args.run else latest_run()
    baseline = (Path(args.baseline) if args.baseline
                else default_baseline_for(run_dir, Path(args.baselines_dir)))
    from bench.inputs import check_not_inside_inputs

    for out, option in ((args.output, "--output"), (args.confirm and args.confirm_dir, "--confirm-dir")):
        if out:  # the gate's inputs are never its outputs
            check_not_inside_inputs(out, option, [run_dir, baseline])
    overrides = {
        "step_time": args.step_time,
        "throughput": args.throughput,
        "memory": args.memory,
        "compile_time": args.compile_time,
        "compile_time_floor_s": args.compile_time_floor,
        "alpha": args.alpha,
        "missing": args.missing,
        "correction": args.correction,
    }
    config = Path(args.config) if args.config else None
    if config is not None and not config.is_file():
        raise BenchError(f"--config {config}: no such file")
    result = run_gate(baseline, run_dir, overrides=overrides, force=args.force, confirm=args.confirm,
                      confirm_dir=Path(args.confirm_dir), pyproject=config)
    text = render(result)
    if args.output:
        atomic_write_text(Path(args.output), text)
    print(text)
    print(summary_line(result) + (f" (written to {args.output})" if args.output else ""))
    return result.exit_code


def _gate_ab(args: argparse.Namespace) -> int:
    """``gate --ab RUN``: the A/B run's paired verdict (bench.gate.ab) with the gate's exit codes."""
    from bench.analysis.ab import DEFAULT_FAIL_ON, DEFAULT_MARGIN, analyse
    from bench.gate.ab import render, summary_line

    result = analyse(Path(args.ab), margin=args.margin if args.margin is not None else DEFAULT_MARGIN,
                     fail_on=args.step_time if args.step_time is not None else DEFAULT_FAIL_ON)
    text = render(result)
    if args.output:
        atomic_write_text(Path(args.output), text)
    print(text)
    print(summary_line(result).replace("compare:", "gate --ab:", 1)
          + (f" (written to {args.output})" if args.output else ""))
    return result.exit_code
