"""Program-aided answer targets used to build training data (never used to answer).

Each unit has a value in its family's base unit (meter, gram, liter, second, meter per second,
byte).  A question converting N units of A into B is answered ``N * value(A) / value(B)``.
"""

from __future__ import annotations

from solution.arithmetic import compact_number
from solution.questions import Question
from solution.units import UNITS, Unit, convert

BASE_UNITS = {"length": "meter", "mass": "gram", "volume": "liter", "time": "second",
              "speed": "meter/second", "data": "byte"}


def base_value(unit: Unit) -> str:
    """The value of one ``unit`` in its family's base unit, written compactly."""
    base = next(u for u in UNITS if u.pint_expr == BASE_UNITS[unit.family])
    return compact_number(convert(1, unit, base))


def answer_expression(question: Question) -> str:
    """``N * value(source) / value(target)``, dropping a ``/ 1`` factor."""
    expression = f"{question.quantity} * {base_value(question.source)}"
    target = base_value(question.target)
    return expression if target == "1" else f"{expression} / {target}"


def answer_completion(question: Question) -> str:
    """The supervised completion: a space, then the expression inside answer tags."""
    return f" <answer>{answer_expression(question)}</answer>"
