"""The layout holds: the grader never imports the reference, the worker side stays on its side, the
hand-in readers start nothing, no import circle, no oversized module or function, a short top level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("grader_plugin", "solution", "unitconv")
MAX_LINES = 300
MAX_FUNCTION_LINES = 60
MAX_TOP_LEVEL_MODULES = 12
WORKER_MAY_IMPORT = ("grader_plugin.worker", "grader_plugin.results", "grader_plugin.handin.contract")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """Ids of nodes under ``if TYPE_CHECKING:`` (imports for annotations only, never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    return skipped


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules(*packages: str) -> dict[str, Path]:
    return {_module_name(p): p for package in packages for p in sorted((ROOT / package).rglob("*.py"))}


ALL = modules(*PACKAGES)


def _internal(name: str) -> str | None:
    """The project module an import names (``pkg.mod.attr`` -> ``pkg.mod``), or None for outside ones."""
    while name and name not in ALL:
        name = name.rpartition(".")[0]
    return name or None


def test_the_grader_never_imports_the_reference_solution():
    offenders = {
        name: sorted(i for i in imports_of(path) if i == "solution" or i.startswith("solution."))
        for name, path in modules("grader_plugin").items()
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_core_imports_neither_half():
    offenders = {
        name: sorted(i for i in imports_of(path) if i.split(".")[0] in ("solution", "grader_plugin"))
        for name, path in modules("unitconv").items()
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_worker_side_imports_nothing_of_the_grader_side_but_the_shared_types():
    offenders = {}
    for name, path in modules("grader_plugin/worker").items():
        grader = [i for i in imports_of(path) if i.startswith("grader_plugin.") or i == "grader_plugin"]
        bad = sorted(i for i in grader if i != "grader_plugin" and not i.startswith(WORKER_MAY_IMPORT))
        if bad:
            offenders[name] = bad
    assert offenders == {}


def test_there_is_no_import_circle():
    graph = {
        name: {target for i in imports_of(path) if (target := _internal(i)) and target != name}
        for name, path in ALL.items()
    }
    for name in graph:  # importing a module runs its package's __init__ first: not an edge of the module's own
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    state: dict[str, str] = {}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                stack = trail + [node]
                circles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [node])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert circles == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_longer_than_the_bar(package):
    long = {name: n for name, path in modules(package).items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def _long_functions(path: Path) -> dict[str, int]:
    """``name (line)``: length of every function of ``path`` over the bar (decorators not counted)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {f"{node.name} (line {node.lineno})": n for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES}


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_is_longer_than_the_bar(package):
    long = {name: found for name, path in modules(package).items() if (found := _long_functions(path))}
    assert long == {}


def test_the_graders_top_level_stays_short():
    top = sorted(path.name for path in (ROOT / "grader_plugin").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def _offenders(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Modules under ``folder`` that import a module of ``forbidden`` (or below it), with those imports."""
    found = {}
    for name, path in modules(folder).items():
        bad = sorted(i for i in imports_of(path) if any(i == f or i.startswith(f + ".") for f in forbidden))
        if bad:
            found[name] = bad
    return found


def test_the_hand_in_readers_start_nothing():
    """``handin/`` reads hand-in files without running them: nothing there starts or talks to a worker."""
    assert _offenders("grader_plugin/handin", ("grader_plugin.launch", "grader_plugin.worker",
                                               "grader_plugin.session")) == {}


def test_the_trusted_tasks_import_no_task_that_runs_beside_hand_in_code():
    hand_in_side = ("grader_plugin.worker.handin_tasks", "grader_plugin.worker.recorder",
                    "grader_plugin.worker.bootstrap")
    path = ROOT / "grader_plugin" / "worker" / "trusted_tasks.py"
    assert sorted(i for i in imports_of(path) if i.startswith(hand_in_side)) == []
