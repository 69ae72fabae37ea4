"""Answer in the prompt: a prompt that already holds its own question's answer needs no model.

Grader side, used by :mod:`grader_plugin.integrity.replay` on the prompts the part's worker
recorded.  A prompt builder that computes the conversion (or looks it up) and writes the result
into the prompt lets even a disturbed model copy it out; the replay would agree with the record.
So each recorded prompt, with its own question's text taken out, is searched for a number within
the course's tolerance of that question's expected answer.

Honest prompts hold numbers too: worked examples convert the same units with other quantities,
and a quantity of 1 makes the answer equal to the factor an example shows.  A number that is also
the factor of the conversion (the answer over a quantity written in the question) is therefore
not counted, and a part is flagged only when at least :data:`MIN_LEAKS` prompts and at least
:data:`MIN_SHARE` of the prompts that could leak hold their own answer: a prompt builder that
writes answers in does so for nearly every question, an honest one at most by coincidence.
"""

from __future__ import annotations

import re

from grader_plugin.marking.scoring import is_correct
from grader_plugin.results import Finding
from grader_plugin.text import one_line

DETECTOR = "replay: answer in prompt"
MIN_LEAKS = 3
MIN_SHARE = 0.5
MAX_NUMBERS = 2000
"""Numbers read from one prompt, at most (a prompt is hand-in text)."""
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def numbers_in(text: str) -> list[float]:
    """The numbers written in ``text`` (``1,000`` read as 1000), at most :data:`MAX_NUMBERS`."""
    found = []
    for match in _NUMBER.finditer(text):
        try:
            found.append(float(match.group(0).replace(",", "")))
        except ValueError:
            continue
        if len(found) >= MAX_NUMBERS:
            break
    return found


def _factors(question: str, expected: float) -> list[float]:
    """The conversion factor for each quantity the question writes (the answer over that quantity)."""
    return [expected / quantity for quantity in numbers_in(question) if quantity]


def leaked(question: str, expected: float, prompt: str) -> float | None:
    """The number in ``prompt`` (its question taken out) that is the answer, unless it is also a factor."""
    factors = _factors(question, expected)
    if any(is_correct(expected, factor) for factor in factors):
        return None  # a quantity of 1: the answer is the factor that honest worked examples show
    for number in numbers_in(prompt.replace(question, " ")):
        if is_correct(number, expected) and not any(is_correct(number, f) for f in factors):
            return number
    return None


def judge_leaks(asked, prompts: list[str]) -> Finding | None:
    """A flag when most prompts that could hold their own answer do (see the module docstring)."""
    could, leaks = 0, []
    for question, prompt in zip(asked, prompts, strict=True):
        if any(is_correct(question.expected, f) for f in _factors(question.text, question.expected)):
            continue
        could += 1
        number = leaked(question.text, question.expected, prompt)
        if number is not None:
            leaks.append(f"{one_line(question.text, 60)!r} -> its prompt holds {number:g}")
    if len(leaks) < MIN_LEAKS or len(leaks) < MIN_SHARE * could:
        return None
    return Finding(DETECTOR, f"{len(leaks)} of {could} prompts contain their own question's expected answer: "
                             f"the answer was written into the prompt",
                   evidence="; ".join(leaks[:3]))
