"""The question generator: course conventions, phrasings, reproducibility and stored splits."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from unitconv.questions import PHRASINGS, make_question, make_questions
from unitconv.units import FAMILIES, UNITS, convert, lookup, units_of

DATA = Path(__file__).resolve().parents[2] / "data"

# Independent of pint: each unit's size in SI base units, written out from the course facts.
YEAR_S = 365.24219878125 * 86400
INDEPENDENT_SI = {
    "meter": 1, "kilometer": 1e3, "centimeter": 1e-2, "millimeter": 1e-3, "mile": 1609.344,
    "yard": 0.9144, "foot": 0.3048, "inch": 0.0254,
    "gram": 1e-3, "kilogram": 1, "milligram": 1e-6, "pound": 0.45359237, "ounce": 0.45359237 / 16,
    "course_ton": 1000,
    "liter": 1e-3, "milliliter": 1e-6, "gallon": 3.785411784e-3, "quart": 3.785411784e-3 / 4,
    "pint": 3.785411784e-3 / 8, "fluid_ounce": 3.785411784e-3 / 128, "centimeter**3": 1e-6,
    "millimeter**3": 1e-9, "meter**3": 1,
    "second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400,
    "course_month": YEAR_S / 12, "course_year": YEAR_S, "course_decade": 10 * YEAR_S,
    "course_century": 100 * YEAR_S,
    "meter/second": 1, "course_kmh": 1000 / 3600, "course_mph": 1609.344 / 3600, "foot/second": 0.3048,
    "inch/second": 0.0254,
    "bit": 1, "byte": 8, "kilobyte": 8e3, "megabyte": 8e6, "gigabyte": 8e9,
}


def test_every_unit_has_an_independent_reference_value():
    assert {u.pint_expr for u in UNITS} == set(INDEPENDENT_SI)


def test_there_are_at_least_thirty_phrasings_and_all_six_families():
    assert len(set(PHRASINGS)) >= 30
    assert set(FAMILIES) == {"length", "mass", "volume", "time", "speed", "data"}
    assert all(len(units_of(f)) >= 4 for f in FAMILIES)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_answer_agrees_with_an_independent_conversion(seed):
    q = make_question(random.Random(seed))
    expected = q.quantity * INDEPENDENT_SI[q.source.pint_expr] / INDEPENDENT_SI[q.target.pint_expr]
    assert math.isclose(q.answer, expected, rel_tol=1e-9)
    assert 1 <= q.quantity <= 10 and str(q.quantity) in q.text


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), value=st.floats(0.001, 1e6))
def test_converting_there_and_back_gives_the_quantity(seed, value):
    q = make_question(random.Random(seed))
    there = convert(value, q.source, q.target)
    assert math.isclose(convert(there, q.target, q.source), value, rel_tol=1e-9)


def test_course_conventions_hold():
    assert convert(1, lookup("kB"), lookup("B")) == 1000
    assert convert(1, lookup("G"), lookup("MB")) == 1000
    assert convert(1, lookup("byte"), lookup("bits")) == 8
    assert math.isclose(convert(1, lookup("year"), lookup("days")), 365.24219878125)
    assert math.isclose(convert(1, lookup("decade"), lookup("years")), 10)
    assert math.isclose(convert(1, lookup("ton"), lookup("kg")), 1000)
    assert math.isclose(convert(1, lookup("gallon"), lookup("L")), 3.785411784)
    assert math.isclose(convert(1, lookup("ounce", "volume"), lookup("mL")), 29.5735295625)
    assert math.isclose(convert(1, lookup("ounce", "mass"), lookup("g")), 28.349523125)
    assert math.isclose(convert(1, lookup("kmh"), lookup("m/s")), 1 / 3.6)


def test_ounce_without_a_family_is_reported_as_ambiguous():
    try:
        lookup("ounce")
    except KeyError as error:
        assert "ambiguous" in str(error)
    else:
        raise AssertionError("lookup('ounce') should need a family")


def test_generation_is_reproducible_by_seed_and_distinct():
    first, again, other = make_questions(200, 7), make_questions(200, 7), make_questions(200, 8)
    assert [q.text for q in first] == [q.text for q in again]
    assert [q.text for q in first] != [q.text for q in other]
    assert len({q.text for q in first}) == 200


def test_fresh_sets_exclude_the_texts_asked_for():
    stored = {q.text for q in make_questions(300, 1)}
    assert not stored & {q.text for q in make_questions(300, 1, exclude=stored)}


def test_stored_splits_are_what_the_generator_makes_and_do_not_overlap():
    valid = json.loads((DATA / "valid.json").read_text())
    train = json.loads((DATA / "train.json").read_text())
    assert len(valid) == 1000 and len(train) >= 1000
    assert not {q for q, _ in valid} & {q for q, _ in train}
    regenerated = make_questions(1000, 2026)
    assert [row[0] for row in valid] == [q.text for q in regenerated]
    assert all(math.isclose(row[1], q.answer) for row, q in zip(valid, regenerated, strict=True))
