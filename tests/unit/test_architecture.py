"""The architecture, checked: no import cycles in the core (`TYPE_CHECKING` imports counted),
no import from a lower layer up to the tools or the adapters, modules small enough to read,
adapters on the core's public API only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "tiered_cache"
ADAPTERS = [ROOT / "langchain_tiered_cache", ROOT / "llamaindex_tiered_cache"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _target(node: ast.ImportFrom | ast.Import, package: str) -> list[str]:
    """The absolute module names an import statement names (its imported names too, since
    `from . import judge` imports a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [target, *(f"{target}.{a.name}" for a in node.names)]


def _package(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def load_imports(path: Path) -> set[str]:
    """Modules of the core that `path` imports when it is imported, and those it names for the
    type checker: module level, `if TYPE_CHECKING:` blocks included (a circle hidden from the
    interpreter is still a circle for the reader). Imports inside functions run later and
    cannot form a load cycle; the layer test below counts them."""
    tree = ast.parse(path.read_text())
    package = _package(path)
    found: set[str] = set()
    for node in tree.body:
        for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else []:
            if isinstance(sub, (ast.ImportFrom, ast.Import)):
                found.update(t for t in _target(sub, package) if t.startswith("tiered_cache"))
    return found


def all_imports(path: Path) -> set[str]:
    """Every module `path` names in an import, wherever the import stands (module level,
    `TYPE_CHECKING`, inside functions and classes)."""
    package = _package(path)
    return {
        t
        for sub in ast.walk(ast.parse(path.read_text()))
        if isinstance(sub, (ast.ImportFrom, ast.Import))
        for t in _target(sub, package)
    }


def test_the_core_has_no_import_cycles() -> None:
    modules = {module_name(p): p for p in CORE.rglob("*.py")}
    graph = {
        name: {m for m in load_imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    # a package's __init__ re-exports its modules: importing a module never needs it back
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_adapters_use_only_public_names_of_the_core() -> None:
    offenders = []
    for folder in ADAPTERS:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "tiered_cache"
                ):
                    private = [p for p in (node.module or "").split(".") if p.startswith("_")]
                    private += [a.name for a in node.names if a.name.startswith("_")]
                    if private:
                        offenders.append(f"{path.name}: from {node.module} import {private}")
    assert offenders == []


def test_the_core_never_imports_a_framework() -> None:
    """Only tools (the demo command, the pytest plugin) use an adapter, inside a function run
    when the framework is installed; nothing else of the core imports a framework at all."""
    frameworks = ("langchain", "llama_index", "langchain_tiered_cache", "llamaindex_tiered_cache")
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        if path.parent.name == "tools":
            tree.body = [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(frameworks)]
    assert offenders == []


def test_no_lower_layer_imports_the_tools_or_the_adapters() -> None:
    """Tools sit above the public API: nothing of the core outside `tools/` imports them, or an
    adapter, anywhere (module level, `TYPE_CHECKING`, inside functions)."""
    above = ("tiered_cache.tools", "langchain_tiered_cache", "llamaindex_tiered_cache")
    offenders = [
        f"{module_name(path)}: {target}"
        for path in CORE.rglob("*.py")
        if "tools" not in path.relative_to(CORE).parts
        for target in sorted(all_imports(path))
        if target in above or target.startswith(tuple(f"{a}." for a in above))
    ]
    assert offenders == []


MAX_LINES = 450
MAX_FACADE_LINES = 300


def test_core_modules_are_small_enough_to_read() -> None:
    sizes = {
        str(path.relative_to(CORE)): len(path.read_text().splitlines())
        for path in CORE.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
    assert sizes["cache.py"] <= MAX_FACADE_LINES, sizes["cache.py"]
