"""What the static scan works out about a module before it walks it: names and scopes, not rules.

Grader side.  Helpers over :mod:`ast` trees: dotted names, the nodes of one scope, which names
hold rows loaded from data files (a simple taint through assignments), which names and functions
the answering path uses, long constants, and docstrings (which never count as findings).
"""

from __future__ import annotations

import ast

from grader_plugin.handin.contract import ANSWERING_METHODS
from grader_plugin.integrity.vocabulary import REPLACED_METHODS

BLOB_CHARS = 200
"""A string or bytes constant at least this long may hide data."""


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a name or attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def own_nodes(scope: ast.AST):
    """Nodes of ``scope`` without the bodies of functions nested in it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def string_constants(node: ast.AST):
    """Every string or bytes constant under ``node``."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str | bytes):
            yield child


def docstring_ids(tree: ast.Module) -> set[int]:
    """Ids of the docstring constants of the module, its classes and functions."""
    return {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }


def long_constants(tree: ast.Module) -> set[str]:
    """Names bound to long string or bytes constants (possibly joined with ``+``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(c.value, str | bytes) and len(c.value) >= BLOB_CHARS for c in string_constants(node.value)
        ):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def is_row_source(node: ast.AST, tainted: set[str]) -> bool:
    """Whether ``node`` loads data rows (``json.load``, ``Dataset(...)``) or uses a name holding them."""
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            name = dotted(child.func)
            if (
                name.endswith(("json.load", "json.loads"))
                or name in ("load", "loads")
                or (name.split(".")[-1] == "Dataset")
            ):
                return True
        if isinstance(child, ast.Name) and child.id in tainted:
            return True
    return False


def rows_in(scope: ast.AST, inherited: set[str]) -> set[str]:
    """Names of one scope that hold rows loaded from data (json or ``Dataset``), through assignments.

    Nested functions are their own scopes; module-level names are inherited by functions.
    """
    tainted = set(inherited)
    body = list(own_nodes(scope))
    for _ in range(4):  # a few rounds reach a fixed point for straight-line code
        before = len(tainted)
        for node in body:
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value is not None:
                if is_row_source(node.value, tainted):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        tainted.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
            elif isinstance(node, ast.For | ast.comprehension) and is_row_source(node.iter, tainted):
                tainted.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
        if len(tainted) == before:
            break
    return tainted


def answering_names(tree: ast.Module) -> tuple[set[str], set[int]]:
    """Names used by the answering path, and the ids of the functions on it.

    The path starts at the answering methods and at functions assigned over them, and follows
    the functions it names (by name, a few levels deep).
    """
    functions: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.setdefault(node.name, []).append(node)
    start = set(ANSWERING_METHODS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr in REPLACED_METHODS for t in node.targets
        ):
            start.update(n.id for n in ast.walk(node.value) if isinstance(n, ast.Name))
    used, reached, frontier = set(), set(), start
    for _ in range(5):
        nodes = [f for name in frontier for f in functions.get(name, []) if id(f) not in reached]
        if not nodes:
            break
        reached.update(id(f) for f in nodes)
        names = set()
        for function in nodes:
            for child in ast.walk(function):
                if isinstance(child, ast.Name):
                    names.add(child.id)
                elif isinstance(child, ast.Attribute):
                    names.add(child.attr)
        used |= names
        frontier = names
    return used, reached
