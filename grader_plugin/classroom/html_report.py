"""``report.html``: the class at a glance, one self-contained page (figures embedded as PNG).

Sections: the counts and score summary; a histogram of the totals and one distribution per part
(matplotlib, drawn without a display); the flagged hand-ins with each flag's evidence; the
hand-ins the grader failed on, with the reason; the slowest parts; every hand-in's points.  Every
text that came from a hand-in or a student is escaped, so the page shows it and never runs it.
"""

from __future__ import annotations

import base64
import io
import json
import statistics
import time
from html import escape
from pathlib import Path

from grader_plugin.builtin.json_report import write_atomically
from grader_plugin.classroom.records import part_score, unchecked

SLOWEST = 15
EVIDENCE_CHARS = 1500
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.meta { color: #666; } .cards { display: flex; gap: 1em; flex-wrap: wrap; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 7em; }
.card b { display: block; font-size: 1.6em; } .bad b { color: #b00020; } .warn b { color: #b36b00; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; padding-bottom: 0.2em; line-height: 1.4;
      font-size: 0.85em; max-height: 12em; overflow: auto; }
img { max-width: 100%; } .none { color: #666; font-style: italic; }
"""


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def score_figure(totals: list[float], max_total: float) -> str:
    """A histogram of the totals, as a PNG data address."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2))
    axes = figure.subplots()
    bins = [max_total * i / 20 for i in range(21)]
    axes.hist(totals, bins=bins, color="#3b6ea5", edgecolor="white")
    axes.set_xlim(0, max_total)
    axes.set_xlabel(f"total points (of {max_total:g})")
    axes.set_ylabel("hand-ins")
    axes.set_title("Totals")
    return _png(figure)


def parts_figure(part_rows, columns: list[str]) -> str:
    """One small chart per part: a histogram of its points, or passed/failed for a 0-point rule."""
    from matplotlib.figure import Figure

    shown = [c for c in columns if any(r["part"] == c for r in part_rows)]
    rows = (len(shown) + 2) // 3
    figure = Figure(figsize=(11, 2.8 * rows))
    for number, part in enumerate(shown, 1):
        axes = figure.add_subplot(rows, 3, number)
        mine = [r for r in part_rows if r["part"] == part]
        most = max(r["max_points"] for r in mine)
        if most > 0:
            width = max(1.0, most / 15)  # bars centred on the points they count
            edges = [(i - 0.5) * width for i in range(int(most / width) + 2)]
            axes.hist([r["points"] for r in mine], bins=edges, color="#3b6ea5", edgecolor="white")
            axes.set_xlabel(f"points (of {most:g})")
        else:
            passed = sum(r["full_marks"] for r in mine)
            axes.bar(["passed", "failed"], [passed, len(mine) - passed], color=["#3b8a4a", "#b00020"])
        axes.set_title(part)
        axes.set_ylabel("hand-ins")
    figure.tight_layout()
    return _png(figure)


def _table(headers: list[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="none">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _td(text, number: bool = False) -> str:
    if number and isinstance(text, int | float):
        return f'<td class="num">{text:g}</td>'
    return f'<td{" class=num" * number}>{escape(str("" if text is None else text))}</td>'


def _who(row) -> list[str]:
    return [_td(row["student_id"]), _td(row["name"])]


def _flag_rows(handins) -> list[list[str]]:
    rows = []
    for row in handins:
        if row["status"] != "graded" or row["flags"] == "[]" and not unchecked(row):
            continue
        for finding in json.loads(row["report"])["findings"]:
            if finding["severity"] not in ("flag", "unchecked"):
                continue
            if finding["severity"] == "unchecked":
                finding = {**finding, "message": f"could not be checked: {finding['message']}"}
            where = finding["file"] + (f":{finding['line']}" if finding["line"] else "") if finding["file"] else ""
            evidence = escape(str(finding["evidence"])[:EVIDENCE_CHARS])
            rows.append(_who(row) + [_td(finding["part"] or "submission"), _td(finding["detector"]),
                                     _td(finding["message"]), _td(where), f"<td><pre>{evidence}</pre></td>"])
    return rows


def _cards(handins, totals: list[float], max_total: float) -> str:
    errors = sum(r["status"] == "error" for r in handins)
    flagged = sum(r["status"] == "graded" and r["flags"] != "[]" for r in handins)
    cards = [("hand-ins", len(handins), ""), ("graded", len(totals), ""), ("errors", errors, "bad" * bool(errors)),
             ("flagged", flagged, "warn" * bool(flagged))]
    if totals:
        cards += [("mean total", f"{statistics.mean(totals):.1f} / {max_total:g}", ""),
                  ("median total", f"{statistics.median(totals):.1f} / {max_total:g}", "")]
    return '<div class="cards">' + "".join(
        f'<div class="card {kind}"><b>{escape(str(value))}</b>{escape(label)}</div>' for label, value, kind in cards
    ) + "</div>"


def render(handins, part_rows, columns: list[str]) -> str:
    """The page's HTML for these hand-in and part rows (see :mod:`grader_plugin.classroom.store`)."""
    graded = [r for r in handins if r["status"] == "graded"]
    totals = [r["total"] for r in graded]
    max_total = max((r["max_total"] for r in graded), default=0)
    stamps = sorted({f"{r['grader_version']}, profile {r['profile']}" for r in handins})
    figures = []
    if totals and max_total > 0:
        figures.append(f'<img alt="histogram of total points" src="{score_figure(totals, max_total)}">')
    graded_keys = {r["key"] for r in graded}
    scored = [r for r in part_rows if r["key"] in graded_keys]
    if scored:
        figures.append(f'<img alt="points per part" src="{parts_figure(scored, columns)}">')
    errors = [_who(r) + [_td(r["key"]), _td(r["error"])] for r in handins if r["status"] == "error"]
    names = {r["key"]: r for r in handins}
    slowest = sorted(part_rows, key=lambda r: -r["seconds"])[:SLOWEST]
    slow_rows = [_who(names[r["key"]]) + [_td(r["part"]), _td(f"{r['seconds']:.1f}", True), _td(r["reason"])]
                 for r in slowest]
    points = {(r["key"], r["part"]): part_score(r) for r in part_rows}
    flagged = _flag_rows(handins)
    every = [_who(r) + [_td(r["key"]), _td(r["status"]), _td(r["total"], True), _td(r["extra"], True)]
             + [_td(points.get((r["key"], c)), True) for c in columns] for r in handins]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', "<title>Class grades</title>",
        f"<style>{STYLE}</style></head><body>", "<h1>Class grades</h1>",
        f'<p class="meta">made {escape(time.strftime("%Y-%m-%d %H:%M"))} by {escape("; ".join(stamps))}</p>',
        _cards(handins, totals, max_total),
        "<h2>Scores</h2>", "\n".join(figures) or '<p class="none">no graded hand-in yet</p>',
        f"<h2>Flagged hand-ins ({len(flagged)} flags or parts that could not be checked)</h2>",
        _table(["student id", "name", "part", "detector", "finding", "where", "evidence"], flagged,
               "no integrity flag"),
        f"<h2>Grader errors ({len(errors)})</h2>",
        _table(["student id", "name", "submission", "reason"], errors, "the grader failed on no hand-in"),
        f"<h2>Slowest parts (top {SLOWEST})</h2>",
        _table(["student id", "name", "part", "seconds", "reason"], slow_rows, "no part graded yet"),
        "<h2>Every hand-in</h2>",
        _table(["student id", "name", "submission", "status", "total", "extra", *columns], every, "no hand-in"),
        "</body></html>", ""])


def write_report(path: Path, handins, part_rows, columns: list[str]) -> Path:
    """Write ``report.html`` (see the module docstring); returns its path."""
    write_atomically(Path(path), render(handins, part_rows, columns))
    return Path(path)
