"""Unit names: the six families, their units, and every spelling questions use for them.

Pure data with no conversion factors and no unit library, so that code answering questions
(the chain-of-thought prompt builder recognises unit names to choose worked examples) can use
it without importing pint.  :mod:`unitconv.units` adds the course's conversion registry.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("length", "mass", "volume", "time", "speed", "data")


@dataclass(frozen=True)
class Unit:
    """One unit: its pint expression, its family, and how questions may write it."""

    family: str
    pint_expr: str
    singular: tuple[str, ...]
    plural: tuple[str, ...]
    symbols: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.pint_expr

    def spellings(self) -> tuple[str, ...]:
        return self.singular + self.plural + self.symbols


def _u(family, expr, singular, plural, symbols=()):
    return Unit(family, expr, tuple(singular), tuple(plural), tuple(symbols))


UNITS: tuple[Unit, ...] = (
    # length
    _u("length", "meter", ["meter", "metre"], ["meters", "metres"], ["m"]),
    _u("length", "kilometer", ["kilometer", "kilometre"], ["kilometers", "kilometres"], ["km"]),
    _u("length", "centimeter", ["centimeter", "centimetre"], ["centimeters", "centimetres"], ["cm"]),
    _u("length", "millimeter", ["millimeter", "millimetre"], ["millimeters", "millimetres"], ["mm"]),
    _u("length", "mile", ["mile"], ["miles"], ["mi"]),
    _u("length", "yard", ["yard"], ["yards"], ["yd"]),
    _u("length", "foot", ["foot"], ["feet"], ["ft"]),
    _u("length", "inch", ["inch"], ["inches"]),
    # mass
    _u("mass", "gram", ["gram"], ["grams"], ["g"]),
    _u("mass", "kilogram", ["kilogram"], ["kilograms"], ["kg"]),
    _u("mass", "milligram", ["milligram"], ["milligrams"], ["mg"]),
    _u("mass", "pound", ["pound"], ["pounds"], ["lb", "lbs"]),
    _u("mass", "ounce", ["ounce"], ["ounces"], ["oz"]),
    _u("mass", "course_ton", ["ton", "tonne", "metric ton"], ["tons", "tonnes", "metric tons"]),
    # volume
    _u("volume", "liter", ["liter", "litre"], ["liters", "litres"], ["L", "l"]),
    _u("volume", "milliliter", ["milliliter", "millilitre"], ["milliliters", "millilitres"], ["mL", "ml"]),
    _u("volume", "gallon", ["gallon"], ["gallons"], ["gal"]),
    _u("volume", "quart", ["quart"], ["quarts"], ["qt"]),
    _u("volume", "pint", ["pint"], ["pints"], ["pt"]),
    _u("volume", "fluid_ounce", ["fluid ounce", "ounce"], ["fluid ounces", "ounces"], ["fl oz"]),
    _u("volume", "centimeter**3", ["cubic centimeter"], ["cubic centimeters"], ["cm^3", "cm**3", "cc"]),
    _u("volume", "millimeter**3", ["cubic millimeter"], ["cubic millimeters"], ["mm^3", "mm**3"]),
    _u("volume", "meter**3", ["cubic meter"], ["cubic meters"], ["m^3", "m**3"]),
    # time
    _u("time", "second", ["second"], ["seconds"], ["s", "sec"]),
    _u("time", "minute", ["minute"], ["minutes"], ["min"]),
    _u("time", "hour", ["hour"], ["hours"], ["h", "hr"]),
    _u("time", "day", ["day"], ["days"]),
    _u("time", "week", ["week"], ["weeks"]),
    _u("time", "course_month", ["month"], ["months"]),
    _u("time", "course_year", ["year"], ["years"], ["yr"]),
    _u("time", "course_decade", ["decade"], ["decades"]),
    _u("time", "course_century", ["century"], ["centuries"]),
    # speed
    _u("speed", "meter/second", ["meter per second"], ["meters per second"], ["m/s"]),
    _u("speed", "course_kmh", ["kilometer per hour"], ["kilometers per hour"], ["km/h", "kmh"]),
    _u("speed", "course_mph", ["mile per hour"], ["miles per hour"], ["mi/h", "mph"]),
    _u("speed", "foot/second", ["foot per second"], ["feet per second"], ["ft/s"]),
    _u("speed", "inch/second", ["inch per second"], ["inches per second"], ["in/s"]),
    # data size (decimal prefixes: 1 kB = 1000 B)
    _u("data", "bit", ["bit"], ["bits"]),
    _u("data", "byte", ["byte"], ["bytes"], ["B"]),
    _u("data", "kilobyte", ["kilobyte"], ["kilobytes"], ["kB", "KB"]),
    _u("data", "megabyte", ["megabyte"], ["megabytes"], ["MB", "M"]),
    _u("data", "gigabyte", ["gigabyte"], ["gigabytes"], ["GB", "G"]),
)


def units_of(family: str) -> tuple[Unit, ...]:
    """All units of one family; unknown families raise with the list of known ones."""
    if family not in FAMILIES:
        raise ValueError(f"unknown unit family {family!r}; known families: {', '.join(FAMILIES)}")
    return tuple(unit for unit in UNITS if unit.family == family)


def lookup(spelling: str, family: str | None = None) -> Unit:
    """Find the unit a spelling denotes; ``family`` resolves context-dependent ones (``ounce``)."""
    matches = [u for u in UNITS if spelling in u.spellings() and (family is None or u.family == family)]
    if not matches:
        raise KeyError(f"unknown unit spelling {spelling!r}" + (f" in family {family!r}" if family else ""))
    if len(matches) > 1:
        families = sorted({u.family for u in matches})
        raise KeyError(f"unit spelling {spelling!r} is ambiguous ({', '.join(families)}); pass family=")
    return matches[0]
