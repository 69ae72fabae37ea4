"""The static scan's rules: a visitor that walks one module's syntax tree and notes what it finds.

Grader side.  Each rule looks at the tree, not the text, so comments and strings that merely
mention a pattern do not count.  The rules and their severities are listed in
:mod:`grader_plugin.integrity.static_scan`; this module only finds candidates and leaves the
deduplication and the answer-table decision to the scan.
"""

from __future__ import annotations

import ast
import re

from grader_plugin.integrity.ast_analysis import (
    BLOB_CHARS,
    answering_names,
    docstring_ids,
    dotted,
    is_row_source,
    long_constants,
    rows_in,
)
from grader_plugin.integrity.vocabulary import (
    GRADER_PACKAGE,
    GRADING_FILES,
    GRADING_SPLITS,
    REPLACED_METHODS,
    TRAINING_FILES,
    TRAINING_SPLITS,
)

DECODERS = {
    "b64decode", "b32decode", "b16decode", "b85decode", "a85decode", "urlsafe_b64decode",
    "standard_b64decode", "decodebytes", "decompress", "fromhex", "unhexlify",
}
DECODER_MODULES_LOADS = {"pickle", "marshal", "json", "dill", "cloudpickle"}
BARE_BLOB_CHARS = 1000
BASE64_TEXT = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")
NETWORK_MODULES = {
    "socket", "requests", "httpx", "aiohttp", "urllib3", "http.client", "urllib.request", "ftplib", "smtplib",
}
PROCESS_MODULES = {"subprocess", "multiprocessing", "pty"}
PROCESS_CALLS = {
    "system", "popen", "execv", "execve", "execl", "execlp", "execvp", "spawnv", "spawnl", "posix_spawn", "fork",
}
DEV_HELPER = re.compile(r"^(main|test_?\w*|benchmark\w*|evaluate\w*|train\w*|_?make_\w*data\w*)$")
EXIT_CALLS = ("sys.exit", "os._exit", "exit", "quit", "os.abort")


