"""The unit conversion registry that follows the course's conventions.

pint knows most units already, but a few of its definitions disagree with the course data:
pint's ``year`` is 365.25 days and its ``decade`` is logarithmic, its ``ton`` is the short
ton, and ``ounce`` must mean the fluid ounce next to a volume unit.  The registry below adds
course-specific units; the units and their spellings live in :mod:`unitconv.unit_names`.
"""

from __future__ import annotations

from functools import cache

import pint

from unitconv.unit_names import FAMILIES, UNITS, Unit, lookup, units_of

__all__ = ["FAMILIES", "UNITS", "Unit", "convert", "lookup", "registry", "units_of"]

# Definitions added to pint's defaults.  Names carry a ``course_`` prefix where pint already
# has a unit of the same name with a different value, so that nothing is silently redefined.
_COURSE_DEFINITIONS = (
    "course_year = 365.24219878125 * day",
    "course_month = course_year / 12",
    "course_decade = 10 * course_year",
    "course_century = 100 * course_year",
    "course_ton = 1000 * kilogram",
    "course_kmh = kilometer / hour",
    "course_mph = mile / hour",
)


@cache
def registry() -> pint.UnitRegistry:
    """The shared pint registry with the course's definitions added."""
    ureg = pint.UnitRegistry()
    for definition in _COURSE_DEFINITIONS:
        ureg.define(definition)
    return ureg


def convert(value: float, source: Unit, target: Unit) -> float:
    """Convert ``value`` from ``source`` to ``target`` with the course registry."""
    ureg = registry()
    return float(ureg.Quantity(value, source.pint_expr).to(target.pint_expr).magnitude)
