"""CLI commands for reports, baselines and the regression gate (report, baseline, gate).

bench/cli.py calls ``register(subparsers)``; ``report_after_run(run_dir)`` is called at the end of
``bench all``. (Stub: filled in by the reports issue.)
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the report/baseline/gate subcommands; each sets ``func(args) -> int`` (exit code)."""


def report_after_run(run_dir: Path) -> list[Path]:
    """Regenerate the reports after a run; returns the files written."""
    return []
