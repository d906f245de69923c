"""Gate settings: built-in defaults < [tool.framebench.gate] of pyproject.toml < command line."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.gate.prior import DAY_ONE_SD

DEFAULTS: dict[str, Any] = {
    "step_time": 0.10,
    "throughput": 0.10,
    "memory": 0.10,
    "compile_time": 0.50,
    "compile_time_floor_s": 0.5,
    "alpha": 0.01,
    "correction": "bh",
    "missing": "warn",
    "day_one_sd": DAY_ONE_SD,  # bench.gate.prior: between-run sd assumed for a one-run baseline (0: off)
    "drift": "adjust",  # bench.gate.drift: judge cells against a run-wide shift ("off": never)
}


# Relative thresholds: written as a fraction below 1 or as a percentage string.
THRESHOLDS = ("step_time", "throughput", "memory", "compile_time")


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml from ``start`` (default: cwd) upwards."""
    d = (start or Path.cwd()).resolve()
    for p in (d, *d.parents):
        if (p / "pyproject.toml").is_file():
            return p / "pyproject.toml"
    return None


def load_config(pyproject: Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Gate settings: DEFAULTS < [tool.framebench.gate] of pyproject.toml < command-line overrides."""
    cfg = dict(DEFAULTS)
    path = pyproject if pyproject is not None else find_pyproject()
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as e:
            raise BenchError(f"cannot read {path}: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise BenchError(f"corrupt {path}: {e}") from None
        for k, v in _gate_table(data, path).items():
            if k not in DEFAULTS:
                raise BenchError(
                    f"{path}: unknown key {k!r} in [tool.framebench.gate]; valid keys: {', '.join(DEFAULTS)}"
                )
            cfg[k] = _check(k, v, str(path))
    for k, v in (overrides or {}).items():
        if v is not None:
            cfg[k] = _check(k, v, "command line")
    return cfg


# The tables of [tool.framebench] (each read by its own command): any other key is a typo.
FRAMEBENCH_TABLES = ("gate",)


def _gate_table(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """[tool.framebench.gate], each level checked to be a table (one line naming the file and key)."""
    where, table = "", data
    for key in ("tool", "framebench", "gate"):
        value = table.get(key, {})
        where = f"{where}.{key}" if where else key
        if not isinstance(value, dict):
            raise BenchError(f"{path}: [{where}] is not a table (got {type(value).__name__} {value!r:.60})")
        if key == "framebench":
            unknown = [k for k in value if k not in FRAMEBENCH_TABLES]
            if unknown:
                raise BenchError(f"{path}: unknown key {unknown[0]!r} in [tool.framebench]; valid keys: "
                                 f"{', '.join(FRAMEBENCH_TABLES)}")
        table = value
    return table


def _check(key: str, value: Any, where: str) -> Any:
    if key == "correction":
        if value not in ("bh", "holm", "none"):
            raise BenchError(
                f"{where}: gate setting 'correction' must be 'bh', 'holm' or 'none', not {value!r}")
        return value
    if key == "drift":
        if value not in ("adjust", "off"):
            raise BenchError(f"{where}: gate setting 'drift' must be 'adjust' or 'off', not {value!r}")
        return value
    if key == "missing":
        if value not in ("warn", "fail"):
            raise BenchError(f"{where}: gate setting 'missing' must be 'warn' or 'fail', not {value!r}")
        return value
    if key in THRESHOLDS:
        try:
            return parse_threshold(value)
        except BenchError as e:
            raise BenchError(f"{where}: gate setting {key!r}: {e}") from None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise BenchError(f"{where}: gate setting {key!r} must be a number >= 0, not {value!r}")
    if key == "alpha" and not 0 < value < 1:
        raise BenchError(f"{where}: gate setting 'alpha' must be between 0 and 1, not {value!r}")
    return float(value)


def parse_fraction(text: str) -> float:
    """'0.1', '10%' -> 0.1 (for argparse)."""
    s = text.strip()
    try:
        return float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
    except ValueError:
        raise BenchError(f"not a fraction or percentage: {text!r}") from None


def parse_threshold(value: str | float | int) -> float:
    """A relative threshold, from the command line or pyproject: "10%", "0.10" or 0.10 -> 0.10.

    A bare number >= 1 is refused as ambiguous: "10" meant as ten percent would read as +1000%.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BenchError(f"must be a fraction such as 0.1 or a string such as \"10%\", not {value!r}")
    text = value if isinstance(value, str) else repr(value)
    number = parse_fraction(text)
    if not text.strip().endswith("%") and number >= 1:
        raise BenchError(
            f"{text!r} is ambiguous: write {number:g}% for a {number:g} percent change, or {number / 100:g} "
            f"(a fraction below 1)")
    if not 0 < number < math.inf:
        raise BenchError(f"must be a positive fraction or percentage (got {text!r})")
    return number
