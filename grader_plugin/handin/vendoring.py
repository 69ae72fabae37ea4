"""Making a hand-in self-contained: the core modules it imports travel inside it, imported relatively.

The course's grader imports a hand-in as a plain package on a machine where this project is not
installed, and renames nothing: the package must run from its own files.  A hand-in that imports
the neutral core (``from unitconv import model_loader``, also inside functions) therefore carries
the core modules it needs, found transitively, as a subpackage (``homework/unitconv/``), and every
import of the core, in the hand-in and in the carried modules, becomes relative
(``from .unitconv import model_loader``).  Import statements are found with :mod:`ast`; only their
text is rewritten, every other line stays as it was.

Renaming the package (``solution`` -> ``homework``) is only safe when the package never imports
itself by its own name; :func:`check_renamable` refuses otherwise, naming the line.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

CORE = "unitconv"
"""The package that is carried inside a hand-in that imports it."""
STRING_IMPORTERS = ("import_module", "__import__")


class VendoringError(ValueError):
    """The hand-in cannot be renamed or made self-contained; the message names the line and the fix."""


@dataclass(frozen=True)
class Source:
    """One Python file of a package: its path, its path inside the package, its text and its parsed tree."""

    path: Path
    relative: Path
    text: str
    tree: ast.Module

    @property
    def depth(self) -> int:
        """Folders between the package's top and this file (``x.py`` -> 0, ``a/x.py`` -> 1)."""
        return len(self.relative.parts) - 1

    def where(self, node: ast.AST) -> str:
        return f"{self.path}:{node.lineno}"


def parse_sources(folder: Path, files: list[Path]) -> tuple[list[Source], list[str]]:
    """The ``.py`` files among ``files`` parsed; files that are not valid Python give a warning each."""
    sources, warnings = [], []
    for path in files:
        if path.suffix != ".py":
            continue
        relative = path.relative_to(folder)
        try:
            text = path.read_text(encoding="utf-8-sig")
            tree = ast.parse(text, filename=str(relative))
        except (SyntaxError, UnicodeDecodeError) as error:
            where = f"{path}:{error.lineno}" if isinstance(error, SyntaxError) else str(path)
            reason = error.msg if isinstance(error, SyntaxError) else "not UTF-8"
            warnings.append(f"{where}: not valid Python ({reason}); bundled unchanged, and the course's "
                            f"grader fails if it imports it")
            continue
        sources.append(Source(path, relative, text, tree))
    return sources, warnings


def _names_package(module: str | None, package: str) -> bool:
    return bool(module) and (module == package or module.startswith(package + "."))


def absolute_imports(tree: ast.Module, package: str) -> list[ast.Import | ast.ImportFrom]:
    """Import statements of ``tree`` (at any depth) that import ``package`` or one of its modules."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(_names_package(a.name, package) for a in node.names):
            found.append(node)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _names_package(node.module, package):
            found.append(node)
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def string_imports(tree: ast.Module, package: str) -> list[ast.Call]:
    """Calls like ``importlib.import_module("package.x")`` that no rewrite of import lines can reach."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        first = node.args[0]
        if (function in STRING_IMPORTERS and isinstance(first, ast.Constant) and isinstance(first.value, str)
                and _names_package(first.value, package)):
            found.append(node)
    return found


def check_renamable(sources: list[Source], package: str, new_name: str) -> None:
    """Refuse a package that imports itself by its own name, which renaming it would break."""
    offenders = [(source, node) for source in sources
                 for node in [*absolute_imports(source.tree, package), *string_imports(source.tree, package)]]
    if offenders:
        source, node = offenders[0]
        more = f" (and {len(offenders) - 1} more)" if len(offenders) > 1 else ""
        raise VendoringError(
            f"{source.where(node)}: `{ast.unparse(node)}` imports the package by its own name {package!r}, "
            f"which the bundle renames to {new_name!r}{more}; use relative imports (`from .module import name`), "
            f"or keep the name with --keep-name"
        )


def core_folder() -> Path:
    """The folder of the installed core package, whose modules are carried."""
    spec = importlib.util.find_spec(CORE)
    if spec is None or not spec.submodule_search_locations:
        raise VendoringError(f"the core package {CORE!r} is not importable here; install this project first")
    return Path(next(iter(spec.submodule_search_locations)))


def _module_file(core: Path, module: str) -> Path | None:
    """The file of core module ``module`` (``unitconv.paths`` -> ``.../paths.py``), if there is one."""
    parts = module.split(".")[1:]
    package = core.joinpath(*parts, "__init__.py")
    if package.is_file():
        return package
    plain = core.joinpath(*parts[:-1], f"{parts[-1]}.py") if parts else None
    return plain if plain is not None and plain.is_file() else None


def _imported_modules(node: ast.Import | ast.ImportFrom, core: Path) -> tuple[set[str], list[str]]:
    """Core modules one statement imports, and the names it asks for that do not exist."""
    if isinstance(node, ast.Import):
        wanted = [a.name for a in node.names if _names_package(a.name, CORE)]
    else:
        wanted = [node.module or CORE]
    modules = set()
    for name in wanted:
        parts = name.split(".")
        modules.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    if isinstance(node, ast.ImportFrom):  # `from unitconv import paths`: paths may be a module
        modules.update(f"{node.module}.{a.name}" for a in node.names
                       if a.name != "*" and _module_file(core, f"{node.module}.{a.name}"))
    missing = sorted(m for m in modules if _module_file(core, m) is None)
    return modules - set(missing), missing


