"""Program-aided answer targets used to build training data (never used to answer).

Each unit has a value in its family's base unit (meter, gram, liter, second, meter per second,
byte).  A question converting N units of A into B is answered ``N * value(A) / value(B)``.
"""

from __future__ import annotations

from solution.questions import Question
from solution.units import UNITS, Unit, convert

BASE_UNITS = {"length": "meter", "mass": "gram", "volume": "liter", "time": "second",
              "speed": "meter/second", "data": "byte"}


def base_value(unit: Unit) -> str:
    """The value of one ``unit`` in its family's base unit, written compactly."""
    base = next(u for u in UNITS if u.pint_expr == BASE_UNITS[unit.family])
    return compact_number(convert(1, unit, base))


def compact_number(value: float) -> str:
    """Six significant digits; very large or small values in exponent form (``1e9``, ``3.15569e9``).

    Digits are one token each, and a small model miscounts long runs of zeros (1000000 against
    1000000000); an exponent says the same in three tokens.
    """
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.6g}"
    mantissa, exponent = f"{value:.5e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"
