"""A part's asked questions with the answers its worker returned, marked once: :class:`AskedAnswers`.

The accuracy checks score the graded questions among them; the hidden-question and ablation probe
and the replay judge all of them.  Each used to pick graded from hidden questions and check every
answer again; now :meth:`GradeContext.asked_answers <grader_plugin.checks.GradeContext.asked_answers>`
builds this once per part and every reader shares it.  Grader side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from grader_plugin.marking.graded_questions import AskedQuestion
from grader_plugin.marking.scoring import is_correct


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class AskedAnswers:
    """The questions a worker was asked, in order, with its answers and the grader's check of each.

    :param asked: every question the worker was asked (graded and mixed-in ones).
    :param answers: one number per question (NaN for a value that is not a number), or None when
        the worker returned no list of one answer per question (see :attr:`returned`).
    :param correct: for each question, whether the value returned passes the course's check (empty
        without answers).
    :param returned: what the worker returned under ``answers``, as it came (for messages).
    :param raw: the recorded raw output of each question, when one was recorded per question.
    :param prompts: the recorded prompt of each question, likewise.
    """

    asked: tuple[AskedQuestion, ...]
    answers: tuple[float, ...] | None
    correct: tuple[bool, ...]
    returned: object = None
    raw: tuple[str, ...] | None = None
    prompts: tuple[str, ...] | None = None

    @classmethod
    def of(cls, asked: list[AskedQuestion], data) -> AskedAnswers:
        """Mark what a worker returned (``{"answers": [...], "raw": [...], "prompts": [...]}``) against ``asked``."""
        data = data if isinstance(data, dict) else {}
        returned = data.get("answers")
        aligned = isinstance(returned, list) and len(returned) == len(asked)
        answers = tuple(float(a) if _number(a) else math.nan for a in returned) if aligned else None
        correct = tuple(is_correct(a, q.expected) for q, a in zip(asked, returned, strict=True)) if aligned else ()

        def per_question(key: str) -> tuple[str, ...] | None:
            value = data.get(key)
            if isinstance(value, list) and len(value) == len(asked) and all(isinstance(v, str) for v in value):
                return tuple(value)
            return None

        return cls(tuple(asked), answers, correct, returned, per_question("raw"), per_question("prompts"))

    @property
    def all_numbers(self) -> bool:
        """Whether every asked question has an answer that is a number (NaN included)."""
        return self.answers is not None and all(map(_number, self.returned))

    @property
    def complete(self) -> bool:
        """Whether the worker returned one answer per asked question."""
        return self.answers is not None

    def indices(self, asked_by: str = "graded") -> list[int]:
        """Positions of the questions ``asked_by`` asked (``"graded"``, or a plugin's name)."""
        return [i for i, q in enumerate(self.asked) if q.asked_by == asked_by]

    def count_correct(self, asked_by: str | None = "graded") -> tuple[int, int]:
        """(right, asked) over the questions ``asked_by`` asked (None: all of them); (0, n) without answers."""
        chosen = range(len(self.asked)) if asked_by is None else self.indices(asked_by)
        chosen = list(chosen)
        if not self.complete:
            return 0, len(chosen)
        return sum(self.correct[i] for i in chosen), len(chosen)