def _relative_core_imports(tree: ast.Module, module: str) -> list[ast.ImportFrom]:
    """Relative imports inside a core module, turned into their absolute form (for the closure only)."""
    package = module.split(".")
    resolved = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            anchor = package[: len(package) - node.level + 1]
            target = ".".join(anchor + ([node.module] if node.module else []))
            if _names_package(target, CORE):
                resolved.append(ast.ImportFrom(module=target, names=node.names, level=0, lineno=node.lineno))
    return resolved


def needed_core_modules(sources: list[Source], core: Path) -> dict[str, Path]:
    """Every core module the package imports, directly or through other core modules, with its file."""
    pending = [(source.where(node), node) for source in sources for node in absolute_imports(source.tree, CORE)]
    needed: dict[str, Path] = {}
    while pending:
        where, node = pending.pop()
        modules, missing = _imported_modules(node, core)
        if missing:
            raise VendoringError(f"{where}: `{ast.unparse(node)}` asks for {missing[0]}, which {core} does not "
                                 f"have; import an existing module of {CORE}")
        for module in sorted(modules - set(needed)):
            path = _module_file(core, module)
            needed[module] = path
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            pending.extend((f"{path}:{n.lineno}", n) for n in absolute_imports(tree, CORE))
            is_package = path.name == "__init__.py"
            pending.extend((f"{path}:{n.lineno}", n)
                           for n in _relative_core_imports(tree, module if is_package else module + ".x"))
    return needed


def _rewritten_import(node: ast.Import, dots: str) -> str:
    """``import`` statement text with every core import made relative; other names kept as they were."""
    statements = []
    for alias in node.names:
        if not _names_package(alias.name, CORE):
            statements.append(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
            continue
        parent, _, last = alias.name.rpartition(".")
        if alias.asname:  # `import unitconv.paths as p` binds the module itself
            source = f"{dots}{parent}" if parent else dots
            statements.append(f"from {source} import {last} as {alias.asname}")
            continue
        if parent:  # `import unitconv.paths` loads the submodule and binds `unitconv`
            hidden = "_vendored_" + alias.name.replace(".", "_")
            statements.append(f"from {dots}{parent} import {last} as {hidden}")
        statements.append(f"from {dots} import {CORE}")
    return "; ".join(statements)


FROM_CORE = re.compile(rf"from\s+(?={CORE}\b)")


def _replacement(node: ast.Import | ast.ImportFrom, segment: str, dots: str) -> str:
    if isinstance(node, ast.ImportFrom):
        match = FROM_CORE.match(segment)
        if match:  # keep the statement's own text (parentheses, comments, line breaks)
            return f"from {dots}{segment[match.end():]}"
        return f"from {dots}{ast.unparse(node)[len('from '):]}"
    return _rewritten_import(node, dots)


def relative_core_imports(text: str, tree: ast.Module, depth: int) -> str:
    """``text`` with every absolute core import made relative for a file ``depth`` folders below the top.

    Offsets from :mod:`ast` count UTF-8 bytes, so the replacement works on the encoded lines.
    """
    nodes = absolute_imports(tree, CORE)
    if not nodes:
        return text
    dots = "." * (depth + 1)
    data = text.encode("utf-8")
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for node in reversed(nodes):  # from the end, so that earlier offsets stay valid
        start = starts[node.lineno - 1] + node.col_offset
        end = starts[node.end_lineno - 1] + node.end_col_offset
        new = _replacement(node, data[start:end].decode("utf-8"), dots)
        data = data[:start] + new.encode("utf-8") + data[end:]
    return data.decode("utf-8")


def vendored_files(sources: list[Source], folder: Path, files: set[Path]) -> tuple[dict[Path, str], dict[Path, str]]:
    """What the package needs changed to carry the core.

    ``files`` are the package's files, relative to ``folder``.  Returns the package's rewritten
    files (path inside the package -> new text) and the carried core files (path inside the
    package, under ``unitconv/`` -> text with relative imports).  Both are empty when the package
    does not import the core.
    """
    importers = [s for s in sources if absolute_imports(s.tree, CORE)]
    for source in sources:
        calls = string_imports(source.tree, CORE)
        if calls:
            raise VendoringError(f"{source.where(calls[0])}: `{ast.unparse(calls[0])}` imports {CORE} by a string, "
                                 f"which the bundle cannot make relative; use an import statement")
    if not importers:
        return {}, {}
    clash = sorted(p for p in files if p.parts[0] == CORE or p == Path(f"{CORE}.py"))
    if clash:
        raise VendoringError(f"{folder / clash[0]}: the package has its own {CORE!r}, where the bundle puts "
                             f"the {CORE} modules it imports; rename or remove it")
    core = core_folder()
    changed = {s.relative: relative_core_imports(s.text, s.tree, s.depth) for s in importers}
    carried = {}
    for path in needed_core_modules(sources, core).values():
        relative = Path(CORE) / path.relative_to(core)
        text = path.read_text(encoding="utf-8")
        carried[relative] = relative_core_imports(text, ast.parse(text), len(relative.parts) - 1)
    return changed, carried


def is_carried_core(relative: Path, text: str) -> bool:
    """Whether a package file (``relative`` inside the package) is exactly what the bundle carries for a core module.

    A grader can trust such a file as it trusts the installed core: it is the installed module
    with only its core imports made relative, so nothing of the hand-in's own is in it.
    """
    parts = Path(relative).parts
    if len(parts) < 2 or parts[0] != CORE or not parts[-1].endswith(".py"):
        return False
    try:
        original = core_folder().joinpath(*parts[1:])
    except VendoringError:
        return False
    if not original.is_file():
        return False
    source = original.read_text(encoding="utf-8")
    return text == relative_core_imports(source, ast.parse(source), len(parts) - 1)
