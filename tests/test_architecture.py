"""The layered architecture (issue 13): no import cycle between any two modules of ours, no function-local
import of our own modules (they would hide real edges), a reason written beside every deferred third-party
import, and the layer contract of pyproject.toml kept (lint-imports runs it in CI; here through its API)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "cards", "generators", "publishing", "training", "eval", "sweeps")
LAYERS = ("core", "cards", "generators", "publishing", "training", "eval", "sweeps")  # bottom to top


def module_files() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = f.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def strongly_connected(graph) -> list[list[str]]:
    """Tarjan's algorithm over the project's modules (iterative, so deep chains do not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph.modules:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    out.append(sorted(component))
    return out


def test_no_module_imports_itself_back(graph):
    """No cycle at all among our modules, counting every import statement (function-local ones too)."""
    cycles = [c for c in strongly_connected(graph) if len(c) > 1]
    assert cycles == [], f"module cycles: {cycles}"


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a two-module cycle is one component of size 2."""
    g = grimp.ImportGraph()
    for m in ("a", "a.x", "a.y", "a.z"):
        g.add_module(m)
    g.add_import(importer="a.x", imported="a.y")
    g.add_import(importer="a.y", imported="a.x")
    g.add_import(importer="a.y", imported="a.z")
    assert [c for c in strongly_connected(g) if len(c) > 1] == [["a.x", "a.y"]]


def test_packages_import_only_their_own_layer_and_below(graph):
    rank = {pkg: i for i, pkg in enumerate(LAYERS)}
    bad = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            low, high = module.split(".")[0], imported.split(".")[0]
            if high in rank and rank[high] > rank[low]:
                bad.append(f"{module} -> {imported}")
    assert bad == []


def _local_imports(tree: ast.AST):
    """(node, project-module?) for each import statement inside a function or method."""
    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            nested = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if inside and isinstance(child, (ast.Import, ast.ImportFrom)):
                if isinstance(child, ast.ImportFrom) and child.level:
                    yield child, True
                    continue
                names = [a.name for a in child.names] if isinstance(child, ast.Import) else [child.module or ""]
                yield child, any(n.split(".")[0] in PACKAGES for n in names)
            yield from visit(child, nested)
    yield from visit(tree, False)


def _explained(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, on an import line of the same block above it, or on the line above the
    block (one reason may cover a block of deferred imports)."""
    i = lineno - 1
    while i >= 0:
        text = lines[i].strip()
        if "#" in text:
            return True
        if not text.startswith(("import ", "from ")):
            return False
        i -= 1
    return False


def test_no_function_local_import_of_our_modules_and_a_reason_beside_each_deferred_one():
    ours, unexplained = [], []
    for path in module_files().values():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node, project in _local_imports(ast.parse("\n".join(lines))):
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if project:
                ours.append(where)
                continue
            if not _explained(lines, node.lineno):
                unexplained.append(where)
    assert ours == [], f"function-local imports of our own modules (import them at the top): {ours}"
    assert unexplained == [], f"deferred third-party imports without a comment saying why: {unexplained}"


def test_the_local_import_scan_sees_what_it_must():
    code = "def f():\n    from generators import build\n    import torch\n    # deferred: heavy\n    import trl\n    import peft\n"
    found = [(n.lineno, project) for n, project in _local_imports(ast.parse(code))]
    assert found == [(2, True), (3, False), (5, False), (6, False)]
    lines = code.splitlines()
    assert [_explained(lines, n) for n, _ in found[1:]] == [False, True, True]


def test_the_import_linter_contracts_are_kept():
    """pyproject.toml's [tool.importlinter] contracts (the layers, acyclic siblings, no deep-learning stack below
    training), as `lint-imports` checks them in CI."""
    pytest.importorskip("importlinter")
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_data_and_publishing_layers_never_load_torch():
    """generators/ (and what datagen imports) must not need a deep-learning stack: importing them loads none. The
    gym and the RL reward neither, nor reasoning-gym (optional, seconds to import, and it loads matplotlib)."""
    code = ("import sys, generators.build, generators.make, generators.tasks, publishing.cli, cards.dataset_card, "
            "generators.gym, generators.reward; print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', "
            "'accelerate', 'reasoning_gym', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
