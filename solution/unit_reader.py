"""The question reader: which units a question converts, and its quantity, from where its words stand.

A question names two units: the one written right after its quantity (or after "from", as in
"the conversion from week to day for 5 units") is the source, the other the target.  Spellings
come from :mod:`unitconv.unit_names` (names only, no conversion factors), so "km", "kilometre"
and "kilometers" are one unit; the reader also knows spellings other authors write that the
question generator never does (``in``, ``hrs``, ``km/hr``, ``cm³``...).  Worked examples
(:mod:`.worked_examples`) and training targets (:mod:`.targets`) use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from unitconv.unit_names import UNITS, Unit

_QUANTITY = re.compile(r"(?<![\w*^.])(\d+)(?![\w*^])")
_AFTER_QUANTITY = re.compile(r"(?<![\w*^.])\d+$")
_BOUNDARY_BEFORE = r"(?<![\w/*^'’])"
_BOUNDARY_AFTER = r"(?![\w/*^³])"

# Spellings other authors write that the question generator (unitconv.unit_names) never does.
# Reader-only: the generator's table, and with it the stored data, stays as it is.  Names only,
# never a factor.  More forms are derived below: British -metre/-litre, cubic forms ("cubic cm",
# "cm3", "cm³") and speeds ("km/hr", "metres per second", "miles an hour").
_EXTRA_SPELLINGS: dict[str, tuple[str, ...]] = {
    "kilometer": ("kms", "Km", "KM"),
    "centimeter": ("cms",),
    "millimeter": ("mms",),
    "yard": ("yds",),
    "inch": ("in",),  # also the preposition: see _is_unit_word
    "gram": ("gm", "gms", "gramme", "grammes"),
    "kilogram": ("kgs", "kilo", "kilos", "Kg", "KG"),
    "milligram": ("mgs",),
    "course_ton": ("t", "metric tonne", "metric tonnes"),
    "milliliter": ("mls",),
    "gallon": ("gals",),
    "quart": ("qts",),
    "pint": ("pts",),
    "fluid_ounce": ("fl. oz", "fl.oz", "floz", "fluid oz", "fl ounce", "fl ounces"),
    "centimeter**3": ("ccs",),
    "second": ("secs",),
    "minute": ("mins",),
    "hour": ("hrs",),
    "week": ("wk", "wks"),
    "course_month": ("mo", "mth", "mths"),
    "course_year": ("yrs",),
    "course_kmh": ("kph", "KPH", "kmph"),
    "course_mph": ("MPH",),
    "foot/second": ("fps",),
    "kilobyte": ("KBs", "kBs"),
    "megabyte": ("MBs", "meg", "megs"),
    "gigabyte": ("GBs", "gig", "gigs"),
}
# Symbols that are also English words: a unit only where a unit can stand (_is_unit_word).
_WORD_SYMBOLS = frozenset({"in"})
# Words after which such a symbol names a unit ("how many in", "from in to cm", "convert in to cm").
_NOUN_PLACE = frozenset({"many", "much", "from", "to", "into", "in", "of", "as", "using", "the", "per",
                         "convert", "express", "change", "turn", "translate", "show", "give", "and", "than"})


def _british(spelling: str) -> set[str]:
    """``metre`` for ``meter`` and back (also ``litre``), inside longer names too."""
    forms = {spelling}
    for american, british in (("meter", "metre"), ("liter", "litre")):
        forms |= {form.replace(american, british) for form in forms} | {form.replace(british, american)
                                                                       for form in forms}
    return forms


def _plain_spellings(unit: Unit) -> set[str]:
    """A unit's spellings from the generator's table, the extra ones, and British and plural forms."""
    spellings = set(unit.spellings()) | set(_EXTRA_SPELLINGS.get(unit.key, ()))
    return {form for spelling in spellings for form in _british(spelling)}


def _unit_named(name: str) -> Unit:
    return next(unit for unit in UNITS if name in unit.singular)


def _compound_spellings(unit: Unit) -> set[str]:
    """Cubic forms of a cubic unit and per-forms of a speed, built from their parts' spellings."""
    if unit.pint_expr.endswith("**3"):
        length = next(u for u in UNITS if u.key == unit.pint_expr[:-3])
        names = {form for name in length.singular + length.plural for form in _british(name)}
        return ({f"cubic {name}" for name in names | set(length.symbols)}
                | {f"{prefix} {symbol}" for symbol in length.symbols for prefix in ("cu", "cu.")}
                | {f"{symbol}{power}" for symbol in length.symbols for power in ("3", "³")})
    if unit.family == "speed":
        distance, time = (_unit_named(part) for part in unit.singular[0].split(" per "))
        per = {form for name in time.singular for form in _british(name)} | set(time.symbols)
        separators = (" per ", "/", " an ") if time.key == "hour" else (" per ", "/")  # "miles an hour"
        return {f"{d}{separator}{t}" for d in _plain_spellings(distance) for t in per for separator in separators}
    return set()


