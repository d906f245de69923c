"""The launchers: how one process slot of a cell is started (``process``: one worker process).

A launcher is a module ``bench/launchers/<name>.py`` behind ``bench.launchers.base.Launcher``: it starts
the slot's ranks (``Cell.workers`` of them) and merges their results into one record before the store
sees it. More are registered by plugins (``register_launcher``) named in FRAMEBENCH_PLUGINS.
"""

from __future__ import annotations

# name -> module that defines it
_REGISTRY: dict[str, str] = {"process": "bench.launchers.process"}


def register_launcher(name: str, module: str) -> None:
    _REGISTRY[name] = module


def launcher_names() -> tuple[str, ...]:
    from bench.frameworks.registry import frameworks

    frameworks()  # loads the plugins, which may register launchers
    return tuple(_REGISTRY)


def skip_reason(cell: object) -> str | None:
    """Why the matrix records the cell as skipped for its ``workers``, or None to run it."""
    workers = getattr(cell, "workers", 1)
    if workers != 1:
        return f"no launcher starts {workers} ranks of {getattr(cell, 'framework', '?')} yet"
    return None
