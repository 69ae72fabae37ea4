"""Worked examples for few-shot prompts, chosen from the training split by the units they convert.

The examples most similar to a question are the training rows that convert the same source into
the same target (read by :mod:`.unit_reader`), worded most alike; their stored answers, written
as ``quantity * factor``, carry the factor the model has to reuse.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from .arithmetic import compact_number
from .unit_reader import UnitPair, mentions, quantity_of, unit_pair

_WORD = re.compile(r"[a-z]+")


def _wording(question: str) -> frozenset[str]:
    """The words of a question other than unit names and numbers (its phrasing)."""
    kept, last = [], 0
    for mention in mentions(question):
        kept.append(question[last:mention.start()])
        last = mention.end()
    return frozenset(_WORD.findall(" ".join([*kept, question[last:]]).lower()))


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
    answer: float


class ExampleBank:
    """Worked examples from stored ``[question, answer]`` rows, searchable by similarity."""

    def __init__(self, rows: Iterable[tuple[str, float]]):
        self.examples = [
            WorkedExample(question, text, quantity_of(question), unit_pair(question), _wording(question), float(answer))
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
        Nor one that begins with the asked one's digits: asked about 1, a model that has written
        "1" readily goes on with the "0" of an example's "10 *" (most wrong answers on the
        independent set were so before this rule; BENCHMARKS.md, "Figures behind the reference's
        choices").
        """
        pair = unit_pair(question)
        wording = _wording(question)

        def similarity(example: WorkedExample) -> float:
            same_units = 4 * (example.pair.source == pair.source) + 4 * (example.pair.target == pair.target)
            overlap = len(wording & example.wording) / max(1, len(wording | example.wording))
            return same_units + (example.pair.family == pair.family) + overlap

        asked = quantity_of(question)

        def new_quantity(quantity: int, taken: set[int]) -> bool:
            return quantity not in taken and (asked is None or not str(quantity).startswith(str(asked)))

        def choose(candidates: list[WorkedExample]) -> list[WorkedExample]:
            chosen: list[WorkedExample] = []
            quantities: set[int] = set()
            for example in sorted(candidates, key=similarity, reverse=True):
                if new_quantity(example.quantity, quantities):
                    chosen.append(example)
                    quantities.add(example.quantity)
                    if len(chosen) == count:
                        break
            return chosen[::-1]

        # Same units outrank everything else (a score of 9 or more against 6 at most), so the
        # examples converting the same units decide unless there are too few of them.
        chosen = choose(self._by_units.get((pair.source, pair.target), []))
        return chosen if len(chosen) == count else choose(self.examples)
