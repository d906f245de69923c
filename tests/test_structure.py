"""The house rules, checked: no import circle, small modules, and no framework or model-family name
in the harness outside the framework packages (everything else asks the registries)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bench", "models")
MAX_LINES = 400
# Names that belong inside bench/frameworks/<name>/ and models/<family>/ only.
FORBIDDEN = re.compile(
    r"tensorflow|torch|keras|\bjax\b|(?<![a-z])[gd]_loss|generator|discriminator|dcgan|vae|ddpm|unet",
    re.IGNORECASE)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of this project that ``name`` imports, at any depth (module level or in functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_no_import_circle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # A package's __init__ re-exporting its submodules is not a circle between modules.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_modules_stay_small() -> None:
    big = {str(p.relative_to(ROOT)): n for p in _modules().values()
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_harness_names_no_framework_and_no_model_family() -> None:
    hits = []
    for path in sorted((ROOT / "bench").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("bench", "frameworks") and len(rel.parts) > 3:
            continue  # inside bench/frameworks/<name>/
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FORBIDDEN.search(line):
                hits.append(f"{rel}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_models_never_import_bench() -> None:
    modules = _modules()
    bad = [name for name, path in modules.items() if name.startswith("models")
           and any(m.startswith("bench") for m in _imports(name, path, modules))]
    assert not bad, bad


# The stages of bench/, each a package, in the order in which they may import each other: a module
# imports its own stage and the stages before it, never one after it (core is bench's top-level modules:
# the cell, its axes, the vocabulary, errors, statistics). A later stage is reached from an earlier one
# only through the interface it registers: the registries below, which name what exists and load the
# implementation by name (importlib), so no import statement points forward.
STAGES = ("core", "results", "frameworks", "host", "worker", "scenarios", "launchers", "analysis", "report",
          "plan", "gate", "commands")
REGISTRIES = frozenset({
    "bench.frameworks", "bench.frameworks.registry", "bench.frameworks.descriptor", "bench.scenarios",
    "bench.launchers", "models.registry", "models.family",
})


def _stage(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "models":
        return "frameworks"  # a model family is loaded with its framework, in the worker
    if parts[1:2] in (["cli"], ["__main__"]):
        return "commands"
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else "core"


def test_every_bench_module_belongs_to_a_stage_package() -> None:
    flat = sorted(n for n in _modules() if n.startswith("bench.") and n.count(".") == 1
                  and _stage(n) == "core" and (ROOT / (n.replace(".", "/") + ".py")).is_file())
    # core stays the small shared vocabulary; a new module goes into the stage it serves
    assert len(flat) <= 13, flat


def test_no_import_points_from_an_earlier_stage_to_a_later_one() -> None:
    modules = _modules()
    back = []
    for name, path in sorted(modules.items()):
        for target in sorted(_imports(name, path, modules)):
            if target in REGISTRIES or target.startswith("tests"):
                continue
            if STAGES.index(_stage(target)) > STAGES.index(_stage(name)):
                back.append(f"{name} ({_stage(name)}) imports {target} ({_stage(target)})")
    assert not back, "\n".join(back)
