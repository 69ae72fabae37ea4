"""Built-in report writer: the grade table, the explanations and the Integrity section, on the terminal.

Every text a hand-in can influence (reasons, details, findings, file names, its output) is
printed through :mod:`grader_plugin.text`, one printable line per line, so it cannot forge lines.
"""

from __future__ import annotations

from grader_plugin import hookimpl
from grader_plugin.results import UNCHECKED, GradeReport
from grader_plugin.text import one_line, printable


def _points(part) -> str:
    text = f"{part.points:g}/{part.max_points}"
    if part.max_extra:
        text += f" +{part.extra:g}/{part.max_extra}"
    return text


def _measured(part) -> str:
    if part.value is None:
        return "-"
    if part.measure == "MB":
        return f"{part.value:.2f} MB"
    return f"{part.measure} {part.value:.2f}".strip()


def table_lines(report: GradeReport) -> list[str]:
    """The table: part, points, measured figure, bounds, time, reason; then the totals."""
    rows = [("part", "points", "measured", "bounds", "time", "reason")]
    for part in report.parts:
        status = ("" if part.ok else "FAIL ") + ("UNCHECKED " if part.integrity_status == UNCHECKED else "")
        rows.append(
            (
                part.name,
                _points(part),
                _measured(part),
                part.bounds or "-",
                f"{part.seconds:.1f}s",
                status + one_line(part.reason, 100),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    ]
    lines.append(
        f"total: {report.total:g} / {report.max_total}    extra credit: {report.extra:g} / {report.max_extra}"
        f"    profile: {report.profile}"
    )
    if report.not_graded:
        lines.append(f"not graded in this run: {', '.join(report.not_graded)}")
    return lines


def integrity_lines(report: GradeReport) -> list[str]:
    """The Integrity section: every finding with its evidence, or which detectors found nothing."""
    lines = ["Integrity:"]
    if not report.findings:
        ran = ", ".join(report.detectors) if report.detectors else "none installed"
        lines.append(f"  no findings (detectors: {ran})")
    for finding in report.findings:
        where = f" [{finding.where()}]" if finding.where() else ""
        lines.append(one_line(
            f"  {finding.severity.upper()} {finding.part or 'all parts'}: {finding.detector}: "
            f"{finding.message}{where}"
        ))
        if finding.evidence:
            lines.append(f"      evidence: {one_line(finding.evidence, 300)}")
    for part in report.parts:
        if part.integrity_status == UNCHECKED:
            lines.append(f"  {part.name}: integrity could not be checked (a detector failed; see UNCHECKED above)")
    return lines


@hookimpl
def grader_write_report(report, settings, write_line):
    write_line(f"Grade of {one_line(report.submission)}")
    if report.refused:
        write_line(f"submission refused: {one_line(report.refused)}")
    for line in table_lines(report):
        write_line(line)
    if settings.verbosity >= 1:
        for part in report.parts:
            if part.details and not part.full_marks:
                write_line(f"{part.name}:")
                for detail in part.details:
                    write_line(f"  {one_line(detail)}")
    for line in integrity_lines(report):
        write_line(line)
    if settings.verbosity >= 2:
        for part in report.parts:
            if part.output:  # the hand-in's own lines, each behind a bar so none can pass for the grader's
                write_line(f"--- output of {part.name} (the hand-in's, last 40 lines) ---")
                for line in part.output.splitlines()[-40:]:
                    write_line(f"  | {printable(line)}")
                write_line(f"--- end of output of {part.name} ---")
