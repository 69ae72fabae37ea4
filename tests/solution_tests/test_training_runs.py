"""Training runs on the tiny model (diagnostics, the loss check, the adapter's place) and RFT data
sampled from the chain-of-thought model."""

from __future__ import annotations

import json
import re

import pytest
from test_training import PAIRS

from solution import cot, datagen
from solution.__main__ import main as solution_main
from solution.rft import rft_pairs
from solution.training import (
    AdapterLocationError,
    LoraTrainingConfig,
    LossDidNotFallError,
    check_loss_fell,
    probe_loss,
    tokenize_example,
    train_lora,
)

# ---- training diagnostics -------------------------------------------------------------------

def _tiny_training(tiny_model_dir, tiny_llm, tmp_path, adapter, package=None, pairs=PAIRS, **config):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    options = {"rank": 4, "alpha": 16, "epochs": 2, "batch_size": 2, "learning_rate": 1e-2, "warmup_steps": 0}
    return train_lora(model, tiny_llm.tokenizer, pairs, LoraTrainingConfig(**{**options, **config}),
                      tmp_path / "run", adapter, package_dir=package)


def test_training_reports_its_diagnostics_and_saves_the_losses(tiny_model_dir, tiny_llm, tmp_path, capsys):
    adapter = _tiny_training(tiny_model_dir, tiny_llm, tmp_path, tmp_path / "pkg" / "sft_model", tmp_path / "pkg")
    printed = capsys.readouterr().out
    for expected in ("trainable parameters", "supervised label positions", "loss: start", "adapter saved to",
                     str(adapter.resolve()), " MB)"):
        assert expected in printed
    saved = json.loads((adapter / "training_config.json").read_text())
    assert saved["end_loss"] < saved["start_loss"]
    assert f"loss: start {saved['start_loss']:.4f}, end {saved['end_loss']:.4f} (on" in printed


def test_a_loss_that_does_not_fall_is_an_error_and_keeps_the_old_adapter(tiny_model_dir, tiny_llm, tmp_path):
    adapter = tmp_path / "pkg" / "sft_model"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_text("the previous adapter")
    with pytest.raises(LossDidNotFallError, match="did not fall") as error:  # the same batch, barely a step
        _tiny_training(tiny_model_dir, tiny_llm, tmp_path, adapter, tmp_path / "pkg", pairs=PAIRS[:1] * 4,
                       epochs=2, learning_rate=1e-9)
    assert "\n" not in str(error.value) and "not saved into the package" in str(error.value)
    assert (adapter / "adapter_model.safetensors").read_text() == "the previous adapter"
    kept = tmp_path / "run" / "adapter-loss-did-not-fall"
    assert str(kept) in str(error.value) and (kept / "adapter_config.json").is_file(), "the run's work is kept"


def test_the_start_and_end_loss_are_the_mean_over_every_supervised_token(tiny_model_dir, tiny_llm):
    import torch
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = tiny_llm.tokenizer
    examples = [tokenize_example(tokenizer, q, c, 64) for q, c in PAIRS]
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, padding=True)
    total = tokens = 0.0
    with torch.no_grad():
        for example in examples:  # one at a time: the model's own mean loss, weighted by supervised tokens
            batch = collator([example])
            supervised = int((batch["labels"][:, 1:] != -100).sum())
            total += float(model(**batch).loss) * supervised
            tokens += supervised
    assert probe_loss(model, examples, collator, batch_size=3) == pytest.approx(total / tokens, rel=1e-4)
    assert probe_loss(model, examples[:1], collator) != pytest.approx(probe_loss(model, examples[1:], collator))


def test_the_loss_check_needs_the_end_below_the_start():
    assert check_loss_fell([2.0, 1.5, 0.9]) == (2.0, 0.9)
    for losses in ([1.0, 1.0], [1.0, 0.99999], [1.0, 1.2], [1.0, float("nan")], [1.0]):
        with pytest.raises(LossDidNotFallError):
            check_loss_fell(losses)


def test_an_adapter_outside_its_package_is_refused_before_training(tiny_model_dir, tiny_llm, tmp_path):
    with pytest.raises(AdapterLocationError, match="outside the package") as error:
        _tiny_training(tiny_model_dir, tiny_llm, tmp_path, tmp_path / "elsewhere" / "sft_model", tmp_path / "pkg")
    assert "\n" not in str(error.value) and "--output-dir" in str(error.value)
    assert not (tmp_path / "run").exists(), "nothing was trained"


