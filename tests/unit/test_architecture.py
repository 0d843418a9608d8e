"""The architecture, checked: no import cycles in the core, adapters on its public API only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "tiered_cache"
ADAPTERS = [ROOT / "langchain_tiered_cache", ROOT / "llamaindex_tiered_cache"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> set[str]:
    """Modules of the core that `path` imports when it is imported: module level only, outside
    `if TYPE_CHECKING:` (imports inside functions run later and cannot form a load cycle)."""
    tree = ast.parse(path.read_text())
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    )
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else []:
            if isinstance(sub, ast.ImportFrom):
                if sub.level:
                    base = package.split(".")
                    base = base[: len(base) - sub.level + 1]
                    target = ".".join(base + ([sub.module] if sub.module else []))
                else:
                    target = sub.module or ""
                if target.startswith("tiered_cache"):
                    found.add(target)
                    found.update(f"{target}.{a.name}" for a in sub.names)
            elif isinstance(sub, ast.Import):
                found.update(a.name for a in sub.names if a.name.startswith("tiered_cache"))
    return found


def test_the_core_has_no_import_cycles() -> None:
    modules = {module_name(p): p for p in CORE.rglob("*.py")}
    graph = {
        name: {m for m in runtime_imports(path) if m in modules and m != name}
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
