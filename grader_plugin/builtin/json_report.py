"""Built-in report writer: a Gradescope-compatible ``results.json`` for ``--grade-json``, written atomically.

Gradescope reads ``score``, ``execution_time``, ``output`` and ``tests[]`` (``name``, ``score``,
``max_score``, ``status``, ``output``, ``visibility``); the integrity findings go into
``extra_data`` as well as the text.  The file is first written next to its target and then
renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from grader_plugin import hookimpl
from grader_plugin.builtin.terminal_report import integrity_lines, table_lines
from grader_plugin.results import GradeReport
from grader_plugin.text import one_line

LINE_CHARS = 2000
"""A part's reason and details are each one printable line of at most this many characters."""


def gradescope_results(report: GradeReport) -> dict:
    """The report as Gradescope's results.json structure."""
    tests = []
    for part in report.parts:
        output = "\n".join(one_line(line, LINE_CHARS) for line in ([part.reason] if part.reason else []) + part.details)
        tests.append(
            {
                "name": part.title,
                "score": part.points + part.extra,
                "max_score": part.max_points,
                "status": "passed" if part.full_marks else "failed",
                "output": output,
                "visibility": "visible",
            }
        )
    for name in report.not_graded:
        tests.append(
            {
                "name": name,
                "score": 0,
                "max_score": 0,
                "status": "failed",
                "output": "not graded in this run",
                "visibility": "visible",
            }
        )
    text = ([f"submission refused: {one_line(report.refused)}"] if report.refused else []) + table_lines(report)
    return {
        "score": report.total + report.extra,
        "execution_time": round(report.execution_time, 2),
        "output": "\n".join(text + integrity_lines(report)),
        "tests": tests,
        "extra_data": {
            "profile": report.profile,
            "refused": report.refused,
            "findings": [f.__dict__ for f in report.findings],
            "integrity": {part.name: part.integrity_status for part in report.parts},
            "graded_by": report.graded_by,
            "time": {part.name: {"seconds": round(part.seconds, 2), "phases": part.phases} for part in report.parts},
        },
    }


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def beside(path: Path) -> Path:
    """Where the report goes when ``path`` cannot take it (a folder stands there, say)."""
    return path.with_name(f"{path.stem}.grade{path.suffix or '.json'}")


@hookimpl
def grader_write_report(report, settings, write_line):
    if settings.json_path is None:
        return
    text = json.dumps(gradescope_results(report), indent=2)
    target = Path(settings.json_path)
    try:
        write_atomically(target, text)
    except OSError as error:
        fallback = beside(target)
        write_atomically(fallback, text)
        write_line(f"warning: could not write {target} ({error.strerror or error}); wrote {fallback} instead")
        return
    write_line(f"wrote {target}")
