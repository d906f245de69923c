"""The two imports that pointed from an earlier stage to a later one, hidden in function bodies, stay
gone: what both sides need lives below both (bench.same_settings, bench.frameworks.peak)."""

from __future__ import annotations

from test_structure import _imports, _modules


def _imported_by(prefix: str) -> set[str]:
    modules = _modules()
    return {m for name, path in modules.items() if name == prefix or name.startswith(prefix + ".")
            for m in _imports(name, path, modules)}


def test_baselines_never_import_the_gate() -> None:
    assert not {m for m in _imported_by("bench.gate.baseline") if m.startswith("bench.gate")}


def test_a_frameworks_roofline_module_never_imports_the_driver_that_loads_it() -> None:
    modules = _modules()
    sources = [n for n in modules if n.startswith("bench.frameworks.") and n.endswith(".roofline")]
    assert sources, "no framework roofline module found"
    assert all("bench.host.roofline" not in _imports(n, modules[n], modules) for n in sources)
