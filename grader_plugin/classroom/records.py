"""A hand-in's :class:`~grader_plugin.results.GradeReport` as JSON data, and back.

The class run keeps each hand-in's whole report in its SQLite file, so ``results.json`` (and
anything else a report writer makes) can be rebuilt later without grading again.  Worker output
is cut to its last :data:`OUTPUT_CHARS` characters: the report needs the verdicts, not megabytes
of a hand-in's printing.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from grader_plugin.results import Finding, GradeReport, PartResult

OUTPUT_CHARS = 2000


def report_data(report: GradeReport) -> dict:
    """``report`` as JSON-able data (see :func:`report_from_data`)."""
    data = asdict(report)
    for part in data["parts"]:
        part["output"] = part["output"][-OUTPUT_CHARS:]
    return data


def report_from_data(data: dict) -> GradeReport:
    """The report :func:`report_data` gave ``data`` for."""
    parts = [PartResult(**{**part, "findings": [Finding(**f) for f in part["findings"]]}) for part in data["parts"]]
    return GradeReport(**{**data, "parts": parts, "findings": [Finding(**f) for f in data["findings"]]})


def flags(report: GradeReport) -> list[str]:
    """The report's integrity flags (findings that zeroed a part), one line each: ``part: detector: message``."""
    return [f"{f.part or 'submission'}: {f.detector}: {f.message}" for f in report.findings if f.severity == "flag"]


def unchecked(row) -> list[str]:
    """A hand-in row's findings of detectors that could not run, one line each: its parts' integrity
    could not be checked (``part: could not be checked: detector: message``)."""
    if row["status"] != "graded" or not row["report"]:
        return []
    return [f"{f['part'] or 'submission'}: could not be checked: {f['detector']}: {f['message']}"
            for f in json.loads(row["report"])["findings"] if f["severity"] == "unchecked"]


def part_score(row) -> float | str:
    """A part row's score for tables: its points, or ``pass``/``fail`` for a 0-point rule (the bundle size)."""
    if row["max_points"] == 0:
        return "pass" if row["full_marks"] else "fail"
    return row["points"]
