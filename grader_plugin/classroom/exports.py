"""The class run's files beside its SQLite record: ``grades.csv``, ``results/KEY/results.json``, ``report.html``.

All of them are made from the record, so they can be made again at any time without grading; each
hand-in's ``results.json`` is also written as soon as the hand-in is graded.  ``grades.csv`` has a
row per hand-in: student id, name, submission (the hand-in's key), status, total, maximum, extra
credit, each part's points (``pass`` or ``fail`` for a 0-point rule), its integrity flags (and the
parts whose integrity could not be checked) and,
for a hand-in the grader failed on, the error.  Text that came from students (names, flags) is
written so that a spreadsheet never reads it as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

from grader_plugin.builtin.json_report import gradescope_results, write_atomically
from grader_plugin.classroom import html_report
from grader_plugin.classroom.records import part_score, report_from_data, unchecked

RESULTS = "results"
CSV_NAME = "grades.csv"
HTML_NAME = "report.html"


def _folder_name(key: str) -> str:
    """``key`` as one safe folder name."""
    name = re.sub(r"[^\w.@+-]", "_", key).lstrip(".")
    return name or "_"


def results_path(out_dir: Path, key: str) -> Path:
    return Path(out_dir) / RESULTS / _folder_name(key) / "results.json"


def write_results(out_dir: Path, key: str, report: dict) -> Path:
    """Write the hand-in's Gradescope ``results.json`` from its report's data."""
    path = results_path(out_dir, key)
    write_atomically(path, json.dumps(gradescope_results(report_from_data(report)), indent=2))
    return path


def remove_results(out_dir: Path, key: str) -> None:
    """Remove a ``results.json`` that no longer stands (the hand-in is now an error)."""
    shutil.rmtree(results_path(out_dir, key).parent, ignore_errors=True)


def _cell(value) -> object:
    """A CSV cell: numbers as they are, text that a spreadsheet would run as a formula quoted with ``'``."""
    if value is None or isinstance(value, int | float):
        return "" if value is None else f"{value:g}"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def part_columns(part_rows, parts: list[str]) -> list[str]:
    """The run's parts, then any other part found in the record, in order of first appearance."""
    columns = list(parts)
    for row in part_rows:
        if row["part"] not in columns:
            columns.append(row["part"])
    return columns


def csv_text(handins, part_rows, parts: list[str]) -> str:
    """``grades.csv``'s text (see the module docstring)."""
    columns = part_columns(part_rows, parts)
    points = {(row["key"], row["part"]): part_score(row) for row in part_rows}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student_id", "name", "submission", "status", "total", "max_total", "extra", *columns,
                     "flags", "error"])
    for row in handins:
        writer.writerow([_cell(v) for v in (
            row["student_id"], row["name"], row["key"], row["status"], row["total"], row["max_total"], row["extra"],
            *(points.get((row["key"], part)) for part in columns),
            "; ".join(json.loads(row["flags"]) + unchecked(row)), row["error"])])
    return buffer.getvalue()


def write_all(store, out_dir: Path, keys: list[str], parts: list[str]) -> list[Path]:
    """Make every export of the hand-ins ``keys`` from ``store``; the paths written."""
    out_dir = Path(out_dir)
    handins, part_rows = store.handins(keys), store.parts(keys)
    written = [out_dir / CSV_NAME]
    write_atomically(written[0], csv_text(handins, part_rows, parts))
    for row in handins:
        if row["status"] == "graded":
            write_results(out_dir, row["key"], json.loads(row["report"]))
        else:
            remove_results(out_dir, row["key"])
    written.append(out_dir / RESULTS)
    written.append(html_report.write_report(out_dir / HTML_NAME, handins, part_rows, part_columns(part_rows, parts)))
    return written
