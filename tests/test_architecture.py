"""Imports only go down: each package of ``rnnx`` imports from packages below it, never from one
above, and no two modules import each other (directly or around a circle).

The layers, bottom first (docs/design.md draws them):

- foundation: ``errors``, then ``_checks`` and ``_files``;
- ``cells``: each cell's equations;
- ``recurrence``: the time loop, layers, directions, packing, the regularisers;
- ``fused``: rnnx's C++ kernels and their autograd nodes;
- ``backends``: every way of running a layer (reference, PyTorch's kernels, fused, step, export
  forms), behind one protocol, and the one function that chooses among them;
- ``modules``: the torch.nn-compatible modules;
- ``inspection``, ``seq2seq``, ``export``, ``quantize``: what is built on the modules;
- ``serialization``, then the ``rnnx`` package itself (its public names);
- ``lab`` and ``benchmark``, then ``claims`` and ``benchmark_inference``;
- ``cli``: the command line, on top of everything.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

RANK = {
    "errors": 0,
    "_checks": 1,
    "_files": 1,
    "cells": 2,
    "recurrence": 3,
    "fused": 4,
    "backends": 5,
    "modules": 6,
    "inspection": 7,
    "seq2seq": 7,
    "export": 7,
    "quantize": 7,
    "serialization": 8,
    "": 9,  # the package rnnx itself
    "lab": 10,
    "benchmark": 10,
    "claims": 11,
    "benchmark_inference": 11,
    "cli": 12,
}

DEPRECATED: set[str] = {"rnnx.seq2seq._moved"}
"""Modules kept for one release at an old import path, re-exporting (with a ``DeprecationWarning``)
names that moved to a package above them: the one kind of upward import allowed (CHANGELOG.md)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str:
    """``rnnx.cells.lstm`` -> ``cells``; ``rnnx`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(tree: ast.Module, *, top_level_only: bool) -> list[tuple[str, int]]:
    """The ``rnnx`` modules a file imports, with the line; ``top_level_only`` skips imports inside
    functions (run when called, they break no import), but keeps those under a top-level ``if``,
    ``if TYPE_CHECKING:`` included: a circle of types is a circle of concepts all the same."""
    nodes: list[ast.AST] = list(ast.walk(tree))
    if top_level_only:
        nodes = [n for n in tree.body if not isinstance(n, ast.If)]
        nodes += [n for block in tree.body if isinstance(block, ast.If) for n in ast.walk(block)]
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "rnnx":
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "rnnx"]
    return found


def _sources() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(encoding="utf-8")) for p in sorted((SRC / "rnnx").rglob("*.py"))}


def test_every_package_has_a_layer() -> None:
    packages = {_package(m) for m in _sources()}
    assert packages <= set(RANK), f"packages without a layer in RANK: {sorted(packages - set(RANK))}"


def test_imports_only_go_down() -> None:
    upward = []
    for module, tree in _sources().items():
        here = _package(module)
        if module in DEPRECATED:
            continue
        for target, line in _imports(tree, top_level_only=False):
            there = _package(target)
            if there != here and RANK[there] >= RANK[here]:
                upward.append(f"{module}:{line} imports {target} ({here or 'rnnx'} may not import {there or 'rnnx'})")
    assert not upward, "\n".join(upward)


def test_no_import_circle_between_modules() -> None:
    sources = _sources()
    graph: dict[str, set[str]] = {}
    for module, tree in sources.items():
        graph[module] = set()
        for target, _ in _imports(tree, top_level_only=True):
            # "from rnnx.cells import base" names a module too; a package import means its __init__
            graph[module].add(target if target in sources else target.rsplit(".", 1)[0])
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or nxt == node:  # a package importing its own submodules by name
                continue
            if state.get(nxt) == 1:
                circle = [*path[path.index(nxt) :], nxt]
                # a package's __init__ importing its own modules, which import siblings, is not a circle
                if not any(a == b.rsplit(".", 1)[0] or b == a.rsplit(".", 1)[0] for a, b in itertools.pairwise(circle)):
                    circles.append(" -> ".join(circle))
            elif state.get(nxt) is None:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(circles)
