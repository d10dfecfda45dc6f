"""The package's import graph: no circle, and no library module importing a command (issue 12).

Walks every module of ``nni_autotsnet`` (``search_space/`` and ``strategies/`` are installed as
``nni_autotsnet.search_space`` / ``nni_autotsnet.strategies``) with ``ast``, function-local imports
included, so a circle held together by an import inside a function counts as a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"nni_autotsnet": REPO / "nni_autotsnet", "nni_autotsnet.search_space": REPO / "search_space",
            "nni_autotsnet.strategies": REPO / "strategies"}
# the modules behind `python -m nni_autotsnet.<command>`
COMMANDS = {f"nni_autotsnet.{name}" for name in
            ("search", "train", "evaluate", "export", "predict", "random_search", "report", "demo", "latency.cli",
             "data.__main__", "config.__main__")}
ENTRY_POINTS = {"nni_autotsnet.latency.__main__": {"nni_autotsnet.latency.cli"}}  # `python -m` shims
DRIVERS = {"nni_autotsnet.demo": {"nni_autotsnet.export"}}  # a command that drives another (the main job)


def _modules() -> dict[str, Path]:
    modules = {}
    for package, folder in PACKAGES.items():
        for file in folder.rglob("*.py"):
            parts = [p for p in file.relative_to(folder).with_suffix("").parts if p != "__init__"]
            modules[".".join([package, *parts])] = file
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` lives in (``a.b.c`` where ``c`` is a function of ``a.b`` gives ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its body."""
    modules = _modules()
    graph = {}
    for name, file in modules.items():
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                if target.startswith("nni_autotsnet") and (module := _resolve(target, modules)) and module != name:
                    found.add(module)
        graph[name] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_walk_sees_the_package(graph):
    assert {"nni_autotsnet.search", "nni_autotsnet.runtime", "nni_autotsnet.search_space.space",
            "nni_autotsnet.strategies.parsec"} <= set(graph)
    assert "nni_autotsnet.runtime" in graph["nni_autotsnet.search"]  # function-level and module-level imports
    assert "nni_autotsnet.strategies" in graph["nni_autotsnet.search"]  # (make_strategy imports it in its body)
    assert COMMANDS <= set(graph) and set(ENTRY_POINTS) <= set(graph)


def test_the_import_graph_has_no_circle(graph):
    assert _cycles(graph) == []


def test_no_library_module_imports_a_command(graph):
    bad = [f"{module} -> {target}" for module, targets in graph.items() if module not in COMMANDS
           for target in targets & COMMANDS - ENTRY_POINTS.get(module, set())]
    assert bad == []


def test_commands_import_each_other_only_where_one_drives_the_other(graph):
    bad = [f"{module} -> {target}" for module in COMMANDS for target in graph[module] & COMMANDS - DRIVERS.get(module, set())]
    assert bad == []


def test_the_checks_catch_a_circle_and_a_command_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
