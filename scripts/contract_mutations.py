"""Break each equivalence-contract item on purpose and record which tests catch it.

Every model family declares its mutations in ``models/<family>/mutations.toml``: an array of tables
``[[mutation]]``, one per contract item, with these keys (all strings unless said otherwise):

    id           unique over all families, [a-z0-9-]+ (e.g. "conv-pad-shift", "vae-conv-pad-shift")
    description  the contract item broken, one line (the table's second column)
    file         the source file edited, relative to the repository root
    old          text that occurs exactly once in ``file``
    new          what replaces it
    tests        list of pytest arguments selecting the tests that must go red: test files or node ids
                 relative to the repository root (e.g. ["tests/test_models_vae_equivalence.py"])
    k            optional: a pytest ``-k`` expression narrowing ``tests``

For every mutation: copy models/, bench/, tests/ and pyproject.toml to a scratch directory, apply the
edit there (the working tree is never touched), run pytest on the selected tests in the copy and list
the tests that fail or error. Prints a Markdown table (pasted into each family's CONTRACT.md). A
mutation that no test catches makes the exit status 1.

    python scripts/contract_mutations.py [--family NAME ...] [--only ID ...] [--seed N] [--list]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_REQUIRED = ("id", "description", "file", "old", "new", "tests")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Mutation:
    family: str
    id: str
    description: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    k: str | None = None


def collect(root: Path = ROOT) -> list[Mutation]:
    """Every family's mutations, by family name order; SystemExit (one line) on a malformed entry."""
    out: list[Mutation] = []
    for path in sorted((root / "models").glob("*/mutations.toml")):
        family = path.parent.name
        try:
            entries = tomllib.loads(path.read_text()).get("mutation")
        except tomllib.TOMLDecodeError as e:
            raise SystemExit(f"{path}: {e}") from None
        if not isinstance(entries, list):
            raise SystemExit(f"{path}: no [[mutation]] table")
        for i, e in enumerate(entries):
            where = f"{path.relative_to(root)}: mutation {i + 1}"
            if not isinstance(e, dict) or any(not isinstance(e.get(k), str) for k in _REQUIRED[:-1]):
                raise SystemExit(f"{where}: needs string keys {', '.join(_REQUIRED[:-1])}")
            tests = e.get("tests")
            if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
                raise SystemExit(f"{where}: 'tests' must be a non-empty list of pytest arguments")
            unknown = set(e) - {*_REQUIRED, "k"}
            if unknown or not _ID.match(e["id"]):
                raise SystemExit(f"{where}: bad id {e['id']!r} or unknown keys {sorted(unknown)}")
            out.append(Mutation(family, e["id"], e["description"], e["file"], e["old"], e["new"],
                                tuple(tests), e.get("k")))
    ids = [m.id for m in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SystemExit(f"duplicate mutation ids: {', '.join(dupes)}")
    return out


def run_one(m: Mutation, seed: str) -> list[str]:
    """The tests (``name[param]``) that fail or error with ``m`` applied to a scratch copy."""
    with tempfile.TemporaryDirectory(prefix="fb-mut-") as tmp:
        work = Path(tmp)
        for d in ("models", "bench", "tests"):
            shutil.copytree(ROOT / d, work / d, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
        target = work / m.file
        text = target.read_text()
        if text.count(m.old) != 1:
            raise SystemExit(f"mutation {m.id}: expected exactly one {m.old!r} in {m.file}")
        target.write_text(text.replace(m.old, m.new))
        env = {**os.environ, "PYTHONPATH": str(work), "FRAMEBENCH_EQ_SEED": seed,
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        # Guard: the mutated copy, not the (editable-)installed tree, must be the one imported.
        where = subprocess.run([sys.executable, "-c", "import models; print(models.__file__)"],
                               cwd=work, env=env, capture_output=True, text=True, check=True).stdout
        if not where.strip().startswith(str(work)):
            raise SystemExit(f"mutation {m.id}: imported {where.strip()}, not the scratch copy")
        select = ["-k", m.k] if m.k else []
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", *m.tests, *select, "-q", "-rfE", "-p", "no:cacheprovider",
             "-o", "addopts="],
            cwd=work, env=env, capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"mutation {m.id}: pytest exited {proc.returncode}\n{proc.stdout[-3000:]}")
        return list(dict.fromkeys(re.findall(r"^(?:FAILED|ERROR) \S+::(\S+)", proc.stdout, re.M)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", nargs="*", help="families to run (default: all), e.g. gan vae")
    ap.add_argument("--only", nargs="*", help="mutation ids to run (default: all)")
    ap.add_argument("--seed", default="12345", help="FRAMEBENCH_EQ_SEED for every run")
    ap.add_argument("--list", action="store_true", help="list the selected mutations, run nothing")
    args = ap.parse_args()
    chosen = [m for m in collect() if (not args.family or m.family in args.family)
              and (not args.only or m.id in args.only)]
    if not chosen:
        raise SystemExit("no mutation matches --family/--only")
    if args.list:
        for m in chosen:
            print(f"{m.family}\t{m.id}\t{m.description}")
        return 0
    rows, uncaught = [], []
    for m in chosen:
        failed = run_one(m, args.seed)
        if not failed:
            uncaught.append(m.id)
        rows.append(f"| `{m.id}` | {m.description} | {', '.join(f'`{f}`' for f in failed) or '**none**'} |")
        print(rows[-1], file=sys.stderr, flush=True)
    print("| mutation | contract item broken | failing tests |\n|---|---|---|")
    print("\n".join(rows))
    if uncaught:
        print(f"\nnot caught: {', '.join(uncaught)}", file=sys.stderr)
    return 1 if uncaught else 0


if __name__ == "__main__":
    sys.exit(main())
