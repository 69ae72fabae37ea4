"""Static detector: the submission's Python source read as syntax trees, before any of it runs.

Built-in plugin on ``grader_scan_submission``.  Each rule looks at the tree, not the text, so
comments and strings that merely mention a pattern do not count, and each finding names
``package/file.py:line``.  Rules and severities:

=====================  =====  ===============================================================
rule                   sev.   what
=====================  =====  ===============================================================
grading-data-read      flag   a read of the graded split (``valid.json``, ``Dataset("valid")``)
answer-table           flag   a dict built from loaded rows (question -> answer lookup)
encoded-blob           flag   a long constant decoded at run time (base64, zlib, pickle, ...)
method-replacement     flag   ``x.answer = ...`` (also ``parse_answer``, ``generate``,
                              ``batched_generate``), ``setattr``/``mock.patch`` of them
grader-modules         flag   importing or naming the grader's own modules
training-data-read     warn   a read of ``train.json`` (fine for few-shot examples)
exit                   warn   ``sys.exit``/``os._exit``/``exit``/``quit``
network, subprocess    warn   sockets, HTTP clients, subprocesses, ``os.system``
unit-library           warn   importing ``pint`` (fine for building training labels)
=====================  =====  ===============================================================

A ``flag`` rule that fires inside a development helper (a function named ``main``, ``test_*``,
``benchmark*``, ``evaluate*``, ``train*``, or an ``if __name__ == "__main__":`` block) is
lowered to ``warn``: training and evaluation scripts may read data; only the answering path
may not.  The behavioural detectors judge the answering path whatever the source looks like.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.checks import ENTRY_POINTS
from grader_plugin.integrity.recorder import ANSWERING_METHODS
from grader_plugin.results import Finding

DETECTOR = "static scan"
GRADING_FILES = re.compile(r"(^|[/\\])(valid|test)(ation)?\.jsonl?$")
TRAINING_FILES = re.compile(r"(^|[/\\])(train|rft)\.jsonl?$")
GRADING_SPLITS = {"valid", "validation", "test"}
TRAINING_SPLITS = {"train", "rft"}
REPLACED_METHODS = set(ANSWERING_METHODS) - {"format_prompt"}
DECODERS = {
    "b64decode",
    "b32decode",
    "b16decode",
    "b85decode",
    "a85decode",
    "urlsafe_b64decode",
    "standard_b64decode",
    "decodebytes",
    "decompress",
    "fromhex",
    "unhexlify",
}
DECODER_MODULES_LOADS = {"pickle", "marshal", "json", "dill", "cloudpickle"}
BLOB_CHARS = 200
BARE_BLOB_CHARS = 1000
BASE64_TEXT = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")
NETWORK_MODULES = {
    "socket",
    "requests",
    "httpx",
    "aiohttp",
    "urllib3",
    "http.client",
    "urllib.request",
    "ftplib",
    "smtplib",
}
PROCESS_MODULES = {"subprocess", "multiprocessing", "pty"}
PROCESS_CALLS = {
    "system",
    "popen",
    "execv",
    "execve",
    "execl",
    "execlp",
    "execvp",
    "spawnv",
    "spawnl",
    "posix_spawn",
    "fork",
}
DEV_HELPER = re.compile(r"^(main|test_?\w*|benchmark\w*|evaluate\w*|train\w*|_?make_\w*data\w*)$")
GRADER_PACKAGE = "grader_plugin"


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a name or attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _own_nodes(scope: ast.AST):
    """Nodes of ``scope`` without the bodies of functions nested in it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _strings(node: ast.AST):
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str | bytes):
            yield child


