"""LoRA training, label masking, adapter round trips and rejection sampling, on a tiny model."""

from __future__ import annotations

import json

import pytest
import torch

from solution import datagen
from solution.adapters import AdapterError, load_with_adapter
from solution.base_llm import BaseLLM
from solution.training import (
    IGNORE_INDEX,
    LoraTrainingConfig,
    TrainingDataError,
    tokenize_example,
    train_lora,
)

PAIRS = [("How many meters in 5 km?", " <answer>5 * 1000</answer>"),
         ("Convert 2 kg to g.", " <answer>2 * 1000</answer>"),
         ("What is 3 ft in m?", " <answer>3 * 0.3048</answer>"),
         ("7 MB to kB?", " <answer>7 * 1000</answer>")]


@pytest.fixture()
def tiny(tiny_model_dir):
    return BaseLLM(str(tiny_model_dir), device="cpu", max_new_tokens=10)


def test_labels_supervise_exactly_the_completion_and_end_token(tiny):
    tokenizer = tiny.tokenizer
    example = tokenize_example(tokenizer, "Convert 2 kg to g.", " <answer>2000</answer>", 64)
    completion = tokenizer(" <answer>2000</answer>", add_special_tokens=False)["input_ids"]
    supervised = [label for label in example["labels"] if label != IGNORE_INDEX]
    assert supervised == completion + [tokenizer.eos_token_id]
    assert example["labels"][:len(example["labels"]) - len(supervised)] == [IGNORE_INDEX] * (
        len(example["labels"]) - len(supervised))


def test_an_overlong_question_keeps_its_end_and_the_whole_completion(tiny):
    question = "Please, " * 200 + "convert 2 kg to g."
    example = tokenize_example(tiny.tokenizer, question, " <answer>2000</answer>", 48)
    assert len(example["input_ids"]) == 48
    assert tiny.tokenizer.decode(example["input_ids"]).find("to g.") > 0
    assert sum(label != IGNORE_INDEX for label in example["labels"]) > 3


def test_an_empty_answer_is_refused_before_training(tiny):
    with pytest.raises(TrainingDataError, match="supervises nothing"):
        tokenize_example(tiny.tokenizer, "Convert 2 kg to g.", "  ", 64)


