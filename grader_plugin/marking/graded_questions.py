"""The graded questions: the public validation split, read from the grader's data folder (never the hand-in's).

``valid.json`` holds ``[question, answer]`` rows; the course grades the first 100.  Expected
answers stay in the grader process: workers receive question texts only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class GradingDataError(ValueError):
    """The grader's data file is missing or malformed; the message names it and the fix."""


@dataclass(frozen=True)
class GradedQuestion:
    """A public question with its expected answer (reports may show it; workers never see it)."""

    text: str
    expected: float


@dataclass(frozen=True)
class AskedQuestion:
    """A question as a worker was asked it: its expected answer and who asked it.

    ``asked_by`` is ``"graded"`` for the part's own graded questions, else the name of the plugin
    that mixed it in (``grader_extra_questions``).
    """

    text: str
    expected: float
    asked_by: str = "graded"


def public_questions(data_dir: Path, count: int) -> list[GradedQuestion]:
    """The first ``count`` rows of ``data_dir/valid.json``."""
    path = Path(data_dir) / "valid.json"
    if not path.is_file():
        raise GradingDataError(
            f"{path}: no such file; point --grade-data at the folder holding valid.json "
            f"(make it with python -m unitconv.questions --out DIR)"
        )
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise GradingDataError(f"{path}: not valid JSON ({error}); remake it") from None
    if not isinstance(rows, list) or not all(
        isinstance(r, list) and len(r) >= 2 and isinstance(r[0], str) for r in rows
    ):
        raise GradingDataError(f"{path}: expected a JSON list of [question, answer] rows")
    return [GradedQuestion(row[0], float(row[1])) for row in rows[:count]]