class _Scanner(ast.NodeVisitor):
    """Walks one module; :attr:`found` collects ``(rule, severity, line, message, evidence)``."""

    def __init__(self, source: str, tree: ast.Module):
        self.lines = source.splitlines()
        self.found: list[tuple[str, str, int, str]] = []
        self.helpers: list[bool] = [False]
        self.names: list[str] = ["<module>"]
        self.assigned_to: list[list[ast.AST]] = []
        self.docstrings = {
            id(body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and (body := node.body)
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        }
        self.constants = self._long_constants(tree)
        self.scopes: list[set[str]] = [self._rows_in(tree, set())]
        self.answering, self.answering_functions = self._answering_names(tree)
        self.in_answering: list[bool] = [False]
        self.tables: list[tuple[ast.AST, set[str], bool]] = []

    # analysis before the walk --------------------------------------------------------------------
    @staticmethod
    def _long_constants(tree: ast.Module) -> set[str]:
        """Names bound to long string or bytes constants (possibly joined with ``+``)."""
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                isinstance(c.value, str | bytes) and len(c.value) >= BLOB_CHARS for c in _strings(node.value)
            ):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        return names

    def _is_row_source(self, node: ast.AST, tainted: set[str] | None = None) -> bool:
        tainted = self.scopes[-1] if tainted is None else tainted
        for child in ast.walk(node):
            if isinstance(child, ast.Call):
                name = _dotted(child.func)
                if (
                    name.endswith(("json.load", "json.loads"))
                    or name in ("load", "loads")
                    or (name.split(".")[-1] == "Dataset")
                ):
                    return True
            if isinstance(child, ast.Name) and child.id in tainted:
                return True
        return False

    def _rows_in(self, scope: ast.AST, inherited: set[str]) -> set[str]:
        """Names of one scope that hold rows loaded from data (json or ``Dataset``), through assignments.

        Nested functions are their own scopes; module-level names are inherited by functions.
        """
        tainted = set(inherited)
        body = list(_own_nodes(scope))
        for _ in range(4):  # a few rounds reach a fixed point for straight-line code
            before = len(tainted)
            for node in body:
                if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value is not None:
                    if self._is_row_source(node.value, tainted):
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for target in targets:
                            tainted.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
                elif isinstance(node, ast.For | ast.comprehension) and self._is_row_source(
                    node.iter, tainted
                ):
                    tainted.update(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
            if len(tainted) == before:
                break
        return tainted

    def _answering_names(self, tree: ast.Module) -> tuple[set[str], set[int]]:
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

    # reporting ---------------------------------------------------------------------------------
    def add(self, rule: str, severity: str, node: ast.AST, message: str) -> None:
        if severity == "flag" and self.helpers[-1]:
            severity, message = "warn", message + " (in a development helper)"
        self.found.append((rule, severity, node.lineno, message))

    # scopes ------------------------------------------------------------------------------------
    def visit_FunctionDef(self, node):
        self.helpers.append(self.helpers[-1] or bool(DEV_HELPER.match(node.name)))
        self.scopes.append(self._rows_in(node, self.scopes[0]))
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

    # rules -------------------------------------------------------------------------------------
    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, str) and id(node) not in self.docstrings:
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
            self.add(
                "unit-library",
                "warn",
                node,
                "imports pint (converting units without the model "
                "is fine for training labels, not for answers)",
            )

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
                self.add(
                    "method-replacement", "flag", node, f"replaces {_dotted(item) or item.attr} at run time"
                )
            if isinstance(item, ast.Subscript) and _dotted(item.value) == "sys.modules":
                self.add("grader-modules", "warn", node, "writes into sys.modules")

    def visit_DictComp(self, node):
        if any(self._is_row_source(g.iter) for g in node.generators):
            self._table(node, "builds a dict from loaded data rows")
        self.generic_visit(node)

    def visit_For(self, node):
        if self._is_row_source(node.iter):
            for child in ast.walk(node):
                if isinstance(child, ast.Assign) and any(isinstance(t, ast.Subscript) for t in child.targets):
                    self._table(child, "fills a table from loaded data rows")
                    break
        self.generic_visit(node)

    def _table(self, node, what: str) -> None:
        """A table from data rows: a lookup when the answering path builds or uses it, or the file reads
        the graded split; otherwise (training scripts) only a warning."""
        names = {self.names[-1]}
        for parent in self.assigned_to:
            names.update(n.id for t in parent for n in ast.walk(t) if isinstance(n, ast.Name))
            names.update(n.attr for t in parent for n in ast.walk(t) if isinstance(n, ast.Attribute))
        if isinstance(node, ast.Assign):
            names.update(
                _dotted(t.value).split(".")[-1] for t in node.targets if isinstance(t, ast.Subscript)
            )
        used = self.in_answering[-1] or bool(names & self.answering)
        self.tables.append((node, what, used))

    def visit_Call(self, node):
        name = _dotted(node.func)
        last = name.split(".")[-1]
        args = list(node.args) + [k.value for k in node.keywords]
        constant = [a for a in args if isinstance(a, ast.Constant)]
        if last == "Dataset" and constant and isinstance(constant[0].value, str):
            split = constant[0].value
            if split in GRADING_SPLITS:
                self.add("grading-data-read", "flag", node, f"reads the graded split Dataset({split!r})")
            elif split in TRAINING_SPLITS:
                self.add("training-data-read", "warn", node, f"reads the training split Dataset({split!r})")
        if name == "dict" and args and any(self._is_row_source(a) for a in args):
            self._table(node, "builds a dict from loaded data rows")
        if self._decodes_blob(name, last, args):
            self.add("encoded-blob", "flag", node, f"decodes an embedded data constant with {name or last}()")
        if (
            name in ("setattr",)
            and len(args) >= 2
            and isinstance(args[1], ast.Constant)
            and (args[1].value in REPLACED_METHODS)
        ):
            self.add("method-replacement", "flag", node, f"replaces {args[1].value} with setattr()")
        if (
            last in ("patch", "object")
            and "patch" in name
            and any(isinstance(c.value, str) and c.value.split(".")[-1] in REPLACED_METHODS for c in constant)
        ):
            self.add("method-replacement", "flag", node, f"patches an answering method with {name}()")
        if name in ("sys.exit", "os._exit", "exit", "quit", "os.abort"):
            self.add("exit", "warn", node, f"calls {name}()")
        if name.startswith("os.") and last in PROCESS_CALLS:
            self.add("subprocess", "warn", node, f"calls {name}()")
        inner_calls = [a for a in args if isinstance(a, ast.Call)]
        if name in ("eval", "exec") and any(
            self._decodes_blob(_dotted(a.func), _dotted(a.func).split(".")[-1], list(a.args))
            for a in inner_calls
        ):
            self.add("encoded-blob", "flag", node, f"runs decoded embedded code with {name}()")
        self.generic_visit(node)

    def _decodes_blob(self, name: str, last: str, args: list[ast.AST]) -> bool:
        loader = last in ("loads", "load") and name.split(".")[0] in DECODER_MODULES_LOADS
        decoder = last in DECODERS or loader or name == "codecs.decode"
        if not decoder:
            return False
        for arg in args:
            for child in ast.walk(arg):
                if (
                    isinstance(child, ast.Constant)
                    and isinstance(child.value, str | bytes)
                    and (len(child.value) >= BLOB_CHARS)
                ):
                    return True
                if isinstance(child, ast.Name) and child.id in self.constants:
                    return True
        return False


