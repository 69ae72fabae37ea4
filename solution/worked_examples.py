"""Worked examples for few-shot prompts, chosen from the training split by the units they convert.

A question names two units: the one written right after its quantity (or after "from", as in
"the conversion from week to day for 5 units") is the source, the other the target.  Spellings
come from :mod:`unitconv.unit_names` (names only, no conversion factors), so "km", "kilometre"
and "kilometers" are one unit.  The examples most similar to a question are the training rows
that convert the same source into the same target, worded most alike; their stored answers,
written as ``quantity * factor``, carry the factor the model has to reuse.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from unitconv.unit_names import UNITS, Unit

from .arithmetic import compact_number

_QUANTITY = re.compile(r"(?<![\w*^.])(\d+)(?![\w*^])")
_WORD = re.compile(r"[a-z]+")
_BOUNDARY_BEFORE = r"(?<![\w/*^'])"
_BOUNDARY_AFTER = r"(?![\w/*^])"


def _written_forms(spelling: str) -> set[str]:
    """A spelling as questions may write it: names also capitalised, symbols (``g``, ``m``) never."""
    return {spelling, spelling[0].upper() + spelling[1:]} if len(spelling) > 2 and spelling.islower() else {spelling}


def _units_by_spelling() -> dict[str, tuple[Unit, ...]]:
    """Every written form of every spelling, with the units it can mean (``ounce``: two)."""
    table: dict[str, tuple[Unit, ...]] = {}
    for unit in UNITS:
        for form in {form for spelling in unit.spellings() for form in _written_forms(spelling)}:
            table[form] = table.get(form, ()) + (unit,)
    return table


_UNITS_BY_SPELLING = _units_by_spelling()
_SPELLING = re.compile(
    _BOUNDARY_BEFORE
    + "(" + "|".join(re.escape(s) for s in sorted(_UNITS_BY_SPELLING, key=len, reverse=True)) + ")"
    + _BOUNDARY_AFTER
)


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
    mentions = [(m.start(), _UNITS_BY_SPELLING[m.group(1)]) for m in _SPELLING.finditer(question)]
    if not mentions:
        return UnitPair(None, None, None)
    quantity = _QUANTITY.search(question)
    source_index = next((i for i, (start, _) in enumerate(mentions)
                         if question[:start].rstrip().lower().endswith(" from")), None)
    if source_index is None and quantity is not None:
        source_index = next((i for i, (start, _) in enumerate(mentions) if start >= quantity.end()), None)
    if source_index is None:
        source_index = 0
    source_candidates = mentions[source_index][1]
    target_candidates = next((units for i, (_, units) in enumerate(mentions) if i != source_index), ())
    family = next((units[0].family for units in (target_candidates, source_candidates) if len(units) == 1),
                  source_candidates[0].family)
    source = _pick(source_candidates, family)
    target = _pick(target_candidates, source.family) if target_candidates else None
    return UnitPair(source.key, target.key if target else None, source.family)


def _wording(question: str) -> frozenset[str]:
    """The words of a question other than unit names and numbers (its phrasing)."""
    return frozenset(_WORD.findall(_SPELLING.sub(" ", question).lower()))


def worked_answer(question: str, answer: float) -> str | None:
    """``<answer>N * factor</answer>`` for a stored row, or None when it has no single quantity."""
    quantity = quantity_of(question)
    if not quantity or not math.isfinite(answer):
        return None
    return f"<answer>{quantity} * {compact_number(answer / quantity)}</answer>"


@dataclass(frozen=True)
class WorkedExample:
    question: str
    answer_text: str
    quantity: int
    pair: UnitPair
    wording: frozenset[str]


class ExampleBank:
    """Worked examples from stored ``[question, answer]`` rows, searchable by similarity."""

    def __init__(self, rows: Iterable[tuple[str, float]]):
        self.examples = [
            WorkedExample(question, text, quantity_of(question), unit_pair(question), _wording(question))
            for question, answer in rows
            if (text := worked_answer(question, float(answer)))
        ]
        self._by_units: dict[tuple[str | None, str | None], list[WorkedExample]] = defaultdict(list)
        for example in self.examples:
            self._by_units[example.pair.source, example.pair.target].append(example)

    def nearest(self, question: str, count: int) -> list[WorkedExample]:
        """The ``count`` examples most similar to ``question``, the most similar last.

        Converting the same source unit and the same target unit matters most, the family next,
        and the wording (shared phrasing words) breaks ties.  The chosen examples state different
        quantities, none of them the asked one, so that the examples show the quantity always
        comes from the question and the model cannot score by repeating an example's answer.
        """
        pair = unit_pair(question)
        wording = _wording(question)

        def similarity(example: WorkedExample) -> float:
            same_units = 4 * (example.pair.source == pair.source) + 4 * (example.pair.target == pair.target)
            overlap = len(wording & example.wording) / max(1, len(wording | example.wording))
            return same_units + (example.pair.family == pair.family) + overlap

        def choose(candidates: list[WorkedExample]) -> list[WorkedExample]:
            chosen: list[WorkedExample] = []
            quantities = {quantity_of(question)}
            for example in sorted(candidates, key=similarity, reverse=True):
                if example.quantity not in quantities:
                    chosen.append(example)
                    quantities.add(example.quantity)
                    if len(chosen) == count:
                        break
            return chosen[::-1]

        # Same units outrank everything else (a score of 9 or more against 6 at most), so the
        # examples converting the same units decide unless there are too few of them.
        chosen = choose(self._by_units.get((pair.source, pair.target), []))
        return chosen if len(chosen) == count else choose(self.examples)
