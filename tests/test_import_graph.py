"""The import graph of the project's packages stays clean: imports run one way between the top-level packages,
and no module imports itself through others at import time (no cycle).

Layers (DESIGN.md, "Habits"): ``corpus_forge`` imports only itself; ``filters`` may import ``corpus_forge``;
``pipelines`` and ``tokenize_bpe`` may import both; ``train_smoke`` may import those and ``tokenize_bpe``. The
registry names step modules as strings, so the framework never imports a step. Every import counts for the
layers, also one inside a function; for cycles only those that run when a module is imported (top-level
statements, outside ``if TYPE_CHECKING:``).
"""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ALLOWED = {
    "corpus_forge": {"corpus_forge"},
    "filters": {"corpus_forge", "filters"},
    "pipelines": {"corpus_forge", "filters", "pipelines"},
    "tokenize_bpe": {"corpus_forge", "filters", "tokenize_bpe"},
    "train_smoke": {"corpus_forge", "filters", "tokenize_bpe", "train_smoke"},
}


def modules() -> dict[str, Path]:
    out = {}
    for package in ALLOWED:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = modules()


def _resolve(name: str) -> str | None:
    """The project module ``name`` is (or is in), None for another package's."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, nodes: list[ast.stmt] | ast.Module, top_only: bool) -> set[str]:
    found: set[str] = set()
    todo = list(nodes.body if isinstance(nodes, ast.Module) else nodes)
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import):
            found.update(filter(None, (_resolve(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for a in node.names:  # `from pkg import submodule` imports the submodule
                target = _resolve(f"{base}.{a.name}") if f"{base}.{a.name}" in MODULES else _resolve(base)
                if target:
                    found.add(target)
        if top_only:
            if isinstance(node, (ast.If, ast.Try, ast.With)) and not _type_checking(node):
                todo += [n for field in ("body", "orelse", "finalbody", "handlers") for n in getattr(node, field, [])]
            elif isinstance(node, ast.ExceptHandler):
                todo += node.body
        else:
            todo += [n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt | ast.ExceptHandler)]
    found.discard(module)
    return found


def parse(source: str, name: str = "<test>") -> ast.Module:
    """``ast.parse`` with the garbage collector paused: on CPython 3.11.7 a collection that runs finalizers in
    the middle of building the tree can raise "SystemError: AST constructor recursion depth mismatch" (seen
    once in a full CI run, never alone; CPython gh-106905)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source, name)
    finally:
        if enabled:
            gc.enable()


def graph(top_only: bool) -> dict[str, set[str]]:
    return {m: _imports(m, parse(p.read_text(), str(p)), top_only) for m, p in MODULES.items()}


def test_imports_run_one_way_between_the_packages() -> None:
    upward = sorted(f"{m} imports {t}" for m, targets in graph(top_only=False).items() for t in targets
                    if t.split(".")[0] not in ALLOWED[m.split(".")[0]])
    assert upward == []


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``edges`` (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_through_others_at_import_time() -> None:
    assert find_cycle(graph(top_only=True)) is None


def test_the_checks_see_what_they_are_meant_to() -> None:
    """The graph holds real edges (the runner imports the stage module, a step its framework), and the checks
    catch a planted cycle and a planted upward import."""
    g = graph(top_only=False)
    assert "corpus_forge.stage" in g["corpus_forge.runner"] and "corpus_forge.stage" in g["pipelines.filter"]
    assert "corpus_forge.sections" not in graph(top_only=True)["corpus_forge.stage"]  # only for type checking
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    planted = _imports("corpus_forge.report", parse("def f():\n    from pipelines.filter import FilterStage\n"),
                       top_only=False)
    assert planted == {"pipelines.filter"}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_every_package_has_modules(package: str) -> None:
    assert any(m.split(".")[0] == package for m in MODULES)