class RuleVisitor(ast.NodeVisitor):
    """Walks one module; :attr:`found` collects ``(rule, severity, line, message)``.

    :attr:`tables` collects ``(node, what, used_when_answering)`` for dicts built from data rows,
    which the scan turns into findings once it knows whether the module reads the graded split.
    """

    def __init__(self, tree: ast.Module):
        self.found: list[tuple[str, str, int, str]] = []
        self.tables: list[tuple[ast.AST, str, bool]] = []
        self.helpers: list[bool] = [False]
        self.names: list[str] = ["<module>"]
        self.assigned_to: list[list[ast.AST]] = []
        self.docstrings = docstring_ids(tree)
        self.constants = long_constants(tree)
        self.scopes: list[set[str]] = [rows_in(tree, set())]
        self.answering, self.answering_functions = answering_names(tree)
        self.in_answering: list[bool] = [False]
        self.in_raise = 0

    def add(self, rule: str, severity: str, node: ast.AST, message: str) -> None:
        if severity == "flag" and self.helpers[-1]:
            severity, message = "warn", message + " (in a development helper)"
        self.found.append((rule, severity, node.lineno, message))

    def _rows(self, node: ast.AST) -> bool:
        return is_row_source(node, self.scopes[-1])

    # scopes ------------------------------------------------------------------------------------
    def visit_FunctionDef(self, node):
        self.helpers.append(self.helpers[-1] or bool(DEV_HELPER.match(node.name)))
        self.scopes.append(rows_in(node, self.scopes[0]))
        self.in_answering.append(self.in_answering[-1] or id(node) in self.answering_functions)
        self.names.append(node.name)
        self.generic_visit(node)
        self.names.pop()
        self.in_answering.pop()
        self.scopes.pop()
        self.helpers.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):
        test = node.test
        is_main = (
            isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
        )
        self.helpers.append(self.helpers[-1] or is_main)
        for child in node.body:
            self.visit(child)
        self.helpers.pop()
        self.visit(test)
        for child in node.orelse:
            self.visit(child)

    def visit_Raise(self, node):
        self.in_raise += 1  # an error message that names a data file reads nothing
        self.generic_visit(node)
        self.in_raise -= 1

    # rules -------------------------------------------------------------------------------------
    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, str) and id(node) not in self.docstrings and not self.in_raise:
            if GRADING_FILES.search(value):
                self.add("grading-data-read", "flag", node, f"names the graded split file {value!r}")
            elif TRAINING_FILES.search(value):
                self.add("training-data-read", "warn", node, f"reads the training split {value!r}")
            if value.startswith(GRADER_PACKAGE + ".") or value == GRADER_PACKAGE:
                self.add("grader-modules", "flag", node, f"names the grader's module {value!r}")
        if (
            isinstance(value, str | bytes)
            and len(value) >= BARE_BLOB_CHARS
            and id(node) not in self.docstrings
            and BASE64_TEXT.match(value if isinstance(value, str) else value.decode("latin-1"))
        ):
            self.add("encoded-blob", "flag", node, f"embeds an encoded constant of {len(value)} characters")

    def visit_Import(self, node):
        for alias in node.names:
            self._imported(node, alias.name)

    def visit_ImportFrom(self, node):
        if node.level == 0 and node.module:
            self._imported(node, node.module)
            for alias in node.names:
                self._imported(node, f"{node.module}.{alias.name}", names_only=True)

    def _imported(self, node, module: str, names_only: bool = False) -> None:
        root = module.split(".")[0]
        if root == GRADER_PACKAGE and not names_only:
            self.add("grader-modules", "flag", node, f"imports the grader's module {module}")
        if names_only:
            if module in NETWORK_MODULES:
                self.add("network", "warn", node, f"imports {module}")
            return
        if module in NETWORK_MODULES or root in NETWORK_MODULES:
            self.add("network", "warn", node, f"imports {module} (network access)")
        if root in PROCESS_MODULES:
            self.add("subprocess", "warn", node, f"imports {module} (runs other processes)")
        if root == "pint":
            self.add("unit-library", "warn", node,
                     "imports pint (converting units without the model is fine for training labels, not for answers)")

    def visit_Assign(self, node):
        for target in node.targets:
            self._assigned(target, node)
        self.assigned_to.append(node.targets)
        self.generic_visit(node)
        self.assigned_to.pop()

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self._assigned(node.target, node)
        self.generic_visit(node)

    def _assigned(self, target, node) -> None:
        for item in target.elts if isinstance(target, ast.Tuple | ast.List) else [target]:
            if isinstance(item, ast.Attribute) and item.attr in REPLACED_METHODS:
                self.add("method-replacement", "flag", node, f"replaces {dotted(item) or item.attr} at run time")
            if isinstance(item, ast.Subscript) and dotted(item.value) == "sys.modules":
                self.add("grader-modules", "warn", node, "writes into sys.modules")

    def visit_DictComp(self, node):
        if any(self._rows(g.iter) for g in node.generators):
            self._table(node, "builds a dict from loaded data rows")
        self.generic_visit(node)

    def visit_For(self, node):
        if self._rows(node.iter):
            for child in ast.walk(node):
                if isinstance(child, ast.Assign) and any(isinstance(t, ast.Subscript) for t in child.targets):
                    self._table(child, "fills a table from loaded data rows")
                    break
        self.generic_visit(node)

    def _table(self, node, what: str) -> None:
        """A table from data rows; whether the answering path builds or uses it decides later."""
        names = {self.names[-1]}
        for parent in self.assigned_to:
            names.update(n.id for t in parent for n in ast.walk(t) if isinstance(n, ast.Name))
            names.update(n.attr for t in parent for n in ast.walk(t) if isinstance(n, ast.Attribute))
        if isinstance(node, ast.Assign):
            names.update(dotted(t.value).split(".")[-1] for t in node.targets if isinstance(t, ast.Subscript))
        used = self.in_answering[-1] or bool(names & self.answering)
        self.tables.append((node, what, used))

    def visit_Call(self, node):
        name = dotted(node.func)
        last = name.split(".")[-1]
        args = list(node.args) + [k.value for k in node.keywords]
        constant = [a for a in args if isinstance(a, ast.Constant)]
        if last == "Dataset" and constant and isinstance(constant[0].value, str):
            split = constant[0].value
            if split in GRADING_SPLITS:
                self.add("grading-data-read", "flag", node, f"reads the graded split Dataset({split!r})")
            elif split in TRAINING_SPLITS:
                self.add("training-data-read", "warn", node, f"reads the training split Dataset({split!r})")
        if name == "dict" and args and any(self._rows(a) for a in args):
            self._table(node, "builds a dict from loaded data rows")
        if self._decodes_blob(name, last, args):
            self.add("encoded-blob", "flag", node, f"decodes an embedded data constant with {name or last}()")
        if name == "setattr" and len(args) >= 2 and isinstance(args[1], ast.Constant) and (
            args[1].value in REPLACED_METHODS
        ):
            self.add("method-replacement", "flag", node, f"replaces {args[1].value} with setattr()")
        if (
            last in ("patch", "object")
            and "patch" in name
            and any(isinstance(c.value, str) and c.value.split(".")[-1] in REPLACED_METHODS for c in constant)
        ):
            self.add("method-replacement", "flag", node, f"patches an answering method with {name}()")
        if name in EXIT_CALLS:
            self.add("exit", "warn", node, f"calls {name}()")
        if name.startswith("os.") and last in PROCESS_CALLS:
            self.add("subprocess", "warn", node, f"calls {name}()")
        inner_calls = [a for a in args if isinstance(a, ast.Call)]
        if name in ("eval", "exec") and any(
            self._decodes_blob(dotted(a.func), dotted(a.func).split(".")[-1], list(a.args)) for a in inner_calls
        ):
            self.add("encoded-blob", "flag", node, f"runs decoded embedded code with {name}()")
        self.generic_visit(node)

    def _decodes_blob(self, name: str, last: str, args: list[ast.AST]) -> bool:
        loader = last in ("loads", "load") and name.split(".")[0] in DECODER_MODULES_LOADS
        if not (last in DECODERS or loader or name == "codecs.decode"):
            return False
        for arg in args:
            for child in ast.walk(arg):
                if isinstance(child, ast.Constant) and isinstance(child.value, str | bytes) and (
                    len(child.value) >= BLOB_CHARS
                ):
                    return True
                if isinstance(child, ast.Name) and child.id in self.constants:
                    return True
        return False
