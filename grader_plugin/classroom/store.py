"""The class run's record: a SQLite file with one row per hand-in and one per hand-in and part.

Every finished hand-in is committed on its own as it finishes, so a run that is killed loses only
the hand-ins that were being graded; running the command again grades only what is new, changed
(its content hash), graded by another grader version, profile or grading setup (parts, questions,
base model, model map, plugins), or stood as an error.  The file is plain SQLite (``sqlite3
grades.sqlite 'select * from parts'``); tables:

- ``handins``: ``key``, ``student_id``, ``name``, ``source``, ``content_hash``, ``grader_version``,
  ``profile``, ``grading_key``, ``status`` (``graded`` or ``error``), ``error`` (the reason),
  ``total``, ``max_total``, ``extra``, ``flags`` (JSON list), ``seconds``, ``node``, ``finished_at``,
  ``report`` (the whole report as JSON, see :mod:`grader_plugin.classroom.records`);
- ``parts``: ``key``, ``part``, ``position``, ``title``, ``points``, ``max_points``, ``extra``,
  ``max_extra``, ``full_marks`` (1 or 0), ``measure``, ``value``, ``reason``, ``findings`` (JSON),
  ``seconds``, ``grader_version``, ``profile``, ``content_hash``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from grader_plugin.classroom.handins import HandIn

SCHEMA = """
CREATE TABLE IF NOT EXISTS handins (
    key TEXT PRIMARY KEY,
    student_id TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    grader_version TEXT NOT NULL,
    profile TEXT NOT NULL,
    grading_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('graded', 'error')),
    error TEXT NOT NULL DEFAULT '',
    total REAL,
    max_total REAL,
    extra REAL,
    flags TEXT NOT NULL DEFAULT '[]',
    seconds REAL,
    node TEXT NOT NULL DEFAULT '',
    finished_at TEXT NOT NULL,
    report TEXT
);
CREATE TABLE IF NOT EXISTS parts (
    key TEXT NOT NULL REFERENCES handins (key) ON DELETE CASCADE,
    part TEXT NOT NULL,
    position INTEGER NOT NULL,
    title TEXT NOT NULL,
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    extra REAL NOT NULL,
    max_extra REAL NOT NULL,
    full_marks INTEGER NOT NULL,
    measure TEXT NOT NULL,
    value REAL,
    reason TEXT NOT NULL,
    findings TEXT NOT NULL,
    seconds REAL NOT NULL,
    grader_version TEXT NOT NULL,
    profile TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (key, part)
);
"""


@dataclass(frozen=True)
class Stamp:
    """What a grade was made with; a hand-in graded with another stamp is graded again."""

    grader_version: str
    profile: str
    grading_key: str
    """A digest of the rest of the grading setup (parts, questions, base model, model map, plugins)."""


class StoreError(ValueError):
    """The results folder holds a file that is not a class-grading database; the message says the fix."""


class ResultStore:
    """The SQLite file of a class run (see the module docstring)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode = WAL")  # readers may look while the run writes
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a class-grading database ({error}); give --grade-class-out "
                             f"a new folder or move the file away") from None

    def close(self) -> None:
        self._db.close()

    def stale_reason(self, handin: HandIn, stamp: Stamp) -> str | None:
        """Why ``handin`` needs grading (``new``, ``changed``, ...), or None when its grade stands."""
        row = self._db.execute("SELECT * FROM handins WHERE key = ?", (handin.key,)).fetchone()
        if row is None:
            return "new"
        for reason, stands in (
            ("error before", row["status"] == "graded"),
            ("changed", row["content_hash"] == handin.content_hash),
            ("other grader version", row["grader_version"] == stamp.grader_version),
            ("other profile", row["profile"] == stamp.profile),
            ("other grading setup", row["grading_key"] == stamp.grading_key),
        ):
            if not stands:
                return reason
        return None

    def _write_handin(self, handin: HandIn, stamp: Stamp, **values) -> None:
        row = {"key": handin.key, "student_id": handin.student_id, "name": handin.name,
               "source": str(handin.path or ""), "content_hash": handin.content_hash,
               "grader_version": stamp.grader_version, "profile": stamp.profile, "grading_key": stamp.grading_key,
               "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"), **values}
        self._db.execute("DELETE FROM handins WHERE key = ?", (handin.key,))  # its parts go with it
        self._db.execute(f"INSERT INTO handins ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                         tuple(row.values()))

    def record_graded(self, handin: HandIn, stamp: Stamp, report: dict, flags: list[str], *,
                      seconds: float, node: str = "") -> None:
        """Commit a graded hand-in; ``report``: its report's data (:func:`.records.report_data`)."""
        parts = report["parts"]
        with self._db:
            self._write_handin(handin, stamp, status="graded", total=sum(p["points"] for p in parts),
                               max_total=sum(p["max_points"] for p in parts), extra=sum(p["extra"] for p in parts),
                               flags=json.dumps(flags), seconds=seconds, node=node, report=json.dumps(report))
            self._db.executemany(
                "INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(handin.key, p["name"], i, p["title"], p["points"], p["max_points"], p["extra"], p["max_extra"],
                  int(p["ok"] and p["points"] >= p["max_points"]), p["measure"], p["value"], p["reason"],
                  json.dumps(p["findings"]), p["seconds"], stamp.grader_version, stamp.profile, handin.content_hash)
                 for i, p in enumerate(parts)],
            )

    def record_error(self, handin: HandIn, stamp: Stamp, reason: str, *, seconds: float = 0.0, node: str = "") -> None:
        """Commit a hand-in the grader could not grade, with the reason in one line."""
        with self._db:
            self._write_handin(handin, stamp, status="error", error=reason, seconds=seconds, node=node)

    def handins(self, keys: list[str] | None = None) -> list[sqlite3.Row]:
        """The hand-in rows (of ``keys`` only, when given), by key."""
        return self._rows("SELECT * FROM handins ORDER BY key", keys)

    def parts(self, keys: list[str] | None = None) -> list[sqlite3.Row]:
        """The part rows (of ``keys`` only, when given), by key and position."""
        return self._rows("SELECT * FROM parts ORDER BY key, position", keys)

    def _rows(self, query: str, keys: list[str] | None) -> list[sqlite3.Row]:
        rows = self._db.execute(query).fetchall()
        wanted = None if keys is None else set(keys)
        return rows if wanted is None else [r for r in rows if r["key"] in wanted]
