"""Which lines of a hand-in grading can run: the code its entry points reach, read from source.

Grader side.  Grading imports the package (its ``__init__.py``, the parts' modules and ``data``)
and calls the entry points (``load``, ``BaseLLM``, the answering methods, ``data.benchmark``).
What that can run is the module-level code of every module those imports reach, and every
function whose name reached code mentions (by name, across the package), every decorated function
and every method of a class in those modules: an over-estimate, never an under-estimate.  A
module nothing imports (a training script, ``__main__.py``), a function nothing reached names
(``train_model``) and an ``if __name__ == "__main__":`` block never run when graded.

The static scan reports a warning only where it is reached (:mod:`.static_scan`): a warning
about a training script reading training data is noise.  Flags never depend on reach.  Where the
source can reach code by a name it computes (``importlib``, ``__import__``, ``exec``, ``eval``,
``runpy``, a ``getattr`` with a computed name, a pickle that names its callables) or a module
cannot be parsed, the grader cannot establish reach, and every line counts as reached.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader_plugin.handin import bounded
from grader_plugin.handin.contract import ANSWERING_METHODS, ENTRY_POINTS
from grader_plugin.integrity.ast_analysis import dotted

ROOT_MODULES = ("__init__", "data", *ENTRY_POINTS)
"""Modules grading imports: the package, its ``data`` module (the course calls ``data.benchmark``)
and the parts' modules."""
ROOT_NAMES = frozenset({*ANSWERING_METHODS, "load", "load_cot", "load_sft", "load_rft", "BaseLLM",
                        "Dataset", "benchmark"})
"""Names grading calls: the entry points, the answering methods and the course's ``data`` helpers."""
DYNAMIC_BUILTINS = frozenset({"__import__", "exec", "eval", "compile", "globals", "vars", "locals"})
DYNAMIC_CALLS = frozenset({"__import__", "import_module", "run_path", "run_module", "spec_from_file_location",
                           "module_from_spec", "reload", "exec", "eval"})
DYNAMIC_MODULES = ("importlib", "util", "runpy", "builtins", "imp")
BY_NAME_IN_DATA = {"pickle": {"load", "loads", "Unpickler"}, "marshal": {"load", "loads"},
                   "dill": {"load", "loads"}, "cloudpickle": {"load", "loads"},
                   "operator": {"attrgetter", "methodcaller"}, "types": {"FunctionType"}}
"""Calls that reach a function named in data (a pickle names its callables) or built from code."""
"""Calls (bare builtins; functions of ``importlib``, ``runpy``, ``builtins``) that reach code by a
name computed at run time: reach cannot be read from source."""


class Unknowable(Exception):
    """The source reaches code in a way the scan cannot follow."""


def _is_main_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


class _Module:
    """One module's tree and what its reached code names and imports."""

    def __init__(self, name: str, tree: ast.Module, package_parts: list[str]):
        self.name, self.tree, self.package_parts = name, tree, package_parts
        self.lines: set[int] = set()
        self.names: set[str] = set()
        self.imports: set[str] = set()

    def walk(self, functions: set[int]) -> None:
        """Collect the lines, names and imports of the module-level code and of ``functions``."""
        self.lines, self.names, self.imports = set(), set(), set()
        self._visit(self.tree, True, functions)

    def _visit(self, node: ast.AST, reached: bool, functions: set[int]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                for outer in [*child.decorator_list, *child.args.defaults, *child.args.kw_defaults]:
                    if outer is not None and reached:
                        self._note(outer)
                        self._visit(outer, True, functions)
                inner = id(child) in functions
                if inner:
                    self.lines.add(child.lineno)
                for statement in child.body:
                    if inner:
                        self._note(statement)
                    self._visit(statement, inner, functions)
                continue
            if _is_main_block(child):
                for statement in child.body:
                    self._visit(statement, False, functions)
                child = ast.If(test=child.test, body=[], orelse=child.orelse, lineno=child.lineno)
            if reached:
                self._note(child)
            self._visit(child, reached, functions)

    def _note(self, node: ast.AST) -> None:
        if hasattr(node, "lineno"):
            self.lines.add(node.lineno)
        if isinstance(node, ast.Name):
            self.names.add(node.id)
        elif isinstance(node, ast.Attribute):
            self.names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            self.names.add(node.value)  # getattr(obj, "answer") reaches answer
        elif isinstance(node, ast.Import | ast.ImportFrom):
            self._imported(node)
        elif isinstance(node, ast.Call):
            name = dotted(node.func)
            computed = name == "getattr" and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant)
            module, _, last = name.rpartition(".")
            owner = module.split(".")[-1]
            dynamic = ((not module and name in DYNAMIC_BUILTINS | DYNAMIC_CALLS)
                       or (last in DYNAMIC_CALLS and owner in DYNAMIC_MODULES)
                       or last in BY_NAME_IN_DATA.get(owner, ()))
            if computed or dynamic:
                raise Unknowable(name)

    def _imported(self, node: ast.Import | ast.ImportFrom) -> None:
        aliases = [alias.name for alias in node.names]
        self.names.update(name.split(".")[-1] for name in aliases)
        if isinstance(node, ast.Import):
            self.imports.update(aliases)
            return
        if node.level:
            parts = self.package_parts[:len(self.package_parts) - node.level + 1]  # the package it is in
            base = ".".join([*parts, *(node.module.split(".") if node.module else [])])
            self.imports.update({base} | {f"{base}.{name}".lstrip(".") for name in aliases})
        elif node.module:
            self.imports.update({node.module} | {f"{node.module}.{name}" for name in aliases})


