"""A second question set, worded independently of the project's generator (``unitconv/questions.py``).

The reference solution's worked examples and training data all come from the generator's 34
phrasings and its spelling table.  This set measures whether the reference also reads questions
somebody else wrote: its phrasings and unit spellings were written separately (symbols that are
English words, such as ``in`` for inch and ``t`` for tonne; informal abbreviations such as
``hrs``, ``kph`` or ``fl. oz.``; British and superscript forms; singular names after plural
quantities and the reverse; the quantity first, last, or in "for N units"), and a share of the
questions asks about quantities 1 and 10.  Expected answers come from
:func:`unitconv.units.convert` with the course's conventions (an ``ounce`` next to a volume
unit is the US fluid ounce).

It lives in ``benchmarks/`` only: the reference's data, worked examples and training never see
it.  ``python benchmarks/independent_questions.py`` prints a sample and how many questions the
reference's question reader (``solution/unit_reader.py``) misreads.
"""

from __future__ import annotations

import random

from unitconv.questions import Question
from unitconv.unit_names import FAMILIES, units_of
from unitconv.units import convert

SEED = 4242
COUNT = 400

# {n}: quantity; {src}: source as written after the quantity; {dst}: target in a plural or symbol
# form; {src_bare}, {dst_bare}: a unit named on its own (no quantity before it).
PHRASINGS: tuple[str, ...] = (
    "How do we express {n} {src} in terms of {dst}?",
    "What does {n} {src} equal in {dst} terms?",
    "I have {n} {src}. How many {dst} is that?",
    "{n} {src} = ? {dst}",
    "How many {dst} does {n} {src} come to?",
    "Please tell me what {n} {src} is in {dst}.",
    "What's {n} {src} in {dst}?",
    "In {dst}, how much is {n} {src}?",
    "How many {dst} would you get from {n} {src}?",
    "Convert {src_bare} to {dst_bare}: {n}",
    "{n} {src} in {dst}, please.",
    "{n} {src} converts to how many {dst}?",
    "Quick question: {n} {src} to {dst}?",
    "Work out {n} {src} in {dst}.",
    "Could you change {n} {src} into {dst}?",
    "What number of {dst} equals {n} {src}?",
    "Suppose something measures {n} {src}. What is that in {dst}?",
    "{n} {src} -> {dst}",
    "Translate {n} {src} into {dst}.",
    "Show {n} {src} as {dst}.",
    "If you convert {n} {src} to {dst}, what do you get?",
    "My value is {n} {src}; what is it in {dst}?",
    "Give the {dst_bare} equivalent of {n} {src}.",
    "I'd like {n} {src} converted to {dst}.",
    "For {n} units, convert {src_bare} to {dst_bare}.",
    "I need the {src_bare} to {dst_bare} conversion for {n} units.",
    "How many {dst} is {n} {src} equivalent to?",
    "{n} {src} equals what in {dst}?",
    "Please express {n} {src} in {dst}.",
    "How do I write {n} {src} in {dst}?",
    "Going from {src_bare} to {dst_bare}, what is {n} {src}?",
    "Convert this to {dst}: {n} {src}",
    "Express in {dst}: {n} {src}.",
    "How much {dst_bare} is {n} {src}?",
    "convert {n} {src} into {dst}",
    "what is {n} {src} in {dst}",
)

