"""One rank of a slot whose ranks a framework's own launcher starts (bench.launchers.engine):
``python -m bench.worker.rank S0 L0 S1 L1 ...``, each rank's spec and log in rank order (positional:
an engine's own parser may read the options that follow the module's name).

The engine starts the same command N times and tells each process its rank in the environment
(LOCAL_RANK, RANK); this picks the rank's own spec (the slot wrote one per rank of this machine,
bench.launchers.slot), sends the process's output to the rank's own log, and runs the worker on it.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.worker.main import main as worker_main


def _rank_from_env() -> int | None:
    """This process's index among the machine's ranks: LOCAL_RANK (RANK across machines is global;
    the slot wrote this machine's specs only), RANK where the engine sets no local one."""
    value = os.environ.get("LOCAL_RANK", os.environ.get("RANK"))
    return int(value) if value is not None and value.isdigit() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker.rank", description=__doc__.splitlines()[0])
    parser.add_argument("spec_and_log", nargs="+", help="rank k's spec and log, for k = 0, 1, ...")
    pairs = parser.parse_args(argv).spec_and_log
    rank = _rank_from_env()
    if len(pairs) % 2 or rank is None or 2 * rank >= len(pairs):
        print(f"bench.worker.rank: RANK={os.environ.get('RANK')!r} names none of the "
              f"{len(pairs) // 2} (spec, log) pair(s)", file=sys.stderr)
        return 2
    spec, log = pairs[2 * rank], pairs[2 * rank + 1]
    if log:
        sys.stdout.flush()
        sys.stderr.flush()
        # The launcher created every rank's log (never followed if a link); rank 0's also holds the
        # engine's own output.
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    return worker_main([spec])


if __name__ == "__main__":
    sys.exit(main())
