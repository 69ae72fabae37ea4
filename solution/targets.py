"""Program-aided answer targets used to build training data (never used to answer).

Each unit has a value in its family's base unit (meter, gram, liter, second, meter per second,
byte).  A question converting N units of A into B is answered ``N * value(A) / value(B)``.
"""

from __future__ import annotations

from unitconv.questions import Question
from unitconv.units import UNITS, Unit, convert

from .arithmetic import compact_number

BASE_UNITS = {"length": "meter", "mass": "gram", "volume": "liter", "time": "second",
              "speed": "meter/second", "data": "byte"}


def base_value(unit: Unit) -> str:
    """The value of one ``unit`` in its family's base unit, written compactly."""
    base = next(u for u in UNITS if u.pint_expr == BASE_UNITS[unit.family])
    return compact_number(convert(1, unit, base))


def answer_expression(question: Question) -> str:
    """``N * value(source) / value(target)``, always in this shape (also ``/ 1``).

    One fixed shape is easier to learn than one that drops a factor of 1 sometimes: a model
    unsure whether a division follows tends to loop on ``/ 1 / 1``.
    """
    return f"{question.quantity} * {base_value(question.source)} / {base_value(question.target)}"


def answer_completion(question: Question) -> str:
    """The supervised completion: a space, then the expression inside answer tags."""
    return f" <answer>{answer_expression(question)}</answer>"