# How this set writes each unit, keyed by the unit's key (its pint expression): forms after a
# quantity of one, after larger quantities, and forms that stand alone (a unit named without a
# quantity).  Written for this set; many are forms the generator never writes.
SPELLINGS: dict[str, dict[str, tuple[str, ...]]] = {
    # length
    "meter": {"one": ("meter", "metre", "m", "meters"), "many": ("metres", "meters", "m", "meter"),
              "bare": ("metres", "meters", "m")},
    "kilometer": {"one": ("km", "kilometre"), "many": ("km", "kms", "kilometres", "kilometer"),
                  "bare": ("km", "kilometres")},
    "centimeter": {"one": ("cm", "centimetre"), "many": ("cm", "centimetres", "cms"),
                   "bare": ("cm", "centimetres")},
    "millimeter": {"one": ("mm", "millimetre"), "many": ("mm", "millimetres", "millimeter"),
                   "bare": ("mm", "millimetres")},
    "mile": {"one": ("mile", "mi"), "many": ("miles", "mi", "mile"), "bare": ("miles", "mi")},
    "yard": {"one": ("yard", "yd"), "many": ("yards", "yds", "yd", "yard"), "bare": ("yards", "yds")},
    "foot": {"one": ("foot", "ft", "feet"), "many": ("feet", "ft", "foot"), "bare": ("feet", "ft")},
    "inch": {"one": ("inch", "in"), "many": ("in", "inches", "inch"), "bare": ("in", "inches")},
    # mass
    "gram": {"one": ("gram", "g", "gm"), "many": ("grams", "g", "gms", "gram"), "bare": ("grams", "g")},
    "kilogram": {"one": ("kg", "kilo", "kilogram"), "many": ("kg", "kgs", "kilos", "kilogram"),
                 "bare": ("kg", "kilos", "kilograms")},
    "milligram": {"one": ("mg", "milligram"), "many": ("mg", "milligrams", "mgs"), "bare": ("mg", "milligrams")},
    "pound": {"one": ("lb", "pound"), "many": ("lbs", "lb", "pounds", "pound"), "bare": ("lbs", "pounds")},
    "ounce": {"one": ("oz", "ounce"), "many": ("oz", "ounces", "ounce"), "bare": ("oz", "ounces")},
    "course_ton": {"one": ("t", "tonne", "metric tonne"), "many": ("t", "tonnes", "metric tonnes", "tonne"),
                   "bare": ("t", "tonnes", "metric tonnes")},
    # volume
    "liter": {"one": ("litre", "L", "l"), "many": ("litres", "L", "liter", "l"), "bare": ("litres", "L")},
    "milliliter": {"one": ("ml", "millilitre"), "many": ("ml", "mls", "millilitres", "mL"),
                   "bare": ("ml", "millilitres")},
    "gallon": {"one": ("gallon", "gal"), "many": ("gal", "gals", "gallons", "gallon"), "bare": ("gallons", "gal")},
    "quart": {"one": ("quart", "qt"), "many": ("qt", "qts", "quarts", "quart"), "bare": ("quarts", "qts")},
    "pint": {"one": ("pint", "pt"), "many": ("pt", "pts", "pints", "pint"), "bare": ("pints", "pts")},
    "fluid_ounce": {"one": ("fl. oz.", "fluid ounce", "fl oz"), "many": ("fl. oz.", "fluid ounces", "fl oz",
                                                                         "ounces", "fl.oz"),
                    "bare": ("fluid ounces", "fl. oz.", "ounces")},
    "centimeter**3": {"one": ("cm³", "cubic centimetre", "cc"), "many": ("cm³", "cm3", "cubic centimetres", "cc"),
                      "bare": ("cm³", "cubic centimetres")},
    "millimeter**3": {"one": ("mm³", "cubic millimetre"), "many": ("mm³", "mm3", "cubic millimetres"),
                      "bare": ("mm³", "cubic millimetres")},
    "meter**3": {"one": ("m³", "cubic metre"), "many": ("m³", "m3", "cubic metres"), "bare": ("m³", "cubic metres")},
    # time
    "second": {"one": ("second", "sec", "s"), "many": ("secs", "s", "seconds", "second"),
               "bare": ("seconds", "secs")},
    "minute": {"one": ("minute", "min"), "many": ("mins", "min", "minutes", "minute"), "bare": ("minutes", "mins")},
    "hour": {"one": ("hour", "hr", "h"), "many": ("hrs", "h", "hours", "hour"), "bare": ("hours", "hrs")},
    "day": {"one": ("day",), "many": ("days", "day"), "bare": ("days",)},
    "week": {"one": ("week", "wk"), "many": ("weeks", "wks", "week"), "bare": ("weeks", "wks")},
    "course_month": {"one": ("month",), "many": ("months", "month"), "bare": ("months",)},
    "course_year": {"one": ("year", "yr"), "many": ("yrs", "years", "year"), "bare": ("years", "yrs")},
    "course_decade": {"one": ("decade",), "many": ("decades", "decade"), "bare": ("decades",)},
    "course_century": {"one": ("century",), "many": ("centuries", "century"), "bare": ("centuries",)},
    # speed
    "meter/second": {"one": ("metre per second", "m/sec"), "many": ("metres per second", "m/sec", "m/s"),
                     "bare": ("metres per second", "m/sec")},
    "course_kmh": {"one": ("kph", "km/hr", "km per hour"), "many": ("kph", "km/hr", "kilometres per hour",
                                                                    "km per hour"),
                   "bare": ("kph", "km/hr", "kilometres per hour")},
    "course_mph": {"one": ("mph", "MPH", "mile per hour"), "many": ("MPH", "mph", "mi/hr", "miles per hour"),
                   "bare": ("MPH", "mi/hr", "miles per hour")},
    "foot/second": {"one": ("ft/sec", "foot per second"), "many": ("ft/sec", "feet per second", "ft/s"),
                    "bare": ("ft/sec", "feet per second")},
    "inch/second": {"one": ("in/sec", "inch per second"), "many": ("in/sec", "inches per second", "in/s"),
                    "bare": ("in/sec", "inches per second")},
    # data size (decimal, as the course)
    "bit": {"one": ("bit",), "many": ("bits", "bit"), "bare": ("bits",)},
    "byte": {"one": ("byte", "B"), "many": ("bytes", "B", "byte"), "bare": ("bytes",)},
    "kilobyte": {"one": ("KB", "kilobyte"), "many": ("KB", "kB", "KBs", "kilobytes"), "bare": ("KB", "kilobytes")},
    "megabyte": {"one": ("MB", "megabyte"), "many": ("MB", "MBs", "megabytes", "megabyte"),
                 "bare": ("MB", "megabytes")},
    "gigabyte": {"one": ("GB", "gigabyte", "gig"), "many": ("GB", "GBs", "gigs", "gigabytes"),
                 "bare": ("GB", "gigabytes")},
}

