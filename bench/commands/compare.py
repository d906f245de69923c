"""``python -m bench compare``: A/B in one run — two environments, revisions or variants, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands._options import (
    add_filter_options,
    add_settings_options,
    filter_values,
    parse_pythons,
    python_example,
    threshold,
)
from bench.commands._options import run_request as request_from
from bench.errors import BenchError
from bench.inputs import check_output_file
from bench.plan.matrix import Filters

NAME = "compare"


def setup_arguments(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        NAME, help="A/B in one run: two environments, revisions or variants side by side; exit 1 if B is "
                   "slower",
        description="Measure two sides in one run on one machine: each cell's processes of side A and side "
                    "B run next to each other in ABBA order inside the interleaved blocks, so the "
                    "machine's drift falls on both. Per cell: the paired ratio B/A with its interval and a "
                    "verdict with an indifference zone. A side is an environment (--python-a/-b), a git "
                    "revision of this project's code (--rev-a/-b, checked out outside the run), a variant "
                    "(--variant-a/-b) and/or extra environment variables (--env-a/-b). After the --repeats "
                    "pairs, a cell whose pass/fail is not settled gets more pairs, up to --extra-pairs "
                    "(default 6) and inside --time-budget. Exit 0 pass, 1 a cell is slower beyond "
                    "--fail-on, 2 bad input.")
    add_filter_options(p)
    add_settings_options(p)
    s = p.add_argument_group("the two sides")
    for side in ("a", "b"):
        u = side.upper()
        s.add_argument(f"--python-{side}", action="append", default=[], metavar="FW=PATH",
                       help=f"side {u}'s interpreter for a framework, e.g. {python_example()} (repeatable)")
        s.add_argument(f"--rev-{side}", metavar="REV", help=f"side {u} runs this git revision of the project")
        s.add_argument(f"--variant-{side}", metavar="VARIANT", help=f"side {u}'s variant (default: default)")
        s.add_argument(f"--env-{side}", action="append", default=[], metavar="NAME=VALUE",
                       help=f"extra environment of side {u}'s workers, e.g. FRAMEBENCH_INJECT_SLOWDOWN=0.1")
    v = p.add_argument_group("verdict")
    v.add_argument("--margin", type=threshold, metavar="FRAC",
                   help="indifference zone ±FRAC (default 3%%): 'no change' inside it")
    v.add_argument("--fail-on", type=threshold, metavar="FRAC",
                   help="fail (exit 1) when B is slower by more than FRAC with its interval above the zone "
                        "(default 5%%)")
    v.add_argument("--report", metavar="FILE",
                   help="write the Markdown verdict here (default: <run>/compare.md)")
    v.add_argument("--run", metavar="DIR", help="judge this stored A/B run instead of running one")
    p.set_defaults(func=run)
    return p


def sides_from(args: argparse.Namespace):
    from bench.plan.ab_plan import Side, parse_env

    common = parse_pythons(args.python)
    return [Side(side, {**common, **parse_pythons(getattr(args, f"python_{side}"))},
                 getattr(args, f"rev_{side}"), getattr(args, f"variant_{side}"),
                 parse_env(getattr(args, f"env_{side}"), f"--env-{side}"))
            for side in ("a", "b")]


def run(args: argparse.Namespace) -> int:
    from bench.analysis.ab import DEFAULT_FAIL_ON, DEFAULT_MARGIN, analyse
    from bench.gate.ab import render, summary_line
    from bench.results.write import atomic_write_text

    if args.report:
        check_output_file(args.report, "--report")
    margin = args.margin if args.margin is not None else DEFAULT_MARGIN
    fail_on = args.fail_on if args.fail_on is not None else DEFAULT_FAIL_ON
    if args.run:
        run_dir = Path(args.run)
    else:
        from bench.launchers.base import Interrupted
        from bench.plan.ab_run import Sequential, run_compare
        from bench.plan.ab_sequential import DEFAULT_AB_CAP
        from bench.results.layout import MAX_AB_CAP

        cap = DEFAULT_AB_CAP if args.extra_pairs is None else args.extra_pairs
        if cap > MAX_AB_CAP:
            raise BenchError(f"--extra-pairs: at most {MAX_AB_CAP} pairs per cell (got {cap})")
        side_a, side_b = sides_from(args)
        filters = filter_values(args).validate()
        if filters.variants is not None and (side_a.variant or side_b.variant):
            raise BenchError("--variants and --variant-a/--variant-b exclude each other: the sides' "
                             "variants are the ones compared")
        for side in (side_a, side_b):
            if side.variant is not None:
                Filters(variants=(side.variant,), frameworks=filters.frameworks).validate()
        try:
            run_dir = run_compare(request_from(args, filters, report=False), side_a, side_b, Sequential(
                cap, args.time_budget_s, margin, fail_on))
        except Interrupted:
            print("interrupted: the processes finished so far are kept", flush=True)
            return 130
    result = analyse(run_dir, margin=margin, fail_on=fail_on)
    text = render(result)
    out = Path(args.report) if args.report else run_dir / "compare.md"
    atomic_write_text(out, text)
    print(text)
    print(summary_line(result) + f" (written to {out})")
    return result.exit_code