def _module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    return ".".join(parts[:-1]) if parts[-1] == "__init__" and len(parts) > 1 else ".".join(parts)


def _read(folder: Path) -> dict[str, tuple[str, _Module]]:
    """Module name (``sft``, ``sub``, ``__init__``) -> (file as findings name it, parsed module)."""
    folder, modules = Path(folder), {}
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        text = bounded.read_bytes(path, bounded.MAX_SOURCE_BYTES).decode("utf-8", errors="replace")
        with bounded.recursion_room(bounded.MAX_SYNTAX_DEPTH):
            tree = bounded.parse_python(text, str(path))
        relative = path.relative_to(folder)
        name = _module_name(relative)
        modules[name] = (path.relative_to(folder.parent).as_posix(), _Module(name, tree, list(relative.parts[:-1])))
    return modules


def _local(imported: str, package: str, modules: dict) -> set[str]:
    """The package's modules an import statement's name runs (a submodule runs its packages too)."""
    name = imported.removeprefix(package + ".") if imported.startswith(package + ".") else imported
    name = "__init__" if imported == package else name
    parts = name.split(".")
    return {".".join(parts[:n]) for n in range(1, len(parts) + 1)} & set(modules)


def _functions_reached(tree: ast.Module, names: set[str]) -> list[ast.AST]:
    """The functions of an imported module that grading may call: those reached code names, dunders,
    every decorated function (a decorator can register it under another name) and every method of a
    class (frameworks call methods by their own names, ``forward`` through ``module(x)``)."""
    in_class = {id(child) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for child in node.body}
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and (node.name in names or (node.name.startswith("__") and node.name.endswith("__"))
                 or node.decorator_list or id(node) in in_class)]


def reached_lines(folder: Path, entry_points: dict[str, str] | None = None) -> dict[str, set[int]] | None:
    """File (as findings name it) -> the lines grading can run; None when reach cannot be established."""
    folder, package = Path(folder), Path(folder).name
    try:
        modules = _read(folder)
    except (bounded.Refused, SyntaxError, RecursionError, MemoryError, OSError, ValueError):
        return None
    declared = [spec.split(":") for spec in (entry_points or {}).values()]
    imported = {name for name in ROOT_MODULES if name in modules}
    imported |= {m for spec in declared for m in _local(spec[0].lstrip("."), package, modules)}
    names = set(ROOT_NAMES) | {spec[1] for spec in declared if len(spec) > 1}
    functions: set[int] = set()
    while True:
        try:
            for name in imported:
                modules[name][1].walk(functions)
        except Unknowable:
            return None
        names |= {n for name in imported for n in modules[name][1].names}
        more = {m for name in imported for i in modules[name][1].imports for m in _local(i, package, modules)}
        reach = {id(node) for name in imported | more for node in _functions_reached(modules[name][1].tree, names)}
        if more <= imported and reach <= functions:
            break
        imported |= more
        functions |= reach
    return {file: (module.lines if name in imported else set()) for name, (file, module) in modules.items()}
