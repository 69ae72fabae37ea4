"""A few checks on the real embedded model and the committed adapters (marker ``real_model``).

They load SmolLM2-135M (converted once into the cache) and answer a handful of questions, so CI
checks that the committed adapters load and answer well; full accuracy figures come from
``benchmarks/accuracy.py`` (BENCHMARKS.md).
"""

from __future__ import annotations

import math

import pytest

from solution.data import Dataset, benchmark

pytestmark = pytest.mark.real_model
QUESTIONS = 20


@pytest.fixture(scope="module")
def valid():
    return Dataset("valid")


def test_the_embedded_model_loads_and_its_chat_template_is_applied():
    from solution.cot import load

    cot = load()
    assert cot.model.config.model_type == "llama" and cot.model.num_parameters() < 380_000_000
    prompt = cot.format_prompt("How many grams in 3 kg?")
    assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")


def test_cot_answers_most_of_a_few_questions_right(valid):
    from solution.cot import load

    result = benchmark(load(), valid, 8)
    assert result.answer_rate >= 0.75, [s.answer for s in result.samples]
    assert result.accuracy >= 0.6, [(s.question, s.answer, s.correct_answer) for s in result.samples]


@pytest.mark.parametrize("loader", ["load_sft", "load_rft"])
def test_committed_adapters_answer_most_of_a_small_sample(loader, valid):
    import solution

    model = getattr(solution, loader)()
    assert type(model.model).__name__ == "PeftModelForCausalLM"
    result = benchmark(model, valid, QUESTIONS)
    assert result.answer_rate == 1.0
    assert result.accuracy >= 0.6, [(s.question, s.answer, s.correct_answer) for s in result.samples]
    assert all(math.isfinite(s.answer) for s in result.samples)


def test_disabling_the_sft_adapter_makes_accuracy_collapse(valid):
    """The answers come from the trained weights, not from anything around them."""
    import solution

    model = solution.load_sft()
    with model.model.disable_adapter():
        assert benchmark(model, valid, QUESTIONS).accuracy <= 0.2
