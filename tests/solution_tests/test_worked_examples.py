"""Choosing worked examples for the chain-of-thought prompt (no model needed)."""

from __future__ import annotations

import functools
import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solution.arithmetic import parse_tagged_answer
from solution.unit_reader import _UNITS_BY_SPELLING, quantity_of, unit_pair
from solution.worked_examples import ExampleBank, worked_answer
from unitconv.questions import PHRASINGS, make_questions
from unitconv.unit_names import UNITS


def _load_independent_questions():
    """``benchmarks/independent_questions.py``: a question set the reference never trains or draws examples on."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "independent_questions.py"
    spec = importlib.util.spec_from_file_location("independent_questions", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("independent_questions", module)
    spec.loader.exec_module(module)
    return module


independent = _load_independent_questions()


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
    # spellings and wordings the generator never writes; "in" both as inch and as a preposition
    ("convert 3 meter into in", "meter", "inch"),
    ("How many in are in 5 ft?", "foot", "inch"),
    ("How many ft in 5 in?", "inch", "foot"),
    ("What is 5 in in cm?", "inch", "centimeter"),
    ("How do we express 7 mm in terms of in?", "millimeter", "inch"),
    ("What does 6 mm equal in in terms?", "millimeter", "inch"),
    ("In in, how much is 10 m?", "meter", "inch"),
    ("in in 1 centimetres?", "centimeter", "inch"),
    ("How many in in 2 ft?", "foot", "inch"),
    ("Convert in to cm: 5", "inch", "centimeter"),
    ("I need the in to yd conversion for 1 units.", "inch", "yard"),
    ("what is 7 mm3 in ounces", "millimeter**3", "fluid_ounce"),
    ("Convert 4 hrs to mins.", "hour", "minute"),
    ("6 t = ? kgs", "course_ton", "kilogram"),
    ("1 fl. oz. = ? litres", "fluid_ounce", "liter"),
    ("Express in ft/sec: 4 kph.", "course_kmh", "foot/second"),
    ("3 metres per second -> miles an hour", "meter/second", "course_mph"),
    ("Turn 2 cubic metres into cu cm.", "meter**3", "centimeter**3"),
    ("How many wks would you get from 10 days?", "day", "week"),
    ("I'd like 9 kilos converted to lbs.", "kilogram", "pound"),
])
def test_unit_pair_of_hand_written_questions(text, source, target):
    pair = unit_pair(text)
    assert (pair.source, pair.target) == (source, target)


@given(seed=st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_unit_pair_and_quantity_of_independently_worded_questions(seed):
    for question in independent.independent_questions(30, seed):
        pair = unit_pair(question.text)
        assert (pair.source, pair.target) == (question.source.key, question.target.key), question.text
        assert quantity_of(question.text) == question.quantity, question.text


def test_the_independent_set_is_worded_unlike_the_generator():
    """What it measures: phrasings and spellings the generator never writes, quantities 1 and 10 often."""
    questions = independent.independent_questions()
    assert len(questions) >= 300 and len({q.text for q in questions}) == len(questions)
    assert len(independent.PHRASINGS) >= 25 and not set(independent.PHRASINGS) & set(PHRASINGS)
    generator_spellings = {spelling for unit in UNITS for spelling in unit.spellings()}
    used = {form for forms in independent.SPELLINGS.values() for group in forms.values() for form in group}
    assert {"in", "t", "hrs", "kph", "fl. oz.", "cm³", "metres per second"} <= used - generator_spellings
    assert sum(q.quantity == 1 for q in questions) >= 60 and sum(q.quantity == 10 for q in questions) >= 40
    assert independent.independent_questions() == questions  # fixed seed


_READER_SPELLINGS = sorted((form, units[0].key) for form, units in _UNITS_BY_SPELLING.items() if len(units) == 1)


@given(source=st.sampled_from(_READER_SPELLINGS), target=st.sampled_from(_READER_SPELLINGS),
       quantity=st.integers(1, 10), template=st.sampled_from([
           "Convert {n} {src} to {dst}.", "How many {dst} in {n} {src}?", "{n} {src} = ? {dst}",
           "What is {n} {src} in {dst}?", "Going from {src} to {dst}: {n}"]))
@settings(max_examples=300, deadline=None)
def test_every_spelling_the_reader_knows_reads_back_in_either_place(source, target, quantity, template):
    """Each written form of the table (the generator's, the reader-only ones, derived ones) is read as its unit."""
    (src, src_key), (dst, dst_key) = source, target
    text = template.format(n=quantity, src=src, dst=dst)
    pair = unit_pair(text)
    assert (pair.source, pair.target) == (src_key, dst_key), text
    assert quantity_of(text) == quantity


@pytest.mark.parametrize("text", ["Is 5 in 10?", "How many cm in 5 mm?", "Convert 3 kg in terms of g."])
def test_in_as_a_preposition_is_not_a_unit(text):
    assert unit_pair(text).target != "inch" and unit_pair(text).source != "inch"


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


@functools.cache
def _bank() -> ExampleBank:
    return ExampleBank(q.as_row() for q in make_questions(3000, 5))


@pytest.fixture(scope="module")
def bank():
    return _bank()


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
    code = ("import sys, solution.cot, solution.unit_reader as r; "
            "r.unit_pair('Convert 3 kg to g.'); print('pint' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@given(seed=st.integers(0, 10_000), quantity=st.integers(1, 10))
@settings(max_examples=40, deadline=None)
def test_reworded_training_questions_read_back_and_keep_a_right_answer(seed, quantity):
    """SFT/RFT training questions in other words: the reader finds their units, the target stays right."""
    import random

    from solution.data import is_answer_valid
    from solution.targets import answer_expression, reworded

    rng = random.Random(seed)
    for question in make_questions(10, seed):
        new = reworded(question, rng, quantity)
        pair = unit_pair(new.text)
        assert (pair.source, pair.target) == (question.source.key, question.target.key), new.text
        assert quantity_of(new.text) == quantity and new.quantity == quantity
        assert is_answer_valid(parse_tagged_answer(f"<answer>{answer_expression(new)}</answer>"), new.answer)


def test_training_phrasings_share_none_with_the_generator_or_the_independent_set():
    from solution.targets import TRAINING_PHRASINGS

    assert len(set(TRAINING_PHRASINGS)) == len(TRAINING_PHRASINGS)
    assert not set(TRAINING_PHRASINGS) & (set(PHRASINGS) | set(independent.PHRASINGS))


def test_sft_training_pairs_mix_generator_and_reworded_questions_and_leave_out_validation():
    from solution.data import Dataset
    from solution.sft import training_pairs

    pairs = training_pairs(400)
    valid = {row[0] for row in Dataset("valid").data}
    assert len(pairs) == 400 and not {q for q, _ in pairs} & valid
    generator_worded = sum(any(_matches(phrasing, q) for phrasing in PHRASINGS) for q, _ in pairs)
    assert 120 <= generator_worded <= 280
    assert all(c.startswith(" <answer>") and c.endswith("</answer>") for _, c in pairs)


def _matches(phrasing: str, text: str) -> bool:
    import re

    pattern = re.escape(phrasing)
    for field in ("n", "src", "dst", "src_name", "dst_name"):
        pattern = pattern.replace(re.escape("{" + field + "}"), ".+?")
    return re.fullmatch(pattern, text) is not None


@given(seed=st.integers(0, 10_000))
@settings(max_examples=20, deadline=None)
def test_examples_never_state_the_asked_quantity_nor_one_that_begins_with_it(seed):
    """Asked about 1, no example says 1 or 10 (a model that wrote "1" goes on with an example's "0")."""
    bank = _bank()
    for question in independent.independent_questions(20, seed) + make_questions(20, seed):
        examples = bank.nearest(question.text, 6)
        assert len(examples) == 6 and len({e.quantity for e in examples}) == 6
        assert not any(str(e.quantity).startswith(str(question.quantity)) for e in examples), question.text
        if question.quantity == 1:
            assert {e.quantity for e in examples} <= set(range(2, 10))
