"""Program-aided answer targets used to build training data (never used to answer).

Each unit has a value in its family's base unit (meter, gram, liter, second, meter per second,
byte).  A question converting N units of A into B is answered ``N * value(A) / value(B)``.
"""

from __future__ import annotations

import math
import random

from unitconv.questions import PHRASINGS, Question
from unitconv.units import UNITS, Unit, convert, units_of

from .arithmetic import compact_number, evaluate_number

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


def per_unit_answer(question: str, answer: float) -> str | None:
    """``<answer>N * value(A) / value(B)</answer>`` for a stored row: the SFT targets' form.

    The two values are each unit's size in its family's base unit (:func:`base_value`, six
    significant digits), for the units the reader finds in the question; None when it finds no
    pair, or when the expression is off the stored answer by more than 1e-4 (more than the values'
    rounding: a misread unit, such as a mass ounce for a fluid one, is off by 4% or more).
    """
    from .unit_reader import quantity_of, unit_pair

    quantity, pair = quantity_of(question), unit_pair(question)
    if not quantity or pair.source is None or pair.target is None:
        return None
    source, target = (next(u for u in UNITS if u.key == key) for key in (pair.source, pair.target))
    expression = f"{quantity} * {base_value(source)} / {base_value(target)}"
    if not math.isclose(evaluate_number(expression), answer, rel_tol=1e-4):
        return None
    return f"<answer>{expression}</answer>"


def answer_completion(question: Question) -> str:
    """The supervised completion: a space, then the expression inside answer tags."""
    return f" <answer>{answer_expression(question)}</answer>"


# Wordings of the reference's own for training questions, beside the generator's 34: the
# quantity first, last or in "for N units", the target named first, bare symbols, "=" and "->".
# Training only (SFT's questions and RFT's direct rows); the benchmarks' independent set is
# worded separately and a test checks that no phrasing is shared.
TRAINING_PHRASINGS: tuple[str, ...] = (
    "{n} {src} in {dst}?",
    "{n} {src} = how many {dst}?",
    "{n} {src} to {dst}",
    "{n} {src} is equal to how many {dst}?",
    "{n} {src} makes how many {dst}?",
    "How many {dst} equal {n} {src}?",
    "In {dst}: {n} {src}",
    "{dst_bare} in {n} {src}?",
    "Convert {src_bare} into {dst_bare}. Value: {n}",
    "From {src_bare} to {dst_bare}, {n} units.",
    "{src_bare} to {dst_bare}: {n}",
    "Change {src_bare} to {dst_bare} for {n} units.",
    "Convert {n} {src} into {dst}, please.",
    "How many {dst} do {n} {src} make?",
    "What do {n} {src} come to in {dst}?",
    "Find {n} {src} in {dst}.",
    "Express {n} {src} in {dst} units.",
    "Write {n} {src} as {dst}.",
    "What is the {dst_bare} value of {n} {src}?",
    "Value in {dst}? {n} {src}",
    "How big is {n} {src} in {dst}?",
    "Compute {n} {src} in {dst}.",
    "Need {n} {src} as {dst}.",
    "what's {n} {src} in {dst}",
    "Can you tell me how many {dst} are in {n} {src}?",
    "{n} {src}: how many {dst} is it?",
    "Say {n} {src} in {dst}.",
    "What's the value of {n} {src} measured in {dst}?",
)


def reworded(question: Question, rng: random.Random, quantity: int | None = None) -> Question:
    """``question``'s units (and ``quantity`` when given) in one of :data:`TRAINING_PHRASINGS`.

    Units are written in any form the question reader knows for them (the generator's own and
    the reader's: ``in``, ``hrs``, ``km/hr``, ``cm³``...), half the time one the generator never
    writes, with no agreement of number ("1 inches", "5 foot").
    """
    from .unit_reader import reader_spellings

    def spelled(unit: Unit) -> str:
        usual = sorted(unit.spellings())
        other = sorted(set(reader_spellings(unit)) - set(usual)) or usual
        return rng.choice(usual if rng.random() < 0.5 else other)

    quantity = question.quantity if quantity is None else quantity
    phrasing = rng.choice(TRAINING_PHRASINGS)
    text = phrasing.format(n=quantity, src=spelled(question.source), dst=spelled(question.target),
                           src_bare=spelled(question.source), dst_bare=spelled(question.target))
    answer = convert(quantity, question.source, question.target)
    return Question(text, answer, quantity, question.source, question.target, phrasing)


def shared_spellings() -> dict[str, tuple[Unit, ...]]:
    """Spellings that name units of more than one family, with those units.

    "ounce" and "ounces" today: the mass ounce, and the fluid ounce next to a volume unit (the
    course's convention).  Which one a question means shows only in its other unit.
    """
    owners: dict[str, list[Unit]] = {}
    for unit in UNITS:
        for spelling in unit.spellings():
            owners.setdefault(spelling, []).append(unit)
    return {spelling: tuple(units) for spelling, units in owners.items() if len({u.family for u in units}) > 1}


def shared_spelling_questions(count: int, rng: random.Random) -> list[Question]:
    """``count`` questions that write one unit by a spelling shared with another family's unit.

    Each reading gets the same number of questions (the fluid ounce written "ounces" as often as
    the mass ounce), in the generator's and the training phrasings, the unit on either side.
    Generated questions write "ounces" for the fluid ounce about one time in five they write it
    for the mass ounce, and a model trained on them reads a bare "ounces" as mass next to litres
    too (most of RFT's wrong answers on fresh questions once; BENCHMARKS.md, "Figures behind the
    reference's choices").
    """
    shared = shared_spellings()
    readings = sorted({unit for units in shared.values() for unit in units}, key=lambda u: (u.family, u.pint_expr))
    spellings_of = {unit: sorted(s for s, units in shared.items() if unit in units) for unit in readings}
    questions = []
    for index in range(count if readings else 0):
        unit = readings[index % len(readings)]
        spelling = rng.choice(spellings_of[unit])
        other = rng.choice([u for u in units_of(unit.family) if u != unit])
        source, target = (unit, other) if rng.random() < 0.5 else (other, unit)
        quantity = rng.randint(1, 10)
        phrasing = rng.choice(PHRASINGS + TRAINING_PHRASINGS)
        src = spelling if source == unit else rng.choice(sorted(source.spellings()))
        dst = spelling if target == unit else rng.choice(sorted(target.spellings()))
        text = phrasing.format(n=quantity, src=src, dst=dst, src_name=src, dst_name=dst, src_bare=src, dst_bare=dst)
        questions.append(Question(text, convert(quantity, source, target), quantity, source, target, phrasing))
    return questions
