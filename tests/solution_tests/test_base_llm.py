"""Generation mechanics on a tiny random Llama with the real tokenizer."""

from __future__ import annotations

import math

import pytest

from solution.base_llm import BaseLLM, GenerationInputError
from solution.cot import CoTModel

PROMPTS = [
    "Hi",
    "How many meters are in 5 kilometers?",
    "Convert 3 pounds to grams. " + "Please explain every step of the conversion in detail. " * 12,
    "What is 7 MB in kB?",
    "x",
]


def test_batched_greedy_output_equals_unbatched_greedy_output(tiny_llm):
    batched = tiny_llm.batched_generate(PROMPTS)
    one_by_one = [tiny_llm.generate(p) for p in PROMPTS]
    assert batched == one_by_one
    assert len(set(batched)) > 1, "the tiny model should give different outputs for different prompts"


def test_micro_batches_give_the_same_outputs_in_the_callers_order(tiny_model_dir, tiny_llm):
    small_batches = BaseLLM(str(tiny_model_dir), device="cpu", max_new_tokens=12, batch_size=2)
    assert small_batches.batched_generate(PROMPTS) == tiny_llm.batched_generate(PROMPTS)


def test_only_new_tokens_are_decoded(tiny_llm):
    for prompt, output in zip(PROMPTS, tiny_llm.batched_generate(PROMPTS), strict=True):
        assert not output.startswith(prompt)
        assert len(tiny_llm.tokenizer(output, add_special_tokens=False)["input_ids"]) <= tiny_llm.max_new_tokens + 2


def test_padding_is_on_the_left_with_an_attention_mask(tiny_llm):
    batch = tiny_llm.tokenizer(PROMPTS[:3], return_tensors="pt", padding=True, add_special_tokens=False)
    assert tiny_llm.tokenizer.padding_side == "left"
    mask = batch["attention_mask"]
    assert mask[0, 0] == 0 and mask[0, -1] == 1  # the short prompt is padded before its text


def test_several_returns_give_a_list_of_lists_and_sampling_varies(tiny_llm):
    outputs = tiny_llm.batched_generate(PROMPTS[:3], num_return_sequences=4, temperature=1.0)
    assert [len(o) for o in outputs] == [4, 4, 4]
    assert all(isinstance(text, str) for group in outputs for text in group)
    assert any(len(set(group)) > 1 for group in outputs)


def test_greedy_returns_are_identical_and_flat_without_num_return_sequences(tiny_llm):
    groups = tiny_llm.batched_generate(PROMPTS[:2], num_return_sequences=2, temperature=0)
    assert all(len(set(group)) == 1 for group in groups)
    assert isinstance(tiny_llm.batched_generate(PROMPTS[:2])[0], str)


def test_no_prompts_give_no_outputs(tiny_llm):
    assert tiny_llm.batched_generate([]) == []
    assert tiny_llm.batched_generate([], num_return_sequences=3, temperature=1.0) == []


def test_bad_arguments_get_clear_errors(tiny_llm):
    with pytest.raises(GenerationInputError, match="list of strings"):
        tiny_llm.batched_generate("one string")
    with pytest.raises(ValueError, match="num_return_sequences"):
        tiny_llm.batched_generate(["a"], num_return_sequences=0)
    with pytest.raises(ValueError, match="temperature"):
        tiny_llm.batched_generate(["a"], temperature=-1)


def test_answer_returns_one_float_per_question(tiny_llm):
    answers = tiny_llm.answer("How many meters in 5 km?", "What is 2 kg in g?")
    assert len(answers) == 2 and all(isinstance(a, float) for a in answers)
    assert all(math.isnan(a) for a in answers)  # a random model writes no answer tags


def test_cot_prompt_uses_the_chat_template_with_worked_examples(tiny_model_dir):
    cot = CoTModel(str(tiny_model_dir), device="cpu", max_new_tokens=4)
    prompt = cot.format_prompt("How many grams in 3 kg?")
    assert prompt.count("<|im_start|>user") >= 4
    assert prompt.rstrip().endswith("<|im_start|>assistant")
    assert "How many grams in 3 kg?" in prompt and "<answer>" in prompt


@pytest.mark.gpu
def test_batched_greedy_output_equals_unbatched_on_cuda(tiny_model_dir):
    import torch

    from solution import model_loader

    model = model_loader.load_model(str(tiny_model_dir), device="cuda", dtype=torch.float32)
    llm = BaseLLM(model=model, tokenizer=model_loader.load_tokenizer(str(tiny_model_dir)), max_new_tokens=12)
    assert llm.model.device.type == "cuda"
    assert llm.batched_generate(PROMPTS) == [llm.generate(p) for p in PROMPTS]
