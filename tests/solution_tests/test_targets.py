"""Program-aided training targets evaluate to the right answer for every unit pair."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections import Counter

from solution.arithmetic import compact_number, evaluate_number
from solution.data import is_answer_valid
from solution.targets import (
    answer_completion,
    answer_expression,
    per_unit_answer,
    shared_spelling_questions,
    shared_spellings,
)
from unitconv.paths import data_dir
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


def test_a_stored_row_is_written_per_unit_only_when_the_units_read_give_its_answer():
    rows = json.loads((data_dir() / "train.json").read_text())
    for question, answer in rows[:300]:
        written = per_unit_answer(question, answer)
        assert written is not None, question
        assert math.isclose(evaluate_number(written[len("<answer>"):-len("</answer>")]), answer, rel_tol=1e-4)
    assert per_unit_answer("How many ounces in 2 pounds?", 32.0) == "<answer>2 * 453.592 / 28.3495</answer>"
    # the same words with a fluid-ounce answer (4% off): a misread unit is never shown as an example
    assert per_unit_answer("How many ounces in 2 pounds?", 32.0 * 28.3495 / 29.5735) is None
    assert per_unit_answer("How many in 5?", 5.0) is None, "no units read"


def test_sft_and_rft_train_on_the_prompts_they_answer():
    """Both adapters see ``sft_prompt(question)`` in training, the prompt ``format_prompt`` gives."""
    from solution import rft, sft

    pairs = sft.training_data(sft.SFTConfig(questions=6, shared_spelling_questions=2))
    rft_pairs, sources = rft.training_data(rft.RFTConfig(direct_questions=3), 1234, data_dir() / "rft.json")
    assert sources["direct"] == 3 and sum(sources.values()) == len(rft_pairs)
    prompts = [prompt for prompt, _ in pairs + rft_pairs]
    assert len(prompts) > 9 and all(prompt.startswith(sft.PROMPT_PREFIX) for prompt in prompts)
    question = prompts[0][len(sft.PROMPT_PREFIX):]
    assert sft.SFTModel.format_prompt(None, question) == prompts[0] == sft.sft_prompt(question)
    assert not question.startswith(sft.PROMPT_PREFIX) and question[0].isalnum()


def test_ounces_is_the_spelling_two_families_share_and_its_rows_give_each_reading_equally():
    shared = shared_spellings()
    assert {"ounce", "ounces"} <= set(shared) and "oz" not in shared and "fl oz" not in shared
    assert {unit.family for unit in shared["ounces"]} == {"mass", "volume"}
    questions = shared_spelling_questions(200, random.Random(3))
    readings = Counter(q.source if q.source in shared["ounces"] else q.target for q in questions)
    assert sorted(readings.values()) == [100, 100]
    for question in questions:
        assert re.search(r"\bounces?\b", question.text) and "fl" not in question.text.split()
        assert "fluid" not in question.text
        written = answer_expression(question)
        assert math.isclose(evaluate_number(written), question.answer, rel_tol=1e-4), question.text
        assert math.isclose(question.answer, convert(question.quantity, question.source, question.target))
