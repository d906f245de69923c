"""Checks of the user's input, made before anything runs or is written: numbers, output paths, --data.

Every failure is one line: argparse types raise ``argparse.ArgumentTypeError`` (the parser turns it into
a BenchError, see bench.commands), the rest raise ``BenchError`` or ``models.family.DataError``; the CLI
prints it and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from bench.errors import BenchError
from models.family import DataError
from models.registry import family_of, get_spec, model_names

__all__ = ["at_least", "check_data_fits", "check_not_inside_inputs", "check_output_dir", "check_output_file",
           "non_negative_float", "open_fraction", "positive_float"]


# --------------------------------------------------------------------------- numbers (argparse types)


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum} (got {value})")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _finite(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number (got {text!r})")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (a time limit in seconds)."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive (got {text!r})")
    return value


def non_negative_float(text: str) -> float:
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative (got {text!r})")
    return value


def open_fraction(text: str) -> float:
    """An argparse type: a number strictly between 0 and 1 (a significance level)."""
    value = _finite(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1 (got {text!r})")
    return value


# --------------------------------------------------------------------------- output paths


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` is, or can be created as, a writable directory; BenchError (one line) otherwise.

    Checked before a run starts, so that a typo costs nothing instead of a traceback after probing.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise BenchError(f"{option} {path}: exists and is not a directory")
    _check_creatable(p, f"{option} {path}")
    return p


def _check_creatable(p: Path, what: str) -> None:
    base = _existing_ancestor(p)
    if not base.is_dir():
        raise BenchError(f"{what}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise BenchError(f"{what}: {base} is not writable")


def check_output_file(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` is, or can be created as, a writable file; BenchError (one line) otherwise."""
    p = Path(path)
    if p.is_dir():
        raise BenchError(f"{option} {path}: is a directory; give a file name")
    if p.exists() and not os.access(p, os.W_OK):
        raise BenchError(f"{option} {path}: is not writable")
    _check_creatable(p.parent, f"{option} {path}")
    return p


def check_not_inside_inputs(output: str | os.PathLike[str], option: str,
                            inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """Refuse an output (file or directory) that is, or lies inside, an input the command reads: a run
    directory (or its run.json) or a baseline file. Both sides are resolved (links and ``..``
    followed), and an existing output that is the same file as an input (a hard link) is refused too.
    One shared rule for every command that writes: reading a run never changes it."""
    out = Path(output)
    try:
        real_out = out.resolve()
    except (OSError, RuntimeError) as e:
        raise BenchError(f"{option} {output}: cannot resolve it ({e})") from None
    for given in inputs:
        if given is None:
            continue
        p = Path(given)
        src = p.parent if p.name == "run.json" and not p.is_dir() else p
        try:
            real_in = src.resolve()
        except (OSError, RuntimeError):
            continue  # an input that cannot be resolved is refused when it is read
        same = False
        with contextlib.suppress(OSError):
            same = out.exists() and src.exists() and os.path.samefile(out, src)
        if same or real_out == real_in or (src.is_dir() and real_out.is_relative_to(real_in)):
            where = f"lies inside the run directory {given}" if src.is_dir() else f"is the input file {given}"
            raise BenchError(f"{option} {output}: {where}, which this command reads; write elsewhere "
                             "(inputs are never outputs)")


# --------------------------------------------------------------------------- --data


def _fits(model: str, data: str, seed: int) -> str | None:
    """None when ``data`` fits ``model``; else why not (one line)."""
    family = family_of(model)
    if family.check_data is None:
        return f"{model} takes no data file"
    spec = get_spec(model)
    try:
        family.check_data(spec, data)
        # One tiny batch through the family's own input path: the shape check a worker would do.
        family.make_inputs(spec, 1, 1, seed, data)
    except DataError as e:
        return str(e)
    return None


def _check_readable(models: Sequence[str], data: str) -> None:
    """The file itself: the first selected family that reads it is enough; when none does, the first
    one's DataError (a truncated or foreign file gets the family's own one-line message)."""
    first_error: DataError | None = None
    for model in models:
        check = family_of(model).check_data
        if check is None:
            continue
        try:
            check(get_spec(model), data)
            return
        except DataError as e:
            first_error = first_error or e
    if first_error is not None:
        raise first_error


def check_data_fits(models: Sequence[str], data: str | None, seed: int = 0) -> None:
    """Open and validate a --data file once, for every model it will be used with.

    A file no model can read is refused with the family's own message (DataError); a file that does
    not fit some selected models is refused naming the models it does fit, instead of failing their
    cells one by one.
    """
    if data in (None, "synthetic"):
        return
    assert data is not None
    if Path(data).is_dir():
        raise BenchError(f"--data {data}: is a directory; give an MNIST file (mnist.npz or an IDX images "
                         "file)")
    models = list(dict.fromkeys(models))
    _check_readable(models, data)
    misfits = {m: why for m in models if (why := _fits(m, data, seed)) is not None}
    if not misfits:
        return
    first = next(iter(misfits.values()))
    if len(models) == 1:
        raise DataError(first)
    fits = [m for m in model_names() if m not in misfits and (m in models or _fits(m, data, seed) is None)]
    hint = (f"it fits {', '.join(fits)}: select them with --models {','.join(fits)}" if fits
            else "no model takes it")
    raise BenchError(f"--data {data} does not fit {', '.join(misfits)} ({first}); {hint}")
