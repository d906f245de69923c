"""Opening a stored file as untrusted input: a regular file, reached without a link, within a size limit.

A run directory or a baseline handed over by someone else may hold a FIFO where ``run.json`` should be
(a read blocks forever), a character device (``/dev/zero``: a read never ends), a link, or a file of
gigabytes. Every stored file is therefore opened here with ``O_NOFOLLOW`` (a link is refused, not
followed) and ``O_NONBLOCK`` (opening a FIFO does not wait for a writer), checked with ``fstat`` to be a
regular file, and read up to the limit of its kind (``LIMITS_MB``; each is configurable by an
environment variable, ``FRAMEBENCH_MAX_<KIND>_MB``). The JSON inside is parsed with duplicate keys
refused (the last one would silently win) and its free-form values capped in depth and string length
(``check_free_form``), so that no later step (``dataclasses.asdict``, a page) recurses or copies without
bound. Every refusal is a one-line BenchError naming the file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.results.schema_text import one_line

__all__ = ["LIMITS_MB", "MAX_DEPTH", "MAX_STRING_CHARS", "check_free_form", "limit_bytes", "loads_strict",
           "open_stored", "read_stored_json", "read_stored_text", "stored_lines"]

# The size limit of each kind of stored file, in MiB: far above what a real run writes (run.json of the
# committed 200-cell run: 14 KB; a cell result: 3 KB; a steps file: 200 bytes a step).
LIMITS_MB: dict[str, int] = {"run": 64, "environment": 16, "roofline": 4, "cell": 16, "steps": 256,
                             "baseline": 256}
# Which limit each kind of file (as named in the messages) falls under.
KIND_OF: dict[str, str] = {"run file": "run", "environment file": "environment", "roofline file": "roofline",
                           "cell result": "cell", "steps file": "steps", "baseline": "baseline"}
# Nesting of JSON containers in a stored file (the deepest in a real one is 5) and the longest string
# (the longest in the committed runs: 125 characters; a worker's error tail is kept under this).
MAX_DEPTH = 32
MAX_STRING_CHARS = 65_536

_KINDS_OF_FILE = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
                  stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory", stat.S_IFLNK: "a link"}


def _refuse(text: str) -> BenchError:
    return BenchError(one_line(text))


def limit_bytes(what: str) -> int:
    """The size limit of a kind of stored file (``what`` as in the messages: "cell result"...), in bytes."""
    kind = KIND_OF.get(what, "cell")
    var = f"FRAMEBENCH_MAX_{kind.upper()}_MB"
    text = os.environ.get(var)
    if text:
        try:
            mb = float(text)
        except ValueError:
            raise _refuse(f"{var}={text!r}: expected a number of MiB") from None
        if not mb > 0:
            raise _refuse(f"{var}={text!r}: must be positive")
        return int(mb * 2**20)
    return LIMITS_MB[kind] * 2**20


def open_stored(path: Path, what: str) -> tuple[int, int]:
    """(fd, size) of a stored regular file opened for reading without following a link; BenchError
    (missing, a link, a FIFO, a device, a directory, over the size limit) otherwise. The caller closes."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(
        os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _refuse(f"missing {what}: {path}") from None
    except IsADirectoryError:
        raise _refuse(f"corrupt {what} {path}: a directory, not a file") from None
    except OSError as e:
        if os.path.islink(path):
            raise _refuse(f"unsafe {what} {path}: a link (stored files are never read through links)") \
                from None
        raise _refuse(f"cannot read {what} {path}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise _refuse(f"corrupt {what} {path}: a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS_OF_FILE.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise _refuse(f"unsafe {what} {path}: {kind}, not a regular file")
        limit = limit_bytes(what)
        if st.st_size > limit:
            raise _refuse(f"corrupt {what} {path}: {st.st_size} bytes, over the limit of {limit} for a "
                          f"{what} (FRAMEBENCH_MAX_{KIND_OF.get(what, 'cell').upper()}_MB)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, limit


def read_stored_text(path: Path, what: str) -> str:
    """The whole text of a stored file (UTF-8), read through ``open_stored``'s checks."""
    fd, limit = open_stored(path, what)
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)  # a file that grew after the check is still read no further
    if len(data) > limit:
        raise _refuse(f"corrupt {what} {path}: over the limit of {limit} bytes for a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _refuse(f"corrupt {what} {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def stored_lines(path: Path, what: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of a stored file, streamed: never more than one line in memory."""
    fd, limit = open_stored(path, what)
    read = 0
    with os.fdopen(fd, "rb") as f:
        for i, raw in enumerate(f, 1):
            read += len(raw)
            if read > limit:
                raise _refuse(f"corrupt {what} {path}: over the limit of {limit} bytes for a {what}")
            try:
                yield i, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _refuse(f"corrupt {what} {path}: line {i}: not UTF-8 text ({e.reason})") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dup[:80]!r} in one object")
    return d


def loads_strict(text: str) -> Any:
    """json.loads refusing duplicate keys (ValueError), then ``check_free_form`` (ValueError)."""
    data = json.loads(text, object_pairs_hook=_no_duplicates)
    problem = check_free_form(data)
    if problem:
        raise ValueError(problem)
    return data


def check_free_form(data: Any) -> str | None:
    """Why a parsed JSON value is out of bounds (nested deeper than MAX_DEPTH, a string or key longer than
    MAX_STRING_CHARS), or None. Iterative: a value that broke the recursion limit could not be checked."""
    todo: list[tuple[Any, int, str]] = [(data, 0, "")]
    while todo:
        value, depth, where = todo.pop()
        if isinstance(value, str):
            if len(value) > MAX_STRING_CHARS:
                return f"{where or 'value'}: a string of {len(value)} characters (at most {MAX_STRING_CHARS})"
        elif isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH:
                return f"{where or 'value'}: nested deeper than {MAX_DEPTH} levels"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(k, str) and len(k) > MAX_STRING_CHARS:
                    return f"{where or 'value'}: a key of {len(k)} characters (at most {MAX_STRING_CHARS})"
                name = f"{where}.{k}" if isinstance(k, str) else f"{where}[{k}]"
                todo.append((v, depth + 1, name.lstrip(".")[:200]))
    return None


def read_stored_json(path: Path, what: str) -> Any:
    """A stored JSON file's content, every check of this module applied; BenchError naming the file."""
    text = read_stored_text(path, what)
    try:
        return loads_strict(text)
    except json.JSONDecodeError as e:
        raise _refuse(f"corrupt {what} {path}: {e.msg} (line {e.lineno}, column {e.colno})") from None
    except RecursionError as e:
        raise _refuse(f"corrupt {what} {path}: RecursionError: {e}") from None
    except ValueError as e:  # a duplicate key, a bound above, an integer of thousands of digits
        raise _refuse(f"corrupt {what} {path}: {e}") from None