def test_the_command_lines_print_such_errors_in_one_line_without_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        solution_main(["sft", "train", "--output-dir", str(tmp_path / "sft_model")])
    assert str(exit_.value.code).startswith("error: adapter folder") and "\n" not in str(exit_.value.code)
    assert solution_main(["pipeline"]) == 2, "the pipeline is tooling beside the package: python -m tools.pipeline"
    assert "pipeline" not in capsys.readouterr().err.split("commands:")[1]


# ---- RFT data sampled from the chain-of-thought model -----------------------------------------

def test_cot_samples_are_kept_only_when_exact_and_in_the_rft_format_with_their_source(tiny_llm, tmp_path):
    rows = [["How many g in 5 kg?", 5000.0], ["How many g in 6 kg?", 6000.0], ["How many g in 7 kg?", 7000.0],
            ["How many g in 8 kg?", 8000.0]]
    samples = {
        "5": ["<answer>5 * 1010</answer>", "So:\n<answer> 5 *  1000 </answer><|im_end|> more"],  # 1% off, then exact
        "6": ["<answer>6 * 1010</answer>"],  # right by the course's 5%, not within 0.1%: dropped
        "7": ["<answer>7 kg</answer>", "7 * 1000"],  # wrong; no tags
        "8": ["<answer>" + "1 * " * 30 + "8000</answer>"],  # exact, but longer than the RFT model writes
    }

    def sampler(prompts, count, temperature):
        return [samples[prompt.split()[4]] for prompt in prompts]

    kept = datagen.generate_dataset(tmp_path / "rft.json", 2, 0.7, model=tiny_llm, sampler=sampler, questions=rows)
    assert kept == [["How many g in 5 kg?", 5000.0, " So: <answer>5 * 1000</answer>", "cot-units-sample"]]
    assert json.loads((tmp_path / "rft.json").read_text()) == kept
    from solution.rft import RFTModel

    assert RFTModel.parse_answer(None, kept[0][2]) == 5000.0


def test_rft_training_pairs_are_the_bare_question_and_read_rows_with_or_without_a_source(tmp_path):
    data = tmp_path / "rft.json"
    # rows with and without a source; the last is 0.2% off: dropped
    data.write_text(json.dumps([["How many g in 5 kg?", 5000.0, "<answer>5 * 1000</answer>"],
                                ["How many g in 6 kg?", 6000.0, " <answer>6 * 1000</answer>", "cot-sample"],
                                ["How many g in 7 kg?", 7000.0, " <answer>7 * 1002</answer>", "cot-sample"]]))
    assert rft_pairs(data, with_source=True) == [
        ("How many g in 5 kg?", " <answer>5 * 1000</answer>", "unknown"),
        ("How many g in 6 kg?", " <answer>6 * 1000</answer>", "cot-sample")]


def test_the_default_sampler_is_the_cot_prompt_with_worked_examples_written_per_unit(tiny_model_dir, tmp_path):
    prompts = {}

    def recorder(name):
        def sampler(batch, count, temperature):
            prompts[name] = batch[0]
            return [["<answer>2 * 1000 / 1</answer>"] * count for _ in batch]
        return sampler

    question = [["How many grams are in 2 kilograms?", 2000.0]]
    kept = datagen.generate_dataset(tmp_path / "rft.json", 2, 0.7, sampler=recorder("default"),
                                    checkpoint=str(tiny_model_dir), questions=question)
    datagen.generate_dataset(tmp_path / "graded.json", 2, 0.7, sampler=recorder("cot"), sampler_model="cot",
                             checkpoint=str(tiny_model_dir), questions=question)
    per_unit = re.findall(r"<answer>(\d+) \* 1000 / 1</answer>", prompts["default"])
    assert "You convert units" in prompts["default"] and len(per_unit) == cot.EXAMPLE_COUNT, prompts["default"]
    assert "2" not in per_unit, "never the asked quantity"
    # the graded prompt's examples, the same questions, each with its one factor
    assert re.findall(r"<answer>(\d+) \* 1000</answer>", prompts["cot"]) == per_unit
    assert kept[0][3] == "cot-units-sample"
    with pytest.raises(ValueError, match="unknown sampler"):
        datagen.generate_dataset(tmp_path / "x.json", sampler_model="gpt", questions=[])
