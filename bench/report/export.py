"""A run's tidy tables for other tools: ``python -m bench export --format csv|parquet``.

Three tables, with dtypes a reader can rely on:

- ``cells``: one row per PROCESS (a cell is measured in ``repeats`` fresh processes; ``repeat``,
  ``block`` and ``order`` say which and when), as ``load_run`` reads them; ``started_at``/``finished_at``
  are UTC datetimes, integer fields (batch size, step counts, byte counts, ...) nullable ``Int64``, text
  ``string``, the settings flattened into ``settings.<name>`` columns, and dict/list fields (``flags``,
  ``versions``, warm-up times, compile warnings) JSON text beside their flattened
  ``flags.<name>``/``versions.<name>`` columns;
- ``cell_summaries``: one row per CELL, its processes combined as the reports combine them
  (``bench.analysis.aggregate.cell_summaries``: median of process medians, its CI and coverage, between- and
  within-process CV, time to steady state...); per-process lists (``process_medians``,
  ``process_repeats``...) as JSON text;
- ``steps``: one row per step (with its process's ``repeat``), carrying the cell's axes
  (``bench.cell.CELL_AXES``) so that it can be grouped without a join.

CSV has no types, so a CSV export also writes ``dtypes.json`` ({table: {column: dtype}}), which
``read_table`` applies. Parquet keeps the dtypes itself and needs pyarrow (not a dependency).
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.cell import CELL_AXES, Cell, parse_cell_id
from bench.errors import BenchError
from bench.results.records import CellResult, RunSettings, StepRecord

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "FORMULA_STARTS", "TABLES", "csv_safe", "export_run", "output_paths", "read_table",
           "require_pyarrow", "tidy_tables"]

FORMATS = ("csv", "parquet")
TABLES = ("cells", "cell_summaries", "steps")
DTYPES_FILE = "dtypes.json"
DATETIME_COLUMNS = ("started_at", "finished_at")
# Fully represented by their flattened "<name>.<loss>" float columns: not repeated as JSON.
_FLATTENED_ONLY = ("final_losses", "losses")
_SETTINGS = "settings"


def _declared() -> dict[str, str]:
    """Column → declared Python type ("int", "float", "str", "bool", ...) from the record dataclasses."""
    out: dict[str, str] = {}
    for cls, prefix in ((Cell, ""), (CellResult, ""), (StepRecord, ""), (RunSettings, f"{_SETTINGS}.")):
        for f in fields(cls):
            out[prefix + f.name] = str(f.type).split("|")[0].split("[")[0].strip()
    return out


def require_pyarrow() -> None:
    """BenchError (one line) unless pyarrow, which writes and reads Parquet, is importable."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise BenchError("--format parquet needs pyarrow, which framebench does not install: "
                         "pip install pyarrow (or use --format csv)") from None


# --------------------------------------------------------------------------- the tables


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v is getattr(_pd(), "NA", None) \
        or v is getattr(_pd(), "NaT", None)


def _pd() -> Any:
    import pandas as pd

    return pd


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Each column to its dtype: UTC datetimes, nullable Int64/boolean, float64, string (an empty
    string as missing)."""
    import pandas as pd

    declared = _declared()
    out = {}
    for col in df.columns:
        raw = [None if _missing(v) else v for v in df[col].astype(object).tolist()]
        s = pd.Series(raw, index=df.index, dtype=object)
        values = [v for v in raw if v is not None]
        kind = declared.get(col)
        if col in DATETIME_COLUMNS:
            out[col] = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")
        elif values and all(isinstance(v, (dict, list, tuple)) for v in values):
            out[col] = s.map(lambda v: None if v is None else json.dumps(v, sort_keys=True,
                                                                         default=str)).astype("string")
        elif kind == "bool" or (values and all(isinstance(v, bool) for v in values)):
            out[col] = s.astype("boolean")
        elif kind == "int" or (values and all(isinstance(v, int) and not isinstance(v, bool)
                                              for v in values)):
            out[col] = pd.to_numeric(s, errors="coerce").astype("Int64")
        elif kind == "float" or (values and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                for v in values)):
            out[col] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:  # an empty text is missing: CSV cannot tell them apart, and both formats must read back alike
            out[col] = s.map(lambda v: None if v is None or v == "" else v if isinstance(v, str)
                             else str(v)).astype("string")
    return pd.DataFrame(out, index=df.index)


def _settings_flattened(cells: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    settings = pd.DataFrame([s if isinstance(s, dict) else {} for s in cells[_SETTINGS]], index=cells.index)
    settings.columns = [f"{_SETTINGS}.{c}" for c in settings.columns]
    return pd.concat([cells.drop(columns=[_SETTINGS, *(c for c in _FLATTENED_ONLY if c in cells)]),
                      settings], axis=1)


def tidy_tables(run_dir: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """{"cells", "cell_summaries", "steps"} of a stored run, typed for export (module docstring)."""
    import pandas as pd

    from bench.analysis.aggregate import cell_summaries
    from bench.results.load import load_run

    run = load_run(run_dir)
    cells = _settings_flattened(run.cells.copy())
    summaries = cell_summaries(run.cells, run.steps)
    # {block: median} keys may mix blocks and process keys: the medians as a list, by repeat.
    summaries["process_medians"] = [list(d.values()) if isinstance(d, dict) else d
                                    for d in summaries["process_medians"]]
    summaries = _settings_flattened(summaries)

    steps = run.steps.drop(columns=[c for c in _FLATTENED_ONLY if c in run.steps]).copy()
    ids = list(dict.fromkeys(steps["cell_id"].tolist()))
    axes = pd.DataFrame([{"cell_id": cid, **parse_cell_id(cid).to_dict()} for cid in ids],
                        columns=["cell_id", *CELL_AXES])
    steps = steps.merge(axes, on="cell_id", how="left", validate="many_to_one")
    first = ["run_id", "cell_id", *CELL_AXES]
    steps = steps[first + [c for c in steps.columns if c not in first]]
    return {"cells": _typed(cells.reset_index(drop=True)),
            "cell_summaries": _typed(summaries.reset_index(drop=True)),
            "steps": _typed(steps.reset_index(drop=True))}


# --------------------------------------------------------------------------- files


def output_paths(out: str | os.PathLike[str], fmt: str) -> dict[str, Path]:
    """Where ``export_run`` writes: in ``out`` when it is a directory (or ends with a separator), else
    beside it with ``out``'s name as a prefix (``exports/run1`` → ``exports/run1-cells.csv``)."""
    text = os.fspath(out)
    p = Path(text)
    as_dir = p.is_dir() or text.endswith((os.sep, "/"))
    prefix = "" if as_dir else f"{p.name}-"
    folder = p if as_dir else p.parent
    paths = {t: folder / f"{prefix}{t}.{fmt}" for t in TABLES}
    if fmt == "csv":
        paths["dtypes"] = folder / f"{prefix}{DTYPES_FILE}"
    return paths