def scan_source(source: str, filename: str) -> list[Finding]:
    """Findings of every rule over one Python file; ``filename`` is how findings name it."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as error:
        return [
            Finding(
                DETECTOR, f"could not parse: {error.msg}", severity="warn", file=filename, line=error.lineno
            )
        ]
    scanner = _Scanner(source, tree)
    scanner.visit(tree)
    reads_graded = any(rule == "grading-data-read" and sev == "flag" for rule, sev, _, _ in scanner.found)
    for node, what, used in scanner.tables:
        if used or reads_graded:
            why = "used when answering" if used else "next to a read of the graded split"
            scanner.found.append(("answer-table", "flag", node.lineno, f"{what}, {why} (a lookup table)"))
        else:
            scanner.found.append(
                (
                    "answer-table",
                    "warn",
                    node.lineno,
                    f"{what}, not used when answering (fine in training scripts)",
                )
            )
    findings, seen = [], set()
    for rule, severity, line, message in sorted(scanner.found, key=lambda item: (item[2], item[1] != "flag")):
        if (rule, line) in seen:
            continue
        seen.add((rule, line))
        text = scanner.lines[line - 1].strip() if 0 < line <= len(scanner.lines) else ""
        findings.append(
            Finding(
                f"{DETECTOR}: {rule}",
                message,
                severity=severity,
                evidence=text[:200],
                file=filename,
                line=line,
            )
        )
    return findings


def scan_folder(folder: Path) -> list[Finding]:
    """Findings over every ``.py`` file under ``folder`` (named relative to its parent)."""
    findings = []
    for path in sorted(Path(folder).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        findings.extend(scan_source(text, path.relative_to(Path(folder).parent).as_posix()))
    return findings


PART_MODULES = tuple(name for name in ENTRY_POINTS if name != "base")


def part_of(file: str, package: str, declared: dict[str, str]) -> str | None:
    """The part a file belongs to: ``PKG/sft.py`` is the SFT part's, as is a module declared for it."""
    module = file.removesuffix(".py").replace("/", ".")
    for part, spec in declared.items():
        target = spec.split(":")[0]
        target = package + target if target.startswith(".") else target
        if part in PART_MODULES and module == target:
            return part
    stem = module.removeprefix(package + ".")
    return stem if stem in PART_MODULES else None


@hookimpl
def grader_scan_submission(submission):
    """Static findings of every file; a finding in a part's own module concerns that part only."""
    found = []
    for finding in scan_folder(submission.folder):
        part = part_of(finding.file, submission.package, submission.entry_points or {})
        found.append(dataclasses.replace(finding, part=part) if part else finding)
    return found
