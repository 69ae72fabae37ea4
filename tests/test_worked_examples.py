"""Choosing worked examples for the chain-of-thought prompt (no model needed)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solution.arithmetic import parse_tagged_answer
from solution.worked_examples import ExampleBank, quantity_of, unit_pair, worked_answer
from unitconv.questions import make_questions


@given(seed=st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_unit_pair_reads_source_and_target_of_every_generated_phrasing(seed):
    for question in make_questions(50, seed):
        pair = unit_pair(question.text)
        assert (pair.source, pair.target) == (question.source.key, question.target.key), question.text
        assert pair.family == question.source.family


@pytest.mark.parametrize(("text", "source", "target"), [
    ("Could you give the conversion from week to century for 6 units?", "week", "course_century"),
    ("How many ounces are in 5 mm**3?", "millimeter**3", "fluid_ounce"),
    ("Convert 7 ounces to kg.", "ounce", "kilogram"),
    ("How many mi are there per 9 yards?", "yard", "mile"),
    ("Measure 9 M in B units.", "megabyte", "byte"),
])
def test_unit_pair_of_hand_written_questions(text, source, target):
    pair = unit_pair(text)
    assert (pair.source, pair.target) == (source, target)


def test_unit_pair_of_a_question_without_units_is_empty():
    assert unit_pair("What is the meaning of 42?").source is None


@pytest.mark.parametrize(("text", "quantity"), [
    ("How many mL are there in 6 cm**3?", 6),
    ("What is 2 m^3 in L?", 2),
    ("Convert 10 inches to feet.", 10),
    ("Convert 10 or 12 inches to feet.", None),
    ("Convert some inches to feet.", None),
])
def test_quantity_ignores_exponents_and_needs_exactly_one_number(text, quantity):
    assert quantity_of(text) == quantity


@given(seed=st.integers(0, 10_000))
@settings(max_examples=30, deadline=None)
def test_worked_answer_evaluates_back_to_the_stored_answer(seed):
    for question in make_questions(20, seed):
        text = worked_answer(question.text, question.answer)
        assert text.startswith(f"<answer>{question.quantity} * ")
        assert math.isclose(parse_tagged_answer(text), question.answer, rel_tol=1e-5)


@pytest.fixture(scope="module")
def bank():
    return ExampleBank(q.as_row() for q in make_questions(3000, 5))


def test_nearest_examples_convert_the_same_units_with_other_quantities(bank):
    for question in make_questions(200, 6):
        examples = bank.nearest(question.text, 4)
        assert len(examples) == 4
        assert (examples[-1].pair.source, examples[-1].pair.target) == (question.source.key, question.target.key)
        quantities = [e.quantity for e in examples]
        assert len(set(quantities)) == 4 and question.quantity not in quantities


def test_rows_without_a_single_quantity_are_not_examples():
    bank = ExampleBank([("Convert 3 kg to g.", 3000.0), ("Convert kg to g.", 1000.0), ("Add 2 and 3 kg", 5.0)])
    assert [e.question for e in bank.examples] == ["Convert 3 kg to g."]


def test_choosing_examples_does_not_import_a_unit_library():
    code = ("import sys, solution.cot, solution.worked_examples as w; "
            "w.unit_pair('Convert 3 kg to g.'); print('pint' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