def reader_spellings(unit: Unit) -> frozenset[str]:
    """Every spelling the reader knows for ``unit`` (before capitalisation), derived ones included."""
    return frozenset(_plain_spellings(unit) | _compound_spellings(unit))


def _written_forms(spelling: str) -> set[str]:
    """A spelling as questions may write it: names also capitalised, symbols (``g``, ``m``) never."""
    return {spelling, spelling[0].upper() + spelling[1:]} if len(spelling) > 2 and spelling.islower() else {spelling}


def _units_by_spelling() -> dict[str, tuple[Unit, ...]]:
    """Every written form of every spelling, with the units it can mean (``ounce``: two)."""
    table: dict[str, tuple[Unit, ...]] = {}
    for unit in UNITS:
        for form in {form for spelling in reader_spellings(unit) for form in _written_forms(spelling)}:
            if unit not in table.get(form, ()):
                table[form] = table.get(form, ()) + (unit,)
    return table


_UNITS_BY_SPELLING = _units_by_spelling()
_SPELLING = re.compile(
    _BOUNDARY_BEFORE
    + "(" + "|".join(re.escape(s) for s in sorted(_UNITS_BY_SPELLING, key=len, reverse=True)) + ")"
    + _BOUNDARY_AFTER
)


def _is_unit_word(question: str, start: int, end: int) -> bool:
    """Whether a symbol that is also a word (``in``) stands where a unit stands, not a preposition.

    A preposition: before a number ("in 5 ft").  A unit: right after a number ("3 in").  Before
    another such word, one of the two is the unit ("in in 1 cm?", "In in, ...").  A preposition:
    before a unit ("in cm") or in "in terms of".  A unit: at the end of a clause
    ("into in?"), before "to" ("from in to cm"), or after a word that asks for a noun ("how many
    in", "in in terms").  Anything else: a preposition.
    """
    before, after = question[:start].rstrip(), question[end:].lstrip()
    if after[:1].isdigit():
        return False
    if _AFTER_QUANTITY.search(before):
        return True
    following = _SPELLING.match(after)
    if following and following.group(1) in _WORD_SYMBOLS:
        at = len(question) - len(after)
        return not _is_unit_word(question, at, at + len(following.group(1)))  # "in in 1 cm": one of each
    if following or re.match(r"terms\s+of\b", after):
        return False
    if not after or after[0] in "?.!,:;=)-" or re.match(r"(to|into|equivalent|conversion)\b", after):
        return True
    previous = re.search(r"[A-Za-z]+$", before)
    return bool(previous) and previous.group(0).lower() in _NOUN_PLACE


def mentions(question: str) -> list[re.Match]:
    """Where the question names units, in order (a word such as ``in`` only where it is a unit)."""
    return [m for m in _SPELLING.finditer(question)
            if m.group(1) not in _WORD_SYMBOLS or _is_unit_word(question, m.start(), m.end())]


@dataclass(frozen=True)
class UnitPair:
    """The units a question converts, by unit key; None where the question names no such unit."""

    source: str | None
    target: str | None
    family: str | None


def quantity_of(question: str) -> int | None:
    """The question's quantity when it states exactly one whole number (exponents do not count)."""
    numbers = _QUANTITY.findall(question)
    return int(numbers[0]) if len(numbers) == 1 else None


def _pick(candidates: tuple[Unit, ...], family: str | None) -> Unit:
    """One unit for a spelling; an ambiguous one ("ounce") takes the family of the other unit."""
    return next((unit for unit in candidates if unit.family == family), candidates[0])


def unit_pair(question: str) -> UnitPair:
    """Source and target unit of a question, read from where its unit names stand."""
    found = [(m.start(), _UNITS_BY_SPELLING[m.group(1)]) for m in mentions(question)]
    if not found:
        return UnitPair(None, None, None)
    quantity = _QUANTITY.search(question)
    source_index = next((i for i, (start, _) in enumerate(found)
                         if question[:start].rstrip().lower().endswith(" from")), None)
    if source_index is None and quantity is not None:
        source_index = next((i for i, (start, _) in enumerate(found) if start >= quantity.end()), None)
    if source_index is None:
        source_index = 0
    source_candidates = found[source_index][1]
    target_candidates = next((units for i, (_, units) in enumerate(found) if i != source_index), ())
    family = next((units[0].family for units in (target_candidates, source_candidates) if len(units) == 1),
                  source_candidates[0].family)
    source = _pick(source_candidates, family)
    target = _pick(target_candidates, source.family) if target_candidates else None
    return UnitPair(source.key, target.key if target else None, source.family)