def _trained(tiny_model_dir, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = BaseLLM(str(tiny_model_dir), device="cpu").tokenizer
    base_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = LoraTrainingConfig(rank=4, alpha=16, epochs=3, batch_size=2, learning_rate=1e-2, warmup_steps=0)
    adapter = train_lora(model, tokenizer, PAIRS, config, tmp_path / "run", tmp_path / "adapter")
    return model, base_before, adapter, capsys.readouterr().out


def test_training_changes_lora_weights_only_and_saves_just_the_adapter(tiny_model_dir, tmp_path, capsys):
    model, base_before, adapter, printed = _trained(tiny_model_dir, tmp_path, capsys)
    for name, parameter in model.named_parameters():
        if "lora_" not in name:
            original = name.replace("base_model.model.", "").replace(".base_layer", "")
            assert torch.equal(parameter, base_before[original]), name
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # lora_B starts at zero
    assert {p.name for p in adapter.iterdir()} == {"adapter_config.json", "adapter_model.safetensors",
                                                   "training_config.json"}
    assert "supervised label positions" in printed and "trainable parameters" in printed
    assert (tmp_path / "run" / "runs").is_dir(), "tensorboard logs belong in the run folder"


def test_a_saved_adapter_loads_back_with_identical_outputs(tiny_model_dir, tmp_path, capsys):
    model, _, adapter, _ = _trained(tiny_model_dir, tmp_path, capsys)
    tokenizer = BaseLLM(str(tiny_model_dir), device="cpu").tokenizer
    trained = BaseLLM(model=model.eval(), tokenizer=tokenizer, max_new_tokens=8)
    reloaded = load_with_adapter(adapter, BaseLLM, "train it", str(tiny_model_dir), device="cpu", max_new_tokens=8)
    prompts = [q for q, _ in PAIRS]
    assert trained.batched_generate(prompts) == reloaded.batched_generate(prompts)
    ids = tokenizer(prompts[0], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(trained.model(**ids).logits, reloaded.model(**ids).logits, atol=1e-5)


def test_a_missing_adapter_gives_a_clear_error_naming_the_folder(tiny_model_dir, tmp_path):
    with pytest.raises(AdapterError, match=str(tmp_path / "sft_model")) as error:
        load_with_adapter(tmp_path / "sft_model", BaseLLM, "python -m solution.sft train", str(tiny_model_dir))
    assert "python -m solution.sft train" in str(error.value)


def test_a_broken_adapter_gives_a_clear_error(tiny_model_dir, tmp_path):
    folder = tmp_path / "rft_model"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{not json")
    (folder / "adapter_model.safetensors").write_bytes(b"garbage")
    with pytest.raises(AdapterError, match="does not load"):
        load_with_adapter(folder, BaseLLM, "retrain", str(tiny_model_dir))


class _Interrupted(Exception):
    pass


def right_from_sample(first_right: dict[int, int], calls: list, interrupt_at: list):
    """A stub sampler: the question about N kg is answered right from its ``first_right[N]``-th sample on."""
    seen: dict[int, int] = {}

    def sampler(prompts, count, temperature):
        calls.append(len(prompts))
        if len(calls) == interrupt_at[0]:
            raise _Interrupted
        completions = []
        for prompt in prompts:
            n = int(prompt.split()[4])
            drawn = range(seen.get(n, 0) + 1, seen.get(n, 0) + count + 1)
            seen[n] = drawn[-1]
            completions.append([f"<answer>{n * (1000 if k >= first_right.get(n, 99) else 7)}</answer>" for k in drawn])
        return completions

    return sampler


def test_rejection_sampling_keeps_only_correct_rows_and_resumes(tiny, tmp_path):
    rows = [[f"How many g in {n} kg?", n * 1000.0] for n in range(1, 9)]
    first_right = {2: 3, 4: 1, 6: 2, 8: 1}  # even quantities only, some at their first sample
    calls, interrupt_at = [], [4]
    sampler = right_from_sample(first_right, calls, interrupt_at)
    output = tmp_path / "rft.json"
    with pytest.raises(_Interrupted):
        datagen.generate_dataset(output, 3, 0.7, model=tiny, sampler=sampler, questions=rows, chunk_size=2)
    partial = output.with_name("rft.json.partial.jsonl")
    assert calls == [2, 2, 2, 2], "rounds of one sample: questions 1 and 2 three times, then an interruption"
    assert len(partial.read_text().splitlines()) == 2 and not output.exists()

    calls.clear()
    interrupt_at[0] = -1
    kept = datagen.generate_dataset(output, 3, 0.7, model=tiny, sampler=sampler, questions=rows, chunk_size=2)
    # 3 and 4: 4 is kept at once, 3 alone twice more; 5 and 6: 6 in round two; 7 and 8: as 3 and 4
    assert calls == [2, 1, 1, 2, 2, 1, 2, 1, 1], "only questions not yet sampled, and not yet kept, are sampled"
    assert [row[0] for row in kept] == [f"How many g in {n} kg?" for n in (2, 4, 6, 8)]
    assert json.loads(output.read_text()) == kept
    assert all(tiny.parse_answer(row[2]) == row[1] for row in kept)
    assert not partial.exists()


def test_rejection_sampling_in_one_round_keeps_the_same_chains(tiny, tmp_path):
    rows = [[f"How many g in {n} kg?", n * 1000.0] for n in range(1, 9)]
    first_right = {2: 3, 4: 1, 6: 2, 8: 1}
    calls = []
    kept = datagen.generate_dataset(tmp_path / "rft.json", 3, 0.7, model=tiny, questions=rows, chunk_size=4,
                                    sampler=right_from_sample(first_right, calls, [-1]), per_round=3)
    assert calls == [4, 4], "all three samples of a chunk's questions in one call"
    assert [row[0] for row in kept] == [f"How many g in {n} kg?" for n in (2, 4, 6, 8)]
    with pytest.raises(ValueError, match="per_round >= 1"):
        datagen.generate_dataset(tmp_path / "x.json", 3, 0.7, model=tiny, questions=rows, per_round=0)
