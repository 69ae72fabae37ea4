"""Reading answers (``parse_answer``'s safe evaluator) and the course's answer check."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from solution.arithmetic import evaluate_number, parse_tagged_answer
from solution.data import BenchmarkResult, is_answer_valid

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15)


@given(finite)
def test_any_float_written_plainly_or_in_exponent_form_parses_back(value):
    for text in (repr(value), f"{value:e}", f"{value:.6f}", f"{value:,}"):
        parsed = parse_tagged_answer(f"reasoning <answer>{text}</answer> more")
        assert math.isclose(parsed, float(text.replace(",", "")), rel_tol=1e-12, abs_tol=1e-12), text


@given(st.integers(1, 10), st.floats(1e-9, 1e9), st.floats(1e-9, 1e9))
def test_program_aided_products_and_quotients_are_evaluated(n, a, b):
    assert math.isclose(evaluate_number(f"{n} * {a!r} / {b!r}"), n * a / b, rel_tol=1e-12)


@given(st.text(max_size=80))
def test_parse_answer_never_raises_on_any_text(text):
    value = parse_tagged_answer(text)
    assert isinstance(value, float)
    value = evaluate_number(text)
    assert isinstance(value, float)


def test_code_and_huge_powers_are_not_evaluated():
    for text in ('__import__("os").system("true")', "(1).__class__", "2 ** 100000", "9" * 500, "[1, 2]",
                 "lambda: 1", "1 / 0", "abs(-1)"):
        assert math.isnan(evaluate_number(text)), text


def test_units_left_inside_tags_and_missing_tags():
    assert parse_tagged_answer("<answer>5000 meters</answer>") == 5000
    assert parse_tagged_answer("<answer>3 x 4</answer>") == 12
    assert math.isnan(parse_tagged_answer("the answer is 5000"))
    assert math.isnan(parse_tagged_answer("<answer>five</answer>"))


def test_answer_check_follows_the_course_rule():
    assert is_answer_valid(104.9, 100) and not is_answer_valid(105.1, 100)
    assert is_answer_valid(0.0004, 0.0001)  # both round to 0 at 3 decimals
    assert not is_answer_valid(0.002, 0.0001)
    assert not is_answer_valid(float("nan"), 1) and not is_answer_valid(float("inf"), 1)
    assert not is_answer_valid(-100, 100)


@given(st.floats(0.01, 1e9), st.floats(-0.049, 0.049))
def test_answers_within_five_percent_are_accepted(correct, error):
    answer = correct * (1 + error)
    if abs(round(answer, 3) - round(correct, 3)) < 0.05 * abs(round(correct, 3)):
        assert is_answer_valid(answer, correct)


def test_benchmark_result_counts_accuracy_and_answer_rate():
    rows = [["q1", 10.0], ["q2", 20.0], ["q3", 30.0], ["q4", 40.0]]
    result = BenchmarkResult.from_answers([10.0, float("nan"), 31.0, 50.0], rows, 4)
    assert result.accuracy == 0.5 and result.answer_rate == 0.75
    assert [s.is_correct for s in result.samples] == [True, False, True, False]
