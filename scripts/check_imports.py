#!/usr/bin/env python3
"""Import rules of the project, checked from the source alone (ast; nothing is imported or run).

Walks benchmark/ and analysis/ and fails (exit 1, one line per finding) on:

1. an import cycle among the project's modules. Only imports that run when a module is first imported count:
   module-level ones, including `from . import x` and those under try/if at module level, but not those inside
   functions or under `if TYPE_CHECKING:`;
2. a private name taken from another module: `from x import _name`, `import x._name`, or `module._name` where
   `module` was bound by an import (at module or function level, project modules only; dunders are fine);
3. analysis/ importing training code: analysis/ may import only the modules in ANALYSIS_MAY_IMPORT (result-file
   names and readers, file formats, errors) and other analysis/ modules, at any level, and nothing it imports may
   pull in training code at module level either.

Usage: python scripts/check_imports.py [ROOT]   (ROOT: the repository, default this script's parent's parent)
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("benchmark", "analysis")
"""The trees walked (their modules are the graph's nodes)."""
PROJECT = PACKAGES + ("search_spaces",)
"""Top-level packages of the project: private names of these may not be imported across modules."""
ANALYSIS_MAY_IMPORT = ("benchmark", "benchmark.schema", "benchmark.io", "benchmark.errors", "benchmark.envs",
                       "benchmark.envs.tasks", "benchmark.envs.synthetic", "benchmark.nets")
"""What analysis/ may import from benchmark/: result-file names and readers (schema, io, errors), and what reading
a stored SE takes (the task definitions and the SE network: envs.tasks, envs.synthetic, nets). Never agents, the
engine, NES, the protocol or any other training module. (`benchmark`: the package's __init__ only.)"""


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    """The module imported (for `from x import y`: x.y where that is a module, else x)."""
    names: tuple[str, ...]
    """The names taken from `target` (empty for `import x` and for `from x import submodule`)."""
    line: int
    module_level: bool


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(root: Path, module: str) -> bool:
    return (root.joinpath(*module.split(".")) / "__init__.py").is_file()


def is_module(root: Path, module: str) -> bool:
    base = root.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def resolve(importer: str, package: bool, level: int, module: str | None) -> str:
    """The absolute name of a (possibly relative) `from` import's module."""
    if level == 0:
        return module or ""
    parts = importer.split(".")
    if not package:
        parts = parts[:-1]
    parts = parts[:len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else []))


def type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def collect(root: Path, path: Path) -> tuple[list[Import], list[tuple[str, int]]]:
    """The project imports of one file, and its private attribute uses `(alias._name, line)` of imported modules."""
    importer = module_name(root, path)
    package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imports: list[Import] = []
    module_aliases: set[str] = set()

    def project(name: str) -> bool:
        return name.split(".")[0] in PROJECT

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif type_checking_block(child):
                for stmt in child.body:  # never runs: not an edge of the graph, but still a use of names
                    visit_stmt(stmt, False)
                for stmt in child.orelse:
                    visit_stmt(stmt, module_level)
            else:
                visit_stmt(child, module_level)

    def visit_stmt(child: ast.AST, module_level: bool) -> None:
        if isinstance(child, ast.Import):
            for alias in child.names:
                if project(alias.name):
                    imports.append(Import(importer, alias.name, (), child.lineno, module_level))
                    module_aliases.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(child, ast.ImportFrom):
            base = resolve(importer, package, child.level, child.module)
            if not project(base):
                return
            taken = []
            for alias in child.names:
                sub = f"{base}.{alias.name}"
                if is_module(root, sub):
                    imports.append(Import(importer, sub, (), child.lineno, module_level))
                    module_aliases.add(alias.asname or alias.name)
                else:
                    taken.append(alias.name)
            if taken or not child.names:
                imports.append(Import(importer, base, tuple(taken), child.lineno, module_level))
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            visit(child, False)
        else:
            visit(child, module_level)

    visit(tree, True)
    private_attrs = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_aliases
                and private(node.attr)):
            private_attrs.append((f"{node.value.id}.{node.attr}", node.lineno))
    return imports, private_attrs


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a closed path of modules) per strongly connected component that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:  # recursive: the graph has ~100 nodes
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
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
            if len(component) > 1 or v in graph.get(v, ()):
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return [cycle_in(graph, set(c)) for c in components]


def cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A closed path through the component's first module (breadth-first: a shortest one)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ()) & component):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return sorted(component)


def check(root: Path) -> list[str]:
    problems: list[str] = []
    files = sorted(p for pkg in PACKAGES for p in (root / pkg).rglob("*.py"))
    imports: list[Import] = []
    for path in files:
        found, private_attrs = collect(root, path)
        imports += found
        rel = path.relative_to(root)
        for attr, line in private_attrs:
            problems.append(f"{rel}:{line}: private name of another module used: {attr} (make it public or move it)")

    paths = {module_name(root, p): p.relative_to(root).as_posix() for p in files}
    nodes = set(paths)
    graph: dict[str, set[str]] = {n: set() for n in nodes}
    where: dict[tuple[str, str], int] = {}
    for imp in imports:
        rel = paths[imp.importer]
        for name in imp.names:
            if private(name):
                problems.append(f"{rel}:{imp.line}: private name imported across modules: "
                                f"from {imp.target} import {name} (make it public or move it)")
        last = imp.target.split(".")[-1]
        if private(last) and imp.target != imp.importer:
            problems.append(f"{rel}:{imp.line}: private module imported: {imp.target}")
        if imp.module_level and imp.target in nodes and imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
            where.setdefault((imp.importer, imp.target), imp.line)

    for cycle in find_cycles(graph):
        steps = "; ".join(f"{paths[a]}:{where[(a, b)]} imports {b}" for a, b in zip(cycle, cycle[1:]))
        problems.append(f"import cycle: {' -> '.join(cycle)} ({steps}); move what they share into a module "
                        "of its own")

    allowed = set(ANALYSIS_MAY_IMPORT)
    for imp in imports:
        if imp.importer.split(".")[0] == "analysis" and imp.target.split(".")[0] != "analysis" \
                and imp.target not in allowed:
            problems.append(f"{paths[imp.importer]}:{imp.line}: analysis/ imports training code: "
                            f"{imp.target} (analysis may import only {', '.join(ANALYSIS_MAY_IMPORT)})")
    for start in sorted(allowed & nodes):  # what analysis may import must not pull training code in itself
        seen, todo = {start}, [start]
        while todo:
            for w in graph.get(todo.pop(), ()):
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        for bad in sorted(seen - allowed - {n for n in nodes if n.split(".")[0] == "analysis"}):
            problems.append(f"{paths[start]}: imported by analysis/ but pulls in {bad} at module level")
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve() if len(argv) > 1 else Path(__file__).resolve().parent.parent
    problems = check(root)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_imports: {len(problems)} problem(s) in {', '.join(p + '/' for p in PACKAGES)}", file=sys.stderr)
        return 1
    print(f"check_imports: {', '.join(p + '/' for p in PACKAGES)}: no import cycles, no private names imported "
          f"across modules, analysis/ imports no training code")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