# A quarter of the questions ask about 1, a sixth about 10, the rest 2 to 9.
_QUANTITIES = (1,) * 6 + (10,) * 4 + tuple(range(2, 10)) * 2


def _question(rng: random.Random) -> Question:
    family = rng.choice(FAMILIES)
    source, target = rng.sample(units_of(family), 2)
    quantity = rng.choice(_QUANTITIES)
    phrasing = rng.choice(PHRASINGS)
    source_forms, target_forms = SPELLINGS[source.key], SPELLINGS[target.key]
    text = phrasing.format(
        n=quantity,
        src=rng.choice(source_forms["one" if quantity == 1 else "many"]),
        dst=rng.choice(target_forms["bare"]),
        src_bare=rng.choice(source_forms["bare"]),
        dst_bare=rng.choice(target_forms["bare"]),
    )
    return Question(text, convert(quantity, source, target), quantity, source, target, phrasing)


def independent_questions(count: int = COUNT, seed: int = SEED) -> list[Question]:
    """``count`` distinct questions, reproducible by ``seed`` (the generator's ``Question`` record, for
    its fields only: text, answer, quantity, source and target units, phrasing)."""
    rng = random.Random(seed)
    questions: dict[str, Question] = {}
    while len(questions) < count:
        question = _question(rng)
        questions.setdefault(question.text, question)
    return list(questions.values())


def reader_check(questions: list[Question]) -> list[Question]:
    """The questions whose units or quantity the reference's question reader gets wrong (no model needed)."""
    from solution.worked_examples import quantity_of, unit_pair

    return [q for q in questions if quantity_of(q.text) != q.quantity
            or (unit_pair(q.text).source, unit_pair(q.text).target) != (q.source.key, q.target.key)]


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Print a sample of the independent set and check the reader on it")
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--sample", type=int, default=20)
    args = parser.parse_args()
    questions = independent_questions(args.count, args.seed)
    for question in questions[:args.sample]:
        print(f"{question.answer:>14.6g}  {question.text}")
    misread = reader_check(questions)
    print(f"{len(questions)} questions, {len(PHRASINGS)} phrasings; the reader misreads {len(misread)}")
    for question in misread:
        print(f"  misread: {question.text} ({question.source.key} -> {question.target.key})")


if __name__ == "__main__":
    main()
