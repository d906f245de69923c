"""The launchers: how one process slot of a cell is started (``process``: one worker process;
``engine``: N ranks under the framework's own multi-process launcher).

A launcher is a module ``bench/launchers/<name>.py`` whose ``LAUNCHER`` is a ``bench.launchers.base.
Launcher``: it starts the slot's ranks (``Cell.workers`` of them) and merges their results into one
record before the store sees it (``bench.launchers.merge``). More are registered by plugins
(``register_launcher``) named in FRAMEBENCH_PLUGINS. A cell's launcher is the first that accepts it
(``Launcher.accepts``), asking those its framework's descriptor names (``FrameworkDescriptor.
launchers``) first, then every registered one in order; the matrix skips a cell no launcher accepts.
Importing this package starts and imports nothing; a launcher module is imported when asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.plugins import NamedModules

if TYPE_CHECKING:
    from bench.launchers.base import Launcher

# name -> module that defines it
_REGISTRY = NamedModules("LAUNCHER", {"process": "bench.launchers.process",
                                      "engine": "bench.launchers.engine"})


def register_launcher(name: str, module: str) -> None:
    _REGISTRY.register(name, module)


def launcher_names() -> tuple[str, ...]:
    return _REGISTRY.names()


def launcher_class(name: str) -> type[Launcher]:
    """The class a registered launcher's module sets as ``LAUNCHER``."""
    return _REGISTRY.load(name)  # type: ignore[no-any-return]


def launcher_for(cell: object) -> str | None:
    """The name of the launcher that starts ``cell``'s ranks, or None when none accepts it."""
    from bench.frameworks.registry import framework_names, get_framework

    names = launcher_names()
    framework = getattr(cell, "framework", None)
    preferred = get_framework(framework).launchers if framework in framework_names() else ()
    for name in dict.fromkeys([*preferred, *names]):
        if name in _REGISTRY.modules and launcher_class(name).accepts(cell) is None:  # type: ignore[arg-type]
            return name
    return None


def make_launcher(cell: object) -> Launcher | None:
    """A new instance of ``cell``'s launcher (``launcher_for``), or None."""
    name = launcher_for(cell)
    return None if name is None else launcher_class(name)()


def skip_reason(cell: object) -> str | None:
    """Why the matrix records the cell as skipped for its ``workers``, or None to run it."""
    if launcher_for(cell) is None:
        workers = getattr(cell, "workers", 1)
        return f"no launcher starts {workers} ranks of {getattr(cell, 'framework', '?')} yet"
    return None
