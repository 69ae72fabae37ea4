"""Program-aided training targets evaluate to the right answer for every unit pair."""

from __future__ import annotations

import itertools
import math

from solution.arithmetic import compact_number, evaluate_number
from solution.data import is_answer_valid
from solution.targets import answer_completion, answer_expression
from unitconv.questions import Question
from unitconv.units import FAMILIES, convert, units_of


def test_every_unit_pair_and_quantity_gets_a_target_that_passes_the_answer_check():
    for family in FAMILIES:
        for source, target in itertools.permutations(units_of(family), 2):
            for quantity in (1, 7, 10):
                answer = convert(quantity, source, target)
                question = Question("q", answer, quantity, source, target, "")
                assert is_answer_valid(evaluate_number(answer_expression(question)), answer), (source, target)
                assert answer_completion(question).startswith(" <answer>")


def test_compact_numbers_keep_six_significant_digits_and_use_exponents_at_the_extremes():
    assert compact_number(1e9) == "1e9" and compact_number(1e-6) == "1e-6"
    assert compact_number(3155692597.0) == "3.15569e9"
    assert compact_number(0.3048) == "0.3048" and compact_number(86400) == "86400"
    for value in (1.234567e12, 9.87654321e-9, 12345.678, 0.00123456):
        assert math.isclose(float(compact_number(value)), value, rel_tol=1e-5)