# Spreadsheets read a cell starting with one of these as a formula (OWASP's CSV injection list); a text
# cell starting with one gets a leading "'" in a CSV export, which shows it as text. Starting with "'" is
# escaped the same way, so that read_table can remove exactly the quotes the export added.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def _neutralised(v: Any) -> Any:
    return "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v


def _restored(v: Any) -> Any:
    return v[1:] if isinstance(v, str) and v.startswith("'") and v[1:].startswith(FORMULA_STARTS) else v


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """The table with every text cell that a spreadsheet would run as a formula neutralised (numbers,
    negative ones included, stay numbers: only text cells change)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype) == "string":
            out[col] = out[col].map(_neutralised, na_action="ignore")
    return out


def _write_bytes_atomically(path: Path, write: Any) -> None:
    from bench.results.write import atomic_write_with

    # A fresh temporary file renamed into place: nothing planted at the path is written through.
    atomic_write_with(path, write)


def export_run(run_dir: str | os.PathLike[str], fmt: str, out: str | os.PathLike[str]) -> list[Path]:
    """Write the run's tables (and, for CSV, their dtypes); returns the files written."""
    from bench.results.write import atomic_write_text

    if fmt not in FORMATS:
        raise BenchError(f"unknown format {fmt!r}; valid choices: {', '.join(FORMATS)}")
    if fmt == "parquet":
        require_pyarrow()
    tables = tidy_tables(run_dir)
    paths = output_paths(out, fmt)
    paths[TABLES[0]].parent.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        if fmt == "csv":
            # Rows end in "\n" alone, so that a "\r" inside a text cell is not a row's end (read_table).
            text = csv_safe(df).to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ", lineterminator="\n")
            atomic_write_text(paths[name], text)
        else:
            _write_bytes_atomically(paths[name], lambda f, df=df: df.to_parquet(f, index=False))
        written.append(paths[name])
    if fmt == "csv":
        dtypes = {name: {c: str(t) for c, t in df.dtypes.items()} for name, df in tables.items()}
        written.append(atomic_write_text(paths["dtypes"], json.dumps(dtypes, indent=1) + "\n"))
    return written


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read one exported table back with its dtypes (CSV: from the dtypes.json beside it)."""
    import pandas as pd

    p = Path(path)
    if p.suffix == ".parquet":
        require_pyarrow()
        return pd.read_parquet(p)
    table = next((t for t in TABLES if p.name.endswith(f"{t}.csv")), None)
    if table is None:
        raise BenchError(f"{p}: not an exported table ({', '.join(f'{t}.csv' for t in TABLES)})")
    sidecar = p.with_name(p.name[: -len(f"{table}.csv")] + DTYPES_FILE)
    try:
        dtypes: dict[str, str] = json.loads(sidecar.read_text(encoding="utf-8"))[table]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BenchError(f"{sidecar}: cannot read the dtypes of {p.name} ({type(e).__name__})") from None
    dates = [c for c, t in dtypes.items() if t.startswith("datetime")]
    df = pd.read_csv(p, dtype={c: t for c, t in dtypes.items() if c not in dates}, keep_default_na=True,
                     lineterminator="\n")
    for c in dates:
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601").astype(dtypes[c])
    for c, t in dtypes.items():  # undo the export's neutralising of formula-like text (csv_safe)
        if t in ("object", "string") and c in df.columns:
            df[c] = df[c].map(_restored, na_action="ignore").astype(df[c].dtype)
    return df
