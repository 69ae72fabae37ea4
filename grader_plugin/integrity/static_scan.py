"""Static detector: the hand-in's Python source read as syntax trees, before any of it runs.

Built-in plugin on ``grader_scan_submission`` (grader side).  The rules are in
:mod:`grader_plugin.integrity.ast_rules`; each finding names ``package/file.py:line``.

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
may not.  A table built from data rows is a flag when the answering path builds or uses it, or
when its module reads the graded split; otherwise a warning.

A warning is reported only where grading can run the code: the module-level code of what the
package's imports reach and the functions that reached code names (:mod:`.reach`).  A training
script nothing imports, a ``train_model`` nothing reached calls and a ``__main__`` block are
left out: their warnings are noise.  Flags are reported wherever they are.  Where the source
reaches code by a computed name (``importlib``, ``exec``, ...), every warning is reported.

Source only shows that code exists, not that it ran: every ``flag`` here needs confirmation
(``Finding.needs_confirmation``).  It zeroes a part only when a run-time detector (the dynamic
audit, the behavioural probes) flags the same part, and is otherwise reported as "present, not
active in this run".  The behavioural detectors judge the answering path whatever the source
looks like.

A module the scan cannot read to the end (larger than :data:`grader_plugin.handin.bounded.MAX_SOURCE_BYTES`,
or nested deeper than :data:`grader_plugin.handin.bounded.MAX_SYNTAX_DEPTH`) is itself a finding,
``static scan: unscannable`` (severity ``unchecked``: its part's integrity "could not be
checked"), never an error of the grader.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.handin import bounded
from grader_plugin.handin.contract import ENTRY_POINTS
from grader_plugin.handin.vendoring import is_carried_core
from grader_plugin.integrity.ast_rules import RuleVisitor
from grader_plugin.integrity.reach import reached_lines
from grader_plugin.results import Finding

DETECTOR = "static scan"
UNSCANNABLE = f"{DETECTOR}: unscannable"
PART_MODULES = tuple(name for name in ENTRY_POINTS if name != "base")


def scan_source(source: str, filename: str, reached: set[int] | None = None) -> list[Finding]:
    """Findings of every rule over one Python file; ``filename`` is how findings name it.

    ``reached``: the lines grading can run (:func:`.reach.reached_lines`); a warning on any other
    line is left out.  None: every line counts as reached.
    """
    try:
        tree = bounded.parse_python(source, filename)
        with bounded.recursion_room(bounded.MAX_SYNTAX_DEPTH):
            visitor = RuleVisitor(tree)
            visitor.visit(tree)
    except SyntaxError as error:
        return [Finding(DETECTOR, f"could not parse: {error.msg}", severity="warn", file=filename,
                        line=error.lineno)]
    except (bounded.Refused, RecursionError, MemoryError) as error:
        why = str(error) if isinstance(error, bounded.Refused) else f"the scan ran out of room ({type(error).__name__})"
        return [unscannable(filename, why)]
    found = list(visitor.found)
    reads_graded = any(rule == "grading-data-read" and sev == "flag" for rule, sev, _, _ in found)
    for node, what, used in visitor.tables:
        if used or reads_graded:
            why = "used when answering" if used else "next to a read of the graded split"
            found.append(("answer-table", "flag", node.lineno, f"{what}, {why} (a lookup table)"))
        else:
            found.append(("answer-table", "warn", node.lineno,
                          f"{what}, not used when answering (fine in training scripts)"))
    if reached is not None:
        found = [item for item in found if item[1] != "warn" or item[2] in reached]
    lines = source.splitlines()
    first: dict[tuple[str, str], tuple[int, str]] = {}
    places: dict[tuple[str, str], list[int]] = {}
    for rule, severity, line, message in sorted(found, key=lambda item: (item[2], item[1] != "flag")):
        key = (rule, severity)  # one finding per file, rule and severity, however many places
        first.setdefault(key, (line, message))
        if line not in places.setdefault(key, []):
            places[key].append(line)
    findings = []
    for (rule, severity), (line, message) in sorted(first.items(), key=lambda item: item[1][0]):
        others = places[(rule, severity)][1:]
        if others:
            lines_named = ", ".join(map(str, others[:5])) + (", ..." if len(others) > 5 else "")
            message += f" (and {len(others)} more: line {lines_named})"
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        findings.append(Finding(f"{DETECTOR}: {rule}", message, severity=severity, evidence=text[:200],
                                file=filename, line=line, needs_confirmation=severity == "flag"))
    return findings


def unscannable(filename: str, why: str) -> Finding:
    """The finding for a file the scan could not read to the end: its part cannot count as checked."""
    return Finding(UNSCANNABLE, f"could not be scanned: the file {why}; its code was not checked for "
                   f"answer tables, data reads or patched methods", severity="unchecked", file=filename)


def scan_folder(folder: Path, entry_points: dict[str, str] | None = None) -> list[Finding]:
    """Findings over every ``.py`` file under ``folder`` (named relative to its parent).

    Warnings only where grading can run the code (:func:`.reach.reached_lines`, from the package's
    imports and its ``entry_points``, as declared in ``grader.toml``): a training script's are noise.

    An exact copy of a module of the project's core that a bundle carries (``PKG/unitconv/``,
    :func:`grader_plugin.handin.vendoring.is_carried_core`) is the grader's own code, not the hand-in's:
    it is not scanned.
    """
    findings, reach = [], reached_lines(folder, entry_points)
    for path in sorted(Path(folder).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        shown = path.relative_to(Path(folder).parent).as_posix()
        if path.is_dir():
            continue
        if not path.is_file():  # a pipe or a device would block or never end
            findings.append(unscannable(shown, "is not a regular file"))
            continue
        try:
            data = bounded.read_bytes(path, bounded.MAX_SOURCE_BYTES)
        except bounded.Refused as error:
            findings.append(unscannable(shown, str(error)))
            continue
        text = data.decode("utf-8", errors="replace")
        if is_carried_core(path.relative_to(folder), text):
            continue
        findings.extend(scan_source(text, shown, None if reach is None else reach.get(shown, set())))
    return findings


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
    for finding in scan_folder(submission.folder, submission.entry_points):
        part = part_of(finding.file, submission.package, submission.entry_points or {})
        found.append(dataclasses.replace(finding, part=part) if part else finding)
    return found
